"""The questions drawn beside the canvas: Validity, Classification (the ontology's item-level questions, ranking
and pairwise among them) and the item's Comments."""

from __future__ import annotations

import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

import streamlit as st

from components.rank_list import last_drop, rank_list, valid_drop
from components.toolpage.work import _k
from core.dialogue import candidate_label
from core.evaluation import bubble_name, order_to_ranking, ranking_order, ranking_to_ranks, set_rank
from store import db
from store.comments import add_comment, list_comments
from store.errors import InputError
from store.models import Classification

if TYPE_CHECKING:
    from components.toolpage import ToolContext


def _wkey(ctx: ToolContext, name: str) -> str:
    return ctx.wkey(name)


def _validity_ui(ctx: ToolContext) -> None:
    work = ctx.work
    with st.container(border=True):
        st.markdown("**Validity**")
        choice = st.radio(
            "Validity", ["valid", "invalid"], index=0 if work.get("validity", "valid") == "valid" else 1,
            format_func=lambda v: "Valid" if v == "valid" else "Invalid", horizontal=True,
            key=_wkey(ctx, "validity"), disabled=not ctx.editable, label_visibility="collapsed",
        )  # fmt: skip
        if ctx.editable and choice != work.get("validity", "valid"):
            work["validity"] = choice
        if choice == "invalid":
            reason = st.text_input(
                "Why is it invalid?", value=work.get("invalid_reason", ""), key=_wkey(ctx, "reason"),
                disabled=not ctx.editable, placeholder="e.g. garbled text, wrong language",
            )  # fmt: skip
            if ctx.editable and reason != work.get("invalid_reason", ""):
                work["invalid_reason"] = reason


def _classification_ui(ctx: ToolContext) -> None:
    answers = ctx.work.setdefault("classifications", {})
    # Candidates are named by the place they are shown at (a blind comparison shuffles them).
    labels = candidate_labels(ctx.candidate_order)
    with st.container(border=True):
        st.markdown("**Classification**")
        ranked = False
        for q in ctx.classifications:
            qid = str(q.id)
            title = (q.title or q.name) + (" *" if q.required else "")
            current = answers.get(qid)
            wkey = _wkey(ctx, f"q{qid}")
            off = not ctx.editable
            options = list(q.options or [])
            if q.type == "radio":
                value = st.radio(title, options, index=options.index(current) if current in options else None,
                                 key=wkey, disabled=off, horizontal=len(options) <= 4)  # fmt: skip
            elif q.type == "checkbox":
                value = st.pills(title, options, selection_mode="multi",
                                 default=[o for o in (current or []) if o in options], key=wkey, disabled=off)  # fmt: skip
                value = list(value) or None
            elif q.type == "text":
                value = st.text_input(title, value=current or "", key=wkey, disabled=off) or None
            elif q.type == "ranking":
                # The first ranking question is the one `r` + a number answers (its rows are keyed for it).
                _ranking_ui(ctx, q, title, current, labels, wkey, hotkeys=not ranked)
                ranked = True
                continue
            elif q.type == "pairwise":
                value = _pairwise_ui(q, title, current, labels, wkey, off)
            else:
                st.caption(f"{title}: type {q.type} is not supported here")
                continue
            if ctx.editable and value != current:
                if value is None:
                    answers.pop(qid, None)
                else:
                    answers[qid] = value


def candidate_labels(order: list[int]) -> dict[int, str]:
    """Original candidate index → the letter it is shown with ("A" for the first shown)."""
    return {original: candidate_label(place) for place, original in enumerate(order)}


def _ranking_ui(
    ctx: ToolContext,
    q: Classification,
    title: str,
    current: Any,
    labels: dict[int, str],
    wkey: str,
    *,
    hotkeys: bool,
) -> None:
    """One row a candidate (in the order shown) with its rank 1…n, 1 the best. Ties only where the question
    allows them; otherwise taking a rank another candidate holds swaps the two. With `hotkeys`, each row
    sits in a container "parley-rank-c<candidate>" where the canvas's `r` + number clicks the rank."""
    allow_ties = bool((q.settings or {}).get("allow_ties"))
    ranking = current if isinstance(current, list) else []
    ranks = ranking_to_ranks(ranking)
    n = len(labels)
    st.markdown(f"**{title}**")
    st.caption(
        "Drag to order (or Alt+↑/↓), or pick each rank · 1 = best" + (" · ties allowed" if allow_ties else "")
    )
    candidates = ctx.item.candidates or []
    rows = [
        {"id": original, "label": f"Candidate {label}",
         "sub": "" if ctx.hide_models else str(candidates[original].get("model") or ""),
         "hint": " ".join(str(candidates[original].get("text") or "").split())[:80]}
        for original, label in labels.items()
    ]  # fmt: skip
    drag_key = f"{wkey}.drag"
    rank_list(
        key=drag_key, rows=rows, order=ranking_order(ranking), ranks=ranks, disabled=not ctx.editable,
        on_change=functools.partial(_rank_dropped, ctx.kind, str(q.id), wkey, list(labels), drag_key),
    )  # fmt: skip
    for original, label in labels.items():
        key = f"{wkey}.{original}"
        if key not in st.session_state:
            st.session_state[key] = ranks.get(original)
        with st.container(key=f"parley-rank-c{original}") if hotkeys else contextlib.nullcontext():
            st.segmented_control(
                f"Candidate {label}", list(range(1, n + 1)), key=key, disabled=not ctx.editable,
                on_change=_rank_changed, args=(ctx.kind, str(q.id), original, wkey, list(labels), allow_ties),
            )  # fmt: skip


