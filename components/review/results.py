"""One annotator's answers to an item, read-only: validity, results, classification answers, written replies
with a word diff against the reply they started from."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.response_box.panel import diff_html
from components.review.describe import (
    ROLE_NAMES,
    Ontology,
    bubble,
    classification_text,
    html_text,
    results_sorted,
    value_text,
)
from core import evaluation as ev

DIFF_CSS = (
    "<style>.rb-diff del { background: #fdecea; color: #b71c1c; margin-right: 0.15em; }"
    ".rb-diff ins { background: #e8f5e9; color: #1b5e20; text-decoration: none; }"
    ".rb-diff { border: 1px solid rgba(49,51,63,.2); border-radius: .5rem; padding: .5rem .75rem; }</style>"
)


def last_bot_text(messages: list[dict[str, Any]]) -> str:
    return next((str(m.get("text") or "") for m in reversed(messages) if m.get("role") == "bot"), "")


def reply_base(result: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[str, str]:
    """(text the reply is compared with, what that text is): the model reply it started from, else the
    dialogue's last bot message."""
    if result.get("source_text"):
        return str(result["source_text"]), "the model's reply it started from"
    return last_bot_text(messages), "the last bot message"


def _chip(color: str) -> str:
    safe = color if color.startswith("#") and len(color) <= 9 else "#888888"
    return f"<span style='color:{html_text(safe)};font-size:1.1em'>■</span>"


def work_ui(work: dict[str, Any], *, messages: list[dict[str, Any]], onto: Ontology, title: str) -> None:
    """Draw `work` as a list a reviewer reads top to bottom."""
    st.html(DIFF_CSS)
    with st.container(border=True):
        st.markdown(f"**{html_text(title)}**", unsafe_allow_html=True)
        if work.get("validity", "valid") == "valid":
            st.caption("Validity: valid")
        else:
            st.warning(f"Marked invalid: {work.get('invalid_reason') or '(no reason given)'}")
        results = results_sorted(work)
        tagged = [r for r in results if ev.result_ref(r) is not None]
        replies = [r for r in results if ev.result_ref(r) is None]
        if not tagged and not replies:
            st.caption("No results.")
        for result in tagged:
            class_id = int(result["class_id"])
            values = " · ".join(
                f"{html_text(str(name))}: <b>{html_text(value_text(value))}</b>"
                for name, value in (result.get("values") or {}).items()
            )
            st.markdown(
                f"{_chip(onto.color(class_id))} <b>{html_text(onto.class_label(class_id))}</b> · "
                f"{html_text(bubble(ev.result_ref(result) or ''))}"
                + (f"<br><small>{values}</small>" if values else " <small>(no values)</small>"),
                unsafe_allow_html=True,
            )
        answers = work.get("classifications") or {}
        for qid, question in onto.questions.items():
            answer = answers.get(str(qid))
            if answer not in (None, "", [], {}):
                st.markdown(
                    f"**{html_text(question.label)}**: {html_text(classification_text(question, answer))}"
                )
        for result in replies:
            class_id = int(result["class_id"])
            role = ROLE_NAMES.get(result.get("role") or onto.roles.get(class_id, "bot"), "Bot")
            base, what = reply_base(result, messages)
            st.markdown(
                f"{_chip(onto.color(class_id))} <b>{html_text(onto.class_label(class_id))}</b> · reply as {role}",
                unsafe_allow_html=True,
            )
            text = str(result.get("text") or "")
            if base:
                st.caption(f"Changes against {what}: removed in red, added in green")
                st.html(diff_html(base, text))
            else:
                st.text(text)
