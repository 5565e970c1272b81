"""RLHF Dialogue Evaluation: tag bubbles with classes and attributes, score, rank and compare candidates."""

from __future__ import annotations

import streamlit as st

from components import evaluate_panel as panel
from components.auth import require_role
from components.evaluate_keys import evaluate_keys
from components.toolpage import ToolContext, tool_page
from core import evaluation as ev
from store import db
from store.items import suggestions_for


def _suggestions(user, item_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """The item's suggestions, read once per item (items never change after import)."""
    cached = st.session_state.get("evaluate.suggestions")
    if cached and cached[0] == item_id:
        return cached[1]
    with db.read_session() as session:
        rows = suggestions_for(session=session, user=user, item_id=item_id)
    found = [
        {"kind": s.kind, "target": s.target, "value": s.value, "score": s.score, "agent": s.agent}
        for s in rows
    ]
    st.session_state["evaluate.suggestions"] = (item_id, found)
    return found


def _view(ctx: ToolContext) -> panel.EvalView:
    return panel.EvalView(
        item_id=ctx.item.id,
        messages=list(ctx.item.messages or []),
        candidates=list(ctx.item.candidates or []),
        # The order shown (shuffled per annotator in a blind comparison); results keep original indexes.
        order=ctx.candidate_order,
        classes=[ev.ClassDef.from_obj(c) for c in ctx.classes],
        questions=[ev.QuestionDef.from_obj(q) for q in ctx.classifications],
        work=ctx.work,
        editable=ctx.editable,
        changed=ctx.changed,
        select=ctx.select,
        selected=ctx.selected,
        suggestions=_suggestions(ctx.user, ctx.item.id),
    )


user = require_role()
panel.inherit_toggle_ui()
with tool_page(kind="evaluate", user=user) as ctx:
    view = _view(ctx)
    if view.selected not in view.refs:  # a selection left from another item
        view.selected = None
    panel.on_selection(view)
    focus = panel.get_focus(view)
    evaluate_keys(
        key="evaluate.keys",
        tab=ctx.editable and focus.class_id is not None,
        accept=ctx.editable and bool(view.suggestions),
        escape=ctx.editable and focus.class_id is not None,
        on_key=lambda k, v=view: panel.on_extra_key(v, k),
    )
    note = panel.handle_key(view, panel.fresh_key(ctx.key))
    if note:
        ctx.message(note)
    with ctx.result_panel:
        panel.class_panel_ui(view)
        panel.suggestions_ui(view)
        panel.result_panel_ui(view, expand=ctx.expand)
    ctx.badges = panel.badges(view)
    ctx.add_check(panel.check(view))
