"""Home: who is signed in, the datasets they may open, and where to start."""

import streamlit as st

from components.auth import require_role
from store import db
from store.datasets import list_datasets


def _md(text: str) -> str:
    """Text from the database shown inside Markdown as written (no links, emphasis or HTML from data)."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~$:" else ch for ch in text)


user = require_role()
st.title("Parley")
st.markdown(f"Welcome, **{_md(user.display_name or user.username)}**. You are signed in as {user.role}.")
with db.read_session() as session:
    datasets = list_datasets(session=session, user=user)
if not datasets:
    if user.role == "admin":
        st.info("No datasets yet. Create one and import dialogues on the Datasets page.")
        st.page_link("pages/datasets.py", label="Open Datasets", icon=":material/folder_open:")
    else:
        st.info("No dataset is open to you yet. Ask an admin to add you to one.")
    st.stop()
st.subheader("Datasets")
for dataset in datasets:
    with st.container(border=True):
        st.markdown(f"**{_md(dataset.name)}**")
        if dataset.description:
            st.text(dataset.description)
        left, right, _ = st.columns([1, 1, 4])
        with left:
            st.page_link(
                "pages/evaluate.py",
                label="Evaluate",
                icon=":material/balance:",
                query_params={"dataset": dataset.name},
            )
        with right:
            st.page_link(
                "pages/respond.py",
                label="Respond",
                icon=":material/edit_note:",
                query_params={"dataset": dataset.name},
            )
