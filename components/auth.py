"""The sign-in gate and the role checks every page makes on the server side."""

from __future__ import annotations

import streamlit as st

from store import db
from store.models import User
from store.users import get_user_by_name, verify_password

USER_KEY = "auth.user_id"


def current_user() -> User | None:
    """The signed-in user, re-read from the database so a deactivated account stops at once."""
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        return None
    with db.read_session() as session:
        user = session.get(User, user_id)
    if user is None or not user.active:
        st.session_state.pop(USER_KEY, None)
        return None
    return user


def require_role(*roles: str) -> User:
    """The signed-in user if their role is one of `roles`; otherwise stop the page with a message."""
    user = current_user()
    if user is None:
        st.error("Please sign in.")
        st.stop()
    if roles and user.role not in roles:
        st.error("Your role does not allow this page.")
        st.stop()
    return user


def sign_in_ui() -> None:
    st.title("Parley")
    with st.form("sign-in"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        with db.read_session() as session:
            user = get_user_by_name(session=session, username=username)
        if user is None or not user.active or not verify_password(user.password_hash, password):
            st.error("Wrong username or password.")
            return
        st.session_state[USER_KEY] = user.id
        st.rerun()
