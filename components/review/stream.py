"""The Review view: the stream of submitted annotations under filters, one shown read-only on the canvas,
Accept (`a`), Reject with a reason (`x`), Fix & accept, and the History panel."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.dialogue import bubbles, canvas_value, dialogue_canvas
from components.review.describe import Ontology, badges
from components.review.editor import fix_editor_ui
from components.review.history import history_ui
from components.review.results import work_ui
from store import db
from store.errors import Conflict, Forbidden, InputError, NotFound
from store.export_filters import dataset_annotators
from store.models import Dataset, User
from store.team.review import (
    STREAM_PAGE,
    UnderReview,
    accept,
    fix_and_accept,
    get_for_review,
    reject,
    review_count,
    review_stream,
)
from store.team.settings import team_settings

VALIDITY = {"any": "Valid and invalid", "valid": "Valid only", "invalid": "Invalid only"}
TOAST = "review.toast"
ERROR = "review.error"
REJECTING = "review.rejecting"  # the annotation id whose Reject box is open
FIXING = "review.fixing"  # the annotation id whose Fix editor is open
REASON = "review.reason"
PRESET = "review.preset"
STORE_ERRORS = (Conflict, Forbidden, InputError, NotFound)


def current_key(dataset_id: int) -> str:
    """Where the shown annotation is kept, per dataset (switching datasets and back keeps your place)."""
    return f"review.current.{dataset_id}"


def extra_key(dataset_id: int) -> str:
    """An annotation opened by a deep link that the stream's filters leave out (already reviewed, say)."""
    return f"review.extra.{dataset_id}"


def next_after(ids: list[int], current: int | None) -> int | None:
    """The annotation to show once `current` leaves the stream: the one after it, else the one before."""
    if current not in ids:
        return ids[0] if ids else None
    i = ids.index(current)
    rest = ids[i + 1 :] + ids[:i][::-1]
    return rest[0] if rest else None


def _go(dataset_id: int, target: int | None) -> None:
    st.session_state[current_key(dataset_id)] = target
    st.session_state.pop(REJECTING, None)
    st.session_state.pop(FIXING, None)


def _picked(dataset_id: int) -> None:
    _go(dataset_id, st.session_state.get("review.pick"))


def _step(dataset_id: int, ids: list[int], current: int | None, step: int) -> None:
    if not ids:
        return
    i = ids.index(current) if current in ids else -1
    _go(dataset_id, ids[(i + step) % len(ids)])


def _canvas_key(dataset_id: int, ids: list[int], current: int | None) -> None:
    """←/→ on the canvas: previous / next annotation in the stream."""
    key = (canvas_value("review.canvas").get("key") or {}).get("k")
    if key in ("next", "prev"):
        _step(dataset_id, ids, current, 1 if key == "next" else -1)


def _act(action: str, user: User, under: UnderReview, dataset_id: int, then: int | None) -> None:
    """Accept or Reject (a button's callback, so the next annotation is drawn in the same run)."""
    ann = under.annotation
    try:
        with db.write_session() as session:
            if action == "accept":
                accept(session=session, user=user, annotation_id=ann.id, version=ann.version)
            else:
                reason = str(st.session_state.get(REASON) or "")
                reject(session=session, user=user, annotation_id=ann.id, version=ann.version, reason=reason)
    except STORE_ERRORS as exc:
        st.session_state[ERROR] = (ann.id, str(exc))
        return
    if action == "reject":
        st.session_state[REASON] = ""
        st.session_state[PRESET] = None
    done = "Accepted" if action == "accept" else "Sent back to"
    st.session_state[TOAST] = f"{done} {under.annotator} on item {under.item.external_id}."
    _go(dataset_id, then)


def _preset_picked() -> None:
    if st.session_state.get(PRESET):
        st.session_state[REASON] = st.session_state[PRESET]


