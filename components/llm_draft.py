"""Draft with a model (the Respond page): a button per configured model streams a reply, which then fills
the open class's reply box to edit; the model's text is kept as the reply's source, so the diff shows what
the annotator changed (as "Start from this reply" does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from components.markdown import render_markdown
from components.response_box.panel import OPEN_KEY, REV_KEY
from core.response import start_from
from store import db
from store.errors import InputError, NotFound
from store.llm.endpoints import list_models


@st.cache_data(ttl=30, show_spinner=False)
def _model_names() -> list[str]:
    with db.read_session() as session:
        return [m.name for m in list_models(session=session)]


def draft_ui(*, item: Any, classes: list[Any], work: dict[str, Any], editable: bool, user: Any,
             changed: Callable[[], None]) -> None:  # fmt: skip
    """The draft buttons under the open class's box (nothing when no class is open or no model is set)."""
    cls = next((c for c in classes if c.id == st.session_state.get(OPEN_KEY)), None)
    names = _model_names() if editable and cls is not None else []
    if not names:
        return
    role = cls.role or "bot"
    with st.container(key="respond_draft"):
        st.caption("Draft with a model (replaces the reply; the model's text is kept to show your changes)")
        cols = st.columns(min(len(names), 4))
        clicked = None
        for i, name in enumerate(names):
            if cols[i % len(cols)].button(name, key=f"respond.draft.{name}", icon=":material/auto_awesome:",
                                          use_container_width=True, help=f"Draft the reply with {name}"):  # fmt: skip
                clicked = name
        if clicked is None:
            return
        from store.llm.calls import (
            CallFailed,
        )  # the openai package loads on the first draft, not with the page
        from store.llm.draft import draft_reply

        shown = st.empty()
        text = ""
        try:
            with db.read_session() as session:
                pieces = draft_reply(session=session, user=user, item_id=item.id, model=clicked, role=role)
            for piece in pieces:
                text += piece
                # Model output goes through the same safe Markdown path as imported text.
                shown.html(f'<div class="llm-draft">{render_markdown(text)}</div>')
        except (CallFailed, InputError, NotFound) as exc:
            shown.error(f"{clicked}: {exc}")
            return
        if not text.strip():
            shown.warning(f"{clicked} answered nothing.")
            return
        start_from(work, cls.id, role, text)
        st.session_state[REV_KEY] = st.session_state.get(REV_KEY, 0) + 1  # the box takes the new text
        changed()
        st.rerun()
