"""Evaluate page (under construction in this session)."""

import streamlit as st

from components.auth import require_role

require_role()
st.title("Evaluate")