def filters_ui(dataset: Dataset, onto: Ontology) -> dict[str, Any]:
    with db.read_session() as session:
        people = dataset_annotators(session=session, dataset_id=dataset.id)
    classes = {cid: c.label for cid, c in onto.classes.items()}
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.2], vertical_alignment="bottom")
    annotator = c1.selectbox(
        "Annotator", people, index=None, placeholder="Everyone", key="review.f.annotator"
    )
    class_id = c2.selectbox("Class", list(classes), index=None, format_func=classes.get, placeholder="Any class",
                            key="review.f.class")  # fmt: skip
    validity = c3.selectbox("Validity", list(VALIDITY), format_func=VALIDITY.get, key="review.f.validity")
    disagreements = c4.checkbox("Disagreements only", key="review.f.disagree")
    reviewed = c4.checkbox("Reviewed ones too", key="review.f.reviewed")
    return {
        "annotator": annotator,
        "class_id": class_id,
        "validity": None if validity == "any" else validity,
        "disagreements": disagreements,
        "waiting": not reviewed,
    }


def _count_label(listed: int, total: int | None, waiting: str) -> str:
    """How many the stream holds and, past the page, how many of them are listed (oldest first). `total`
    None: not counted (disagreements are checked item by item, as far as a page)."""
    if total is None:
        return f"**{listed:,}{'+' if listed >= STREAM_PAGE else ''}** {waiting}"
    shown = f"**{total:,}** {waiting}"
    return shown if total <= listed else f"{shown} · oldest {listed:,} listed"


def _label(row: Any) -> str:
    text = f"{row.external_id} · {row.item_name or 'untitled'} · {row.annotator}"
    if row.rounds:
        text += f" · round {row.rounds + 1}"
    return text + ("" if row.status == "submitted" else f" · {row.status}")


def review_ui(user: User, dataset: Dataset, onto: Ontology) -> UnderReview | None:
    """The Review view; returns the annotation shown (for the page's query string)."""
    if TOAST in st.session_state:
        st.toast(st.session_state.pop(TOAST), icon=":material/check_circle:")
    filters = filters_ui(dataset, onto)
    with db.read_session() as session:
        rows = review_stream(session=session, user=user, dataset_id=dataset.id, limit=STREAM_PAGE, **filters)
        # Counted only past a full page (a shorter one is the whole stream): every run of the page paid it, at
        # 1M items 100-240 ms with nothing waiting or under an annotator or a class
        counted = {k: v for k, v in filters.items() if k != "disagreements"}
        if len(rows) < STREAM_PAGE:
            total: int | None = len(rows)
        elif filters["disagreements"]:
            total = None
        else:
            total = review_count(session=session, user=user, dataset_id=dataset.id, **counted)
    labels = {row.annotation_id: _label(row) for row in rows}
    ids = list(labels)
    current = st.session_state.get(current_key(dataset.id))
    extra = st.session_state.get(extra_key(dataset.id))
    if current not in ids and (current is None or current != extra):
        current = ids[0] if ids else None
        st.session_state[current_key(dataset.id)] = current
    waiting = "awaiting review" if filters["waiting"] else "submitted or reviewed"
    if current is None:
        st.success(f"Nothing {waiting} under these filters.")
        return None
    with db.read_session() as session:
        under = get_for_review(session=session, user=user, annotation_id=current)
    if current not in labels:
        labels = {current: f"{under.item.external_id} · {under.item.name} · {under.annotator} (opened by link)",
                  **labels}  # fmt: skip
    pick, count, step = st.columns([3.3, 2, 0.8], vertical_alignment="bottom")
    st.session_state["review.pick"] = current
    pick.selectbox("Annotation", list(labels), format_func=labels.get, key="review.pick",
                   on_change=_picked, args=(dataset.id,))  # fmt: skip
    count.markdown(_count_label(len(rows), total, waiting))
    step.button("Next", icon=":material/skip_next:", key="review.next", on_click=_step,
                args=(dataset.id, ids, current, 1), disabled=len(ids) < 2 and current in ids)  # fmt: skip
    _annotation_ui(user, dataset, onto, under, then=next_after(ids, current), ids=ids)
    return under


