"""The pilot report's statistics (issue #15): agreement between annotators and comparisons of models.

Plain Python on plain data (works as in store/annotations.py, ontology dicts): no Streamlit, no database.
"""
