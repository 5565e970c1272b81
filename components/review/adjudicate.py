"""The Adjudicate view: items with two or more submitted annotations, each criterion's answers side by side
(differences marked), a pick per row (an annotator's answer or the reviewer's own), Finalise."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.dialogue import bubbles, dialogue_canvas
from components.review.describe import (
    Ontology,
    answer_text,
    criterion_name,
    html_text,
    own_answer,
    own_hint,
    own_seed,
)
from components.review.history import history_ui
from core.adjudication import Criterion, answers
from store import db
from store.errors import Forbidden, InputError, NotFound
from store.models import Dataset, User
from store.team.adjudicate import (
    Adjudication,
    finalise,
    finalise_agreed,
    get_adjudication,
    items_to_adjudicate,
)

TOAST = "review.adj.toast"
SHARED = "Shared"
OWN = "Own answer"
ROW_CSS = (
    "<style>[class*='st-key-review-adj-differs-'] { background: rgba(255, 152, 0, 0.12);"
    " border-left: 4px solid #ef6c00; border-radius: 0.4rem; padding: 0.25rem 0.5rem; }"
    "[class*='st-key-review-adj-same-'] { border-left: 4px solid transparent; padding: 0.25rem 0.5rem; }</style>"
)


def item_key(dataset_id: int) -> str:
    return f"review.adj.item.{dataset_id}"


def _finalise_agreed(user: User, dataset_id: int) -> None:
    with db.write_session() as session:
        done = finalise_agreed(session=session, user=user, dataset_id=dataset_id)
    st.session_state[TOAST] = f"Finalised {done} agreed item{'' if done == 1 else 's'}."


def _picked(dataset_id: int) -> None:
    st.session_state[item_key(dataset_id)] = st.session_state.get("review.adj.pick")


def adjudicate_ui(user: User, dataset: Dataset, onto: Ontology) -> str | None:
    """The Adjudicate view; returns the shown item's external id (for the page's query string)."""
    if TOAST in st.session_state:
        st.toast(st.session_state.pop(TOAST), icon=":material/check_circle:")
    only, bulk = st.columns([3, 1], vertical_alignment="bottom")
    disagreements = only.checkbox("Disagreements only", key="review.adj.disagree")
    bulk.button("Finalise agreed items", key="review.adj.bulk", icon=":material/done_all:", width="stretch",
                on_click=_finalise_agreed, args=(user, dataset.id),
                help="Give every item whose annotators all agree (and that has no final yet) that answer as final")  # fmt: skip
    with db.read_session() as session:
        rows = items_to_adjudicate(session=session, user=user, dataset_id=dataset.id,
                                   disagreements_only=disagreements)  # fmt: skip
    if not rows:
        st.info("No item has two or more submitted annotations" + (" that differ." if disagreements else "."))
        return None
    labels = {
        r.item_id: f"{r.external_id} · {r.name or 'untitled'} · {r.annotations} annotations · "
        + ("agree" if r.agree else "⚠ differ")
        + (" · final ✓" if r.final else "")
        for r in rows
    }
    current = st.session_state.get(item_key(dataset.id))
    if current not in labels:
        current = rows[0].item_id
        st.session_state[item_key(dataset.id)] = current
    st.session_state["review.adj.pick"] = current
    st.selectbox("Item", list(labels), format_func=labels.get, key="review.adj.pick",
                 on_change=_picked, args=(dataset.id,))  # fmt: skip
    with db.read_session() as session:
        adj = get_adjudication(session=session, user=user, item_id=current)
    left, right = st.columns([2, 3], gap="medium")
    with left:
        dialogue_canvas(
            key="review.adj.canvas", item_key=f"adjudicate:{adj.item.id}",
            content=bubbles(item_id=adj.item.id, messages=adj.item.messages or [],
                            candidates=adj.item.candidates or []),
            editable=False,
        )  # fmt: skip
    with right:
        _criteria_ui(user, adj, onto)
        history_ui(user, adj.item.id)
    return adj.item.external_id


def _cell(text: str) -> str:
    short = text if len(text) <= 240 else text[:240] + "…"
    return html_text(short).replace("\n", "<br>")


def _criteria_ui(user: User, adj: Adjudication, onto: Ontology) -> None:
    names = list(adj.works)
    final = answers(adj.final) if adj.final is not None else None
    differing = sum(c.differs for c in adj.criteria)
    st.markdown(
        f"**{len(adj.criteria)} criteria** · {differing} differ"
        + (f" · final by **{html_text(adj.final_by or '')}**" if final is not None else " · no final yet"),
        unsafe_allow_html=True,
    )
    st.html(ROW_CSS)
    widths = [2.0] + [1.8] * len(names) + ([1.8] if final is not None else []) + [2.6]
    head = st.columns(widths)
    for col, text in zip(head, ["Criterion", *names, *(["Final"] if final is not None else []), "Take"],
                         strict=True):  # fmt: skip
        col.markdown(f"**{html_text(text)}**", unsafe_allow_html=True)
    picks: dict[str, Any] = {}
    problems: list[str] = []
    for i, criterion in enumerate(adj.criteria):
        pick, problem = _row_ui(adj, criterion, onto, names, final, widths, i)
        if pick is not None:
            picks[criterion.key] = pick
        if problem:
            problems.append(problem)
    if st.button("Finalise", type="primary", key="review.adj.finalise", icon=":material/gavel:"):
        if problems:
            st.error("\n".join(problems))
            return
        try:
            with db.write_session() as session:
                finalise(session=session, user=user, item_id=adj.item.id, picks=picks)
        except (Forbidden, InputError, NotFound) as exc:
            st.error(_named(str(exc), onto))
            return
        st.session_state[TOAST] = f"Final answer saved for item {adj.item.external_id}."
        st.rerun()


def _named(message: str, onto: Ontology) -> str:
    """compose()'s "pick an answer for: r:3:c0:score, …" with the criteria named as on the page."""
    head, sep, keys = message.partition(": ")
    if not sep or not keys.startswith(("validity", "q:", "r:")):
        return message
    return head + ": " + ", ".join(criterion_name(k.strip(), onto) for k in keys.split(","))