def _annotation_ui(
    user: User, dataset: Dataset, onto: Ontology, under: UnderReview, *, then: int | None, ids: list[int]
) -> None:
    ann, item = under.annotation, under.item
    left, right = st.columns([3, 2], gap="medium")
    with left:
        dialogue_canvas(
            key="review.canvas", item_key=f"review:{ann.id}:{ann.version}",
            content=bubbles(item_id=item.id, messages=item.messages or [], candidates=item.candidates or []),
            editable=False, badges=badges(under.work, onto) or None,
            on_key=lambda: _canvas_key(dataset.id, ids, ann.id),
        )  # fmt: skip
    with right:
        status = ann.status + (f" · round {ann.review_rounds + 1}" if ann.review_rounds else "")
        st.markdown(f"**{under.annotator}** on item **{item.external_id}** · {status}")
        if ann.review_reason:
            st.caption(f"Last review ({under.reviewer or 'reviewer'}): {ann.review_reason}")
        a, x, f = st.columns(3)
        a.button("Accept", type="primary", shortcut="a", key="review.accept", icon=":material/check:",
                 on_click=_act, args=("accept", user, under, dataset.id, then), width="stretch")  # fmt: skip
        x.button("Reject", shortcut="x", key="review.reject", icon=":material/undo:", width="stretch",
                 on_click=lambda: st.session_state.__setitem__(REJECTING, ann.id))  # fmt: skip
        f.button("Fix", key="review.fix", icon=":material/edit:", width="stretch",
                 on_click=lambda: st.session_state.__setitem__(FIXING, ann.id))  # fmt: skip
        st.caption("Keys: `a` accept · `x` reject · ←/→ on the dialogue: previous / next")
        error = st.session_state.get(ERROR)
        if error and error[0] == ann.id:
            st.error(error[1])
            st.session_state.pop(ERROR, None)
        if st.session_state.get(REJECTING) == ann.id:
            _reject_ui(user, dataset, under, then)
        title = f"{under.annotator}'s answers" + (f" (fixed by {under.reviewer})" if under.original else "")
        work_ui(under.work, messages=item.messages or [], onto=onto, title=title)
        history_ui(user, item.id)
    if st.session_state.get(FIXING) == ann.id:
        _fix_ui(user, dataset, onto, under, then)


def _reject_ui(user: User, dataset: Dataset, under: UnderReview, then: int | None) -> None:
    reasons = list(team_settings(dataset).reject_reasons)
    with st.container(border=True, key="review-reject-box"):
        st.markdown("**Send back to the annotator**")
        if reasons:
            st.pills("Preset reasons", reasons, key=PRESET, on_change=_preset_picked)
        st.text_area("Reason", key=REASON, height=90, placeholder="What to change: the annotator sees this.")
        send, cancel = st.columns(2)
        send.button("Send back", type="primary", key="review.send_back", width="stretch",
                    on_click=_act, args=("reject", user, under, dataset.id, then))  # fmt: skip
        cancel.button("Cancel", key="review.reject_cancel", width="stretch",
                      on_click=lambda: st.session_state.pop(REJECTING, None))  # fmt: skip


def _fix_ui(user: User, dataset: Dataset, onto: Ontology, under: UnderReview, then: int | None) -> None:
    ann, item = under.annotation, under.item
    st.divider()
    author, editor = st.columns(2, gap="medium")
    with author:
        work_ui(under.original or under.work, messages=item.messages or [], onto=onto,
                title=f"{under.annotator}'s own version")  # fmt: skip
    with editor:
        fixed, note, clicked = fix_editor_ui(
            under.work,
            onto=onto,
            candidates=len(item.candidates or []),
            key=f"review.fix.{ann.id}.{ann.version}",
        )
        if st.button("Cancel fixing", key="review.fix_cancel"):
            st.session_state.pop(FIXING, None)
            st.rerun()
    if not clicked:
        return
    try:
        with db.write_session() as session:
            fix_and_accept(session=session, user=user, annotation_id=ann.id, version=ann.version, work=fixed,
                           reason=note)  # fmt: skip
    except STORE_ERRORS as exc:
        editor.error(str(exc))
        return
    st.session_state[TOAST] = f"Fixed and accepted {under.annotator}'s work on item {item.external_id}."
    _go(dataset.id, then)
    st.rerun()
