"""Respond: the SFT Dialogue Response tool page — write the reply as User or Bot, per class, within limits."""

import streamlit as st

from components.auth import require_role
from components.llm_draft import draft_ui
from components.response_box.panel import response_panel_ui
from components.toolpage import tool_page
from core.response import limit_problems

user = require_role()
with tool_page(kind="respond", user=user) as ctx:
    classes = [c for c in ctx.classes if c.tool == "dialog_response"]
    ctx.add_check(lambda work: limit_problems(work, classes))
    with ctx.bottom_left:
        if not classes:
            st.info("This dataset has no response classes yet. An admin adds them on the Ontology page.")
        else:
            if ctx.key and not any(c.number == (int(ctx.key) or 10) for c in classes):
                ctx.message(f"No response class has the number {ctx.key}.")
            response_panel_ui(
                item=ctx.item,
                classes=classes,
                work=ctx.work,
                editable=ctx.editable,
                key=ctx.key,
                changed=ctx.changed,
                pending_key="tool.respond.pending",  # the shell's pending Save/Submit (its docstring)
                load_key=ctx.wkey("respond"),
                user_id=ctx.user.id,
            )
            draft_ui(item=ctx.item, classes=classes, work=ctx.work, editable=ctx.editable, user=ctx.user,
                     changed=ctx.changed)  # fmt: skip
