"""Domain logic of Parley: no Streamlit, no database."""
