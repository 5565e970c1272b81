"""A test-only Streamlit app around the tool-page shell (never routed by app.py).

Signs in the user named by PARLEY_TEST_USER (or session state "auth.user_id" under AppTest) without a
password, so shell tests do not depend on the real pages. Its page mimics a tool page: a radio "Score"
in the result panel that the digit hotkeys pick, a text area under the canvas, and a Submit check.
"""

import os

import streamlit as st

import components.dialogue
from components.toolpage import tool_page
from store import db
from store.models import User
from store.users import get_user_by_name

if os.environ.get("PARLEY_TEST_DATA_URI"):
    # This app has no /asset route (that is app.py's st.App); images go inline.
    components.dialogue.image_url = components.dialogue._data_uri


def _user() -> User:
    user_id = st.session_state.get("auth.user_id")
    with db.read_session() as session:
        if user_id is not None:
            return session.get(User, user_id)
        return get_user_by_name(session=session, username=os.environ.get("PARLEY_TEST_USER", "ann"))


def tool() -> None:
    user = _user()
    with tool_page(kind="evaluate", user=user) as ctx:
        scores = ["1", "2", "3", "4", "5"]
        values = ctx.work.setdefault("classifications", {})
        if ctx.key and ctx.key in scores:
            values["score"] = ctx.key
        with ctx.result_panel:
            pick = st.radio("Score", scores, index=scores.index(values["score"]) if values.get("score") in scores
                            else None, key=ctx.wkey(f"score.{values.get('score')}"), disabled=not ctx.editable,
                            horizontal=True)  # fmt: skip
            if ctx.editable and pick != values.get("score"):
                values["score"] = pick
            st.caption(f"selected={ctx.selected} expand={ctx.expand} editable={ctx.editable}")
        with ctx.bottom_left:
            text = st.text_area("Reply", value=values.get("reply", ""), key=ctx.wkey("reply"),
                                disabled=not ctx.editable)  # fmt: skip
            if ctx.editable and text != values.get("reply", ""):
                values["reply"] = text
        ctx.add_check(
            lambda work: [] if (work.get("classifications") or {}).get("score") else [("Pick a score", "c0")]
        )
        ctx.badges = _badges(ctx)


def _badges(ctx) -> dict:  # type: ignore[no-untyped-def]
    score = (ctx.work.get("classifications") or {}).get("score")
    return {"c0": [{"text": "Score", "detail": score, "color": "#2e7d32"}]} if score else {}


def other() -> None:
    st.title("Other page")


st.set_page_config(page_title="Parley shell test", layout="wide")
st.navigation(
    [
        st.Page(tool, title="Tool", url_path="evaluate", default=True),
        st.Page(other, title="Other", url_path="other"),
    ]
).run()
