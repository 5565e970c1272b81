"""The working copy of the open item and the session keys it lives under: loading it, keeping it as a draft on
the server, and Save/Submit, each remembering the version this tab wrote (see _Stored)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import streamlit as st
from sqlmodel import Session

from store import db
from store.annotations import load_work, save_annotation, save_draft
from store.errors import Conflict, InputError
from store.models import User


def _k(kind: str, name: str) -> str:
    return f"tool.{kind}.{name}"


def _dump(work: dict[str, Any]) -> bytes:
    return orjson.dumps(work, option=orjson.OPT_SORT_KEYS)


@dataclass
class _Stored:
    """What this tab knows of its annotation as stored: one object, changed only by plain attribute writes.

    Every st.session_state access is a point where Streamlit may stop the script for a newer rerun (the
    user pressed on). "Commit, then st.session_state[version] = new" could therefore commit and never
    record the new version, and the tab's next save was refused as a conflict with itself ("changed in
    another tab"). After a commit the fields of this object are set with no such point in between.
    """

    version: int
    base: bytes  # the stored work (_dump), to tell whether the working copy changed
    status: str  # "new" | "draft" | "saved" | "submitted" | "accepted" | "rejected" (by a reviewer)
    draft_at: str | None = None  # when a draft newer than the saved state was kept


def _stored(kind: str) -> _Stored | None:
    return st.session_state.get(_k(kind, "stored"))


def _load(kind: str, session: Session, user: User, item_id: int) -> None:
    loaded = load_work(session=session, user=user, item_id=item_id)
    status = "draft" if loaded.status == "saved" and loaded.has_unsaved_draft else loaded.status
    st.session_state[_k(kind, "work")] = loaded.work
    st.session_state[_k(kind, "review")] = (loaded.status, loaded.review_reason, loaded.review_rounds)
    st.session_state[_k(kind, "stored")] = _Stored(
        version=loaded.version, base=_dump(loaded.work), status=status
    )
    st.session_state[_k(kind, "loaded")] = item_id  # last: a load cut short is done again by the next run
    st.session_state[_k(kind, "gen")] = st.session_state.get(_k(kind, "gen"), 0) + 1
    mode_key = _k(kind, "mode")
    if loaded.status in ("submitted", "accepted"):
        if st.session_state.get(mode_key, "Edit") == "Edit":
            st.session_state[_k(kind, "auto_view")] = True
        st.session_state[mode_key] = "View"
    elif st.session_state.pop(_k(kind, "auto_view"), False):
        st.session_state[mode_key] = "Edit"


def _persist_draft(kind: str, user: User, item_id: int, work: dict[str, Any]) -> bool:
    """Save `work` as the server-side draft; on a stale version keep the conflict message instead."""
    stored = _stored(kind)
    base, at = _dump(work), time.strftime("%H:%M:%S")
    try:
        with db.write_session() as session:
            version = save_draft(
                session=session, user=user, item_id=item_id, work=work, version=stored.version
            )
    except Conflict as err:
        st.session_state[_k(kind, "conflict")] = str(err)
        return False
    # (No st.session_state access between the commit and these lines: see _Stored.)
    stored.version, stored.base, stored.draft_at = version, base, at
    if stored.status == "new":
        stored.status = "draft"
    return True


def _write(kind: str, *, submit: bool) -> bool:
    """Save (or submit) the working copy of the loaded item; False with the conflict or problem kept.

    A submitted item saved again stays submitted. The caller checks Submit's requirements first.
    """
    state = st.session_state
    user, item_id, work = (
        state.get(_k(kind, "user")),
        state.get(_k(kind, "loaded")),
        state.get(_k(kind, "work")),
    )
    if state.get(_k(kind, "conflict")) or user is None or item_id is None or work is None:
        return False
    state.pop(_k(kind, "problems"), None)
    stored = _stored(kind)
    submit = submit or stored.status == "submitted"
    base = _dump(work)
    try:
        with db.write_session() as session:
            version = save_annotation(session=session, user=user, item_id=item_id, work=work,
                                      version=stored.version, submit=submit)  # fmt: skip
    except Conflict as err:
        state[_k(kind, "conflict")] = str(err)
        return False
    except InputError as err:
        state[_k(kind, "problems")] = [str(err)]
        return False
    # (No st.session_state access between the commit and these lines: see _Stored.)
    stored.version, stored.base, stored.draft_at = version, base, None
    stored.status = "submitted" if submit else ("rejected" if stored.status == "rejected" else "saved")
    state[_k(kind, "note")] = "Saved."
    if state.get(_k(kind, "filter"), "all") != "all":
        # Saving moves the item between the per-annotator filters: count and look around afresh.
        state.pop(_k(kind, "total"), None)
        state.pop(_k(kind, "rank"), None)
        state[_k(kind, "epoch")] = state.get(_k(kind, "epoch"), 0) + 1
    return True