def _row_ui(
    adj: Adjudication,
    criterion: Criterion,
    onto: Ontology,
    names: list[str],
    final: dict[str, Any] | None,
    widths: list[float],
    index: int,
) -> tuple[Any, str | None]:
    """One criterion's row; returns (its pick for finalise(), a problem with the own answer or None)."""
    kind = "differs" if criterion.differs else "same"
    base = f"review.adj.{adj.item.id}.{criterion.key}"
    with st.container(key=f"review-adj-{kind}-{adj.item.id}-{index}"):
        cols = st.columns(widths, vertical_alignment="center")
        name = criterion_name(criterion.key, onto)
        mark = "⚠ " if criterion.differs else ""
        color = "#e65100" if criterion.differs else "inherit"
        cols[0].markdown(
            f"<span style='color:{color}'>{mark}<b>{html_text(name)}</b></span>", unsafe_allow_html=True
        )
        for col, who in zip(cols[1 : 1 + len(names)], names, strict=True):
            col.markdown(
                _cell(answer_text(criterion.key, criterion.values.get(who), onto)), unsafe_allow_html=True
            )
        if final is not None:
            cols[1 + len(names)].markdown(
                _cell(answer_text(criterion.key, final.get(criterion.key), onto)), unsafe_allow_html=True
            )
        options = ([] if criterion.differs else [SHARED]) + names + [OWN]
        take = cols[-1].selectbox(
            f"Take for {name}", options, index=None if criterion.differs else 0, placeholder="Pick an answer",
            key=f"{base}.take", label_visibility="collapsed",
        )  # fmt: skip
        if take != OWN:
            return (take if take in names else None), None
        first = next((v for v in criterion.values.values() if v is not None), None)
        seed = own_seed(criterion.key, first, onto)
        text = st.text_input(f"Own answer: {name}", value=seed, key=f"{base}.own", help=own_hint(criterion.key, onto),
                             placeholder=own_hint(criterion.key, onto))  # fmt: skip
        try:
            return {"value": own_answer(criterion.key, text, onto)}, None
        except ValueError:
            return None, f"{name}: “{text}” is not {own_hint(criterion.key, onto)}."