def _rank_changed(
    kind: str, qid: str, original: int, wkey: str, candidates: list[int], allow_ties: bool
) -> None:
    """A rank picked: the ranking in the work, and every candidate's row (a swap moves another one too)."""
    work = st.session_state.get(_k(kind, "work"))
    if work is None:
        return
    answers = work.setdefault("classifications", {})
    ranking = set_rank(
        answers.get(qid), original, st.session_state.get(f"{wkey}.{original}"), allow_ties=allow_ties
    )
    _put_ranking(answers, qid, ranking, wkey, candidates)


def _put_ranking(
    answers: dict[str, Any], qid: str, ranking: list[Any], wkey: str, candidates: list[int]
) -> None:
    """Store a ranking answer (none when empty) and set every candidate's rank row to match it."""
    if ranking:
        answers[qid] = ranking
    else:
        answers.pop(qid, None)
    ranks = ranking_to_ranks(ranking)
    for other in candidates:
        st.session_state[f"{wkey}.{other}"] = ranks.get(other)


def _rank_dropped(kind: str, qid: str, wkey: str, candidates: list[int], drag_key: str) -> None:
    """A drop in the drag list: the ranking in the work (ties kept while they stay together), and every
    candidate's rank row."""
    work = st.session_state.get(_k(kind, "work"))
    order = valid_drop(last_drop(drag_key), candidates)
    if work is None or order is None or st.session_state.get(_k(kind, "mode")) == "View":
        return
    answers = work.setdefault("classifications", {})
    ranking = order_to_ranking(order, answers.get(qid) if isinstance(answers.get(qid), list) else None)
    _put_ranking(answers, qid, ranking, wkey, candidates)


def _pairwise_ui(
    q: Classification, title: str, current: Any, labels: dict[int, str], wkey: str, off: bool
) -> dict[str, Any] | None:
    settings = q.settings or {}
    pair = settings.get("pair") or [0, 1]
    a, b = sorted((int(pair[0]), int(pair[1])), key=lambda k: labels.get(k, ""))  # in the order shown
    if a not in labels or b not in labels:
        st.caption(f"{title}: needs two candidates")
        return current
    options = [labels[a], "Tie", labels[b]]
    if isinstance(current, dict) and current.get("tie"):
        now = "Tie"
    elif isinstance(current, dict) and current.get("chosen") in (a, b):
        now = labels[current["chosen"]]
    else:
        now = None
    pick = st.segmented_control(title, options, default=now, key=wkey, disabled=off)
    if pick is None:
        return None
    if pick == "Tie":
        return {"tie": True}
    strengths = settings.get("strengths") or ["slightly better", "better", "much better"]
    old = current.get("strength") if isinstance(current, dict) else None
    strength = st.segmented_control(
        "How much better", list(range(1, len(strengths) + 1)), format_func=lambda s: strengths[s - 1],
        default=old if old in range(1, len(strengths) + 1) else None, key=wkey + ".s", disabled=off,
    )  # fmt: skip
    chosen = a if pick == labels[a] else b
    answer: dict[str, Any] = {"chosen": chosen, "rejected": b if chosen == a else a}
    if strength is not None:
        answer["strength"] = strength
    return answer


def _comments(ctx: ToolContext) -> list[Any]:
    """The item's comments, read when the item opens and then at most every 30 s (or after adding one)."""
    key = _k(ctx.kind, "comments")
    cached = st.session_state.get(key)
    now = time.monotonic()
    if cached and cached[0] == ctx.item.id and now - cached[1] < 30:
        return cached[2]
    with db.read_session() as session:
        comments = list_comments(session=session, user=ctx.user, item_id=ctx.item.id)
    st.session_state[key] = (ctx.item.id, now, comments)
    return comments


def _comments_ui(ctx: ToolContext) -> None:
    comments = _comments(ctx)
    with st.container(border=True):
        st.markdown(f"**Comments** ({len(comments)})")
        for c in comments[-20:]:
            where = f" · on {_bubble_name(c.target, ctx.candidate_order)}" if c.target else ""
            st.caption(f"**{c.author}** ({c.author_role}) · {c.created_at:%Y-%m-%d %H:%M}{where}")
            st.text(c.text)
        with st.form(_wkey(ctx, "comment"), clear_on_submit=True, border=False):
            text = st.text_area("Add a comment", height=68, placeholder="Visible to reviewers and admins")
            attach = st.checkbox(
                f"On the selected bubble ({_bubble_name(ctx.selected, ctx.candidate_order)})" if ctx.selected else "On the whole item",
                value=bool(ctx.selected), disabled=not ctx.selected,
            )  # fmt: skip
            if st.form_submit_button("Comment"):
                try:
                    with db.write_session() as session:
                        add_comment(session=session, user=ctx.user, item_id=ctx.item.id, text=text,
                                    target=ctx.selected if attach else None)  # fmt: skip
                except InputError as err:
                    st.error(str(err))
                else:
                    st.session_state.pop(_k(ctx.kind, "comments"), None)
                    st.rerun()


def _bubble_name(target: str | None, order: list[int]) -> str:
    return bubble_name(target, order) if target else "item"
