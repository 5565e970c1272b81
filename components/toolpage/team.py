"""The tool pages' side of the team workflow: the "My queue" view (next item, skip, what is left), the
reviewer's reason on a sent-back item, and the item's history."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import streamlit as st

from components.toolpage.work import _k
from store import db
from store.models import Item, User
from store.team.history import item_history
from store.team.queue import next_in_queue, peek_queue, queue_before, queue_counts, skip

QUEUE = "queue"
QUEUE_LABEL = "My queue"
# Annotators see the items the queue hands them and the ones they submitted; reviewers and admins keep
# every filter, "All items" first.
ANNOTATOR_FILTERS = (QUEUE, "submitted")
_COUNTS_TTL = 30.0


def default_filter(user: User) -> str:
    return QUEUE if user.role == "annotator" else "all"


def filters_for(user: User, all_filters: tuple[str, ...]) -> tuple[str, ...]:
    return ANNOTATOR_FILTERS if user.role == "annotator" else (*all_filters, QUEUE)


def in_queue(kind: str) -> bool:
    return st.session_state.get(_k(kind, "filter")) == QUEUE


def next_item(user: User, dataset_id: int, after: Item | None) -> Item | None:
    """The next queue item (a lease is taken on it)."""
    with db.write_session() as session:
        return next_in_queue(session=session, user=user, dataset_id=dataset_id, after=after)


def neighbours(session: Any, user: User, dataset_id: int, item: Item, step: int, limit: int) -> list[Item]:
    """What ←/→ lead to in the queue: the next queue items (nothing taken yet), or back through the items
    the annotator worked on."""
    if step > 0:
        return peek_queue(session=session, user=user, dataset_id=dataset_id, after=item, limit=limit)
    return queue_before(session=session, user=user, dataset_id=dataset_id, item=item, limit=limit)


def counts_text(kind: str, user: User, dataset_id: int) -> str:
    """ "12 left in my queue · 40 % of items complete", read at most every 30 s (and after a submit or skip)."""
    key = _k(kind, "queue_counts")
    cached = st.session_state.get(key)
    now = time.monotonic()
    if cached and cached[0] == dataset_id and now - cached[1] < _COUNTS_TTL:
        counts = cached[2]
    else:
        with db.read_session() as session:
            counts = queue_counts(session=session, user=user, dataset_id=dataset_id)
        st.session_state[key] = (dataset_id, now, counts)
    percent = min(100.0, 100 * counts.done / counts.needed) if counts.needed else 0.0
    return f"{counts.left:,} left in my queue · dataset {percent:.0f} % done ({counts.done:,} / {counts.needed:,} submissions)"


def count_submit(kind: str, *, resubmit: bool) -> None:
    """A submit: one item fewer in the queue and one submission more, without counting again (on 100,000
    items a count is ~80 ms, which Submit-and-next would wait for); the next count in ≤ 30 s corrects it."""
    cached = st.session_state.get(_k(kind, "queue_counts"))
    if cached and not resubmit:
        counts = cached[2]
        counts = replace(counts, left=max(0, counts.left - 1), done=counts.done + 1)
        st.session_state[_k(kind, "queue_counts")] = (cached[0], cached[1], counts)


def skip_item(user: User, item_id: int, dataset_id: int) -> Item | None:
    """Skip: release the item (recorded), and the next queue item after it (its lease taken)."""
    with db.write_session() as session:
        skip(session=session, user=user, item_id=item_id)
        current = session.get(Item, item_id)
        return next_in_queue(session=session, user=user, dataset_id=dataset_id, after=current)


def sent_back_ui(status: str, reason: str, rounds: int) -> None:
    """The reviewer's reason, on top of an item they sent back."""
    if status == "rejected":
        st.warning(
            f"**Sent back by a reviewer** (round {rounds}): {reason}\n\nFix it and submit again.",
            icon=":material/undo:",
        )


def history_ui(kind: str, user: User, item_id: int, version: int) -> None:
    """The item's history (an annotator sees only their own entries), read again when the annotation changes."""
    key = _k(kind, "history")
    cached = st.session_state.get(key)
    if not cached or cached[0] != (item_id, version):
        with db.read_session() as session:
            entries = item_history(session=session, user=user, item_id=item_id)
        cached = ((item_id, version), entries)
        st.session_state[key] = cached
    entries = cached[1]
    with st.expander(f"History ({len(entries)})"):
        if not entries:
            st.caption("Nothing recorded yet.")
        for entry in reversed(entries[-50:]):
            reason = entry.detail.get("reason")
            who = entry.by or "system"
            about = f" · {entry.annotator}'s annotation" if entry.annotator and entry.annotator != who else ""
            st.caption(
                f"{entry.at:%Y-%m-%d %H:%M:%S} · **{entry.label}** by {who}{about}"
                + (f" · “{reason}”" if reason else "")
            )
