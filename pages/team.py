"""Team page (under construction in this session)."""

import streamlit as st

from components.auth import require_role

require_role("admin")
st.title("Team")
