"""Parley's router: page config, sign-in gate, navigation by role."""

import streamlit as st

from components.auth import current_user, sign_in_ui
from store import db


@st.cache_resource
def _schema_ready() -> bool:
    db.upgrade()
    return True


st.set_page_config(page_title="Parley", page_icon="💬", layout="wide")
_schema_ready()
user = current_user()
if user is None:
    st.navigation([st.Page(sign_in_ui, title="Sign in")], position="hidden").run()
    st.stop()

annotate = [
    st.Page("pages/evaluate.py", title="Evaluate", icon="⚖️", url_path="evaluate"),
    st.Page("pages/respond.py", title="Respond", icon="✍️", url_path="respond"),
]
manage = []
if user.role == "admin":
    manage += [
        st.Page("pages/datasets.py", title="Datasets", icon="🗂️", url_path="datasets"),
        st.Page("pages/ontology.py", title="Ontology", icon="🏷️", url_path="ontology"),
    ]
if user.role in ("admin", "reviewer"):
    manage.append(st.Page("pages/export.py", title="Export", icon="📦", url_path="export"))
if user.role == "admin":
    manage.append(st.Page("pages/team.py", title="Team", icon="👥", url_path="team"))
st.navigation({"Annotate": annotate, "Manage": manage} if manage else annotate).run()
