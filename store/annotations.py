"""Annotations: drafts kept on the server, Save and Submit, optimistic locking on `version`.

The working copy of one annotator's annotation on one item ("work") is a plain dict:
    {"validity": "valid" | "invalid", "invalid_reason": str,
     "classifications": {"<classification id>": answer, ...},
     "results": [{"class_id": int, "message": int | None, "candidate": int | None,
                  "values": {attribute name: value}, "text": str | None, "role": str | None,
                  "source_text": str | None}, ...]}
A response result has neither "message" nor "candidate" (one per class per item).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, false, insert, update
from sqlmodel import Session, select

from store import annotation_values
from store.access import visible_item
from store.errors import Conflict, InputError
from store.filters import refresh_disagree
from store.models import Annotation, Item, Result, User, utcnow
from store.team import history, queue
from store.team.settings import wants_review

STATUSES = ("draft", "saved", "submitted", "accepted", "rejected")


def empty_work() -> dict[str, Any]:
    return {"validity": "valid", "invalid_reason": "", "classifications": {}, "results": []}


@dataclass
class Loaded:
    """What an annotator sees when opening an item: the working copy and where it came from."""

    work: dict[str, Any]
    version: int  # 0 when the annotator has no annotation on this item yet
    status: str  # "new" when there is none
    has_unsaved_draft: bool
    review_reason: str = ""  # why a reviewer sent it back (status "rejected"), or the last review's reason
    review_rounds: int = 0


def _slot(result: dict[str, Any]) -> str:
    if result.get("message") is not None:
        return f"m{int(result['message'])}"
    if result.get("candidate") is not None:
        return f"c{int(result['candidate'])}"
    return "r"


def _result_dict(row: Result) -> dict[str, Any]:
    return {
        "class_id": row.class_id,
        "message": row.message_index,
        "candidate": row.candidate_index,
        "values": dict(row.values or {}),
        "text": row.text,
        "role": row.role,
        "source_text": row.source_text,
    }


def _get(session: Session, user: User, item_id: int) -> Annotation | None:
    query = select(Annotation).where(
        Annotation.item_id == item_id, Annotation.annotator_id == user.id, Annotation.final == false()
    )
    return session.exec(query.execution_options(populate_existing=True)).first()


def saved_work(session: Session, ann: Annotation) -> dict[str, Any]:
    """The annotation's saved state as a working copy (its draft aside)."""
    rows = session.exec(select(Result).where(Result.annotation_id == ann.id).order_by(Result.id)).all()
    return {
        "validity": ann.validity,
        "invalid_reason": ann.invalid_reason,
        "classifications": dict(ann.classifications or {}),
        "results": [_result_dict(r) for r in rows],
    }


def load_work(*, session: Session, user: User, item_id: int) -> Loaded:
    """The annotator's working copy of `item_id`: the unsaved draft if there is one, else the saved state."""
    visible_item(session=session, user=user, item_id=item_id)
    ann = _get(session, user, item_id)
    if ann is None:
        return Loaded(work=empty_work(), version=0, status="new", has_unsaved_draft=False)
    if ann.draft is not None:
        return Loaded(
            work=ann.draft,
            version=ann.version,
            status=ann.status,
            has_unsaved_draft=True,
            review_reason=ann.review_reason,
            review_rounds=ann.review_rounds,
        )
    return Loaded(
        work=saved_work(session, ann),
        version=ann.version,
        status=ann.status,
        has_unsaved_draft=False,
        review_reason=ann.review_reason,
        review_rounds=ann.review_rounds,
    )


def _lock(session: Session, user: User, item_id: int, version: int) -> Annotation:
    """The annotation row at `version` (created at version 0 → 1), or Conflict if someone saved since.

    The annotator must hold one of the item's overlap slots (store/team/queue.py): a lease is renewed, or
    taken while the item still needs annotators; an accepted annotation is closed to its author.
    """
    item = visible_item(session=session, user=user, item_id=item_id)
    ann = _get(session, user, item_id)
    if ann is not None and ann.status == "accepted" and ann.version == version:
        raise Conflict("A reviewer accepted this annotation; it can no longer be changed.")
    if ann is None or ann.version == version:
        queue.claim(session, user, item, enforce=False)
    current = ann.version if ann else 0
    if current != version:
        raise Conflict(
            "This item was changed in another tab or window since you opened it. "
            "Reload the item to see the newest version; your changes here were not saved."
        )
    if ann is None:
        ann = Annotation(item_id=item_id, dataset_id=item.dataset_id, annotator_id=user.id, version=0)
        session.add(ann)
        session.flush()
    return ann


def bump_version(
    session: Session,
    ann: Annotation,
    values: dict[str, Any],
    conflict: str = "This item was changed in another tab or window at the same moment; reload it.",
) -> int:
    """Write `values` and the next version if the row is still at `ann.version`; returns the new version.
    The WHERE on version makes the update its own guard (PostgreSQL runs writers concurrently); the ORM
    update also refreshes `ann` in the session, so read what you need from it first."""
    old = ann.version
    done = session.execute(
        update(Annotation)
        .where(Annotation.id == ann.id, Annotation.version == old)
        .values(version=old + 1, updated_at=utcnow(), **values)
    )
    if done.rowcount != 1:
        raise Conflict(conflict)
    if set(values) - {"draft", "draft_at"}:  # the work or its status changed (a draft's does not count)
        refresh_disagree(session, [ann.item_id])
    return old + 1


def save_draft(*, session: Session, user: User, item_id: int, work: dict[str, Any], version: int) -> int:
    """Keep unsaved work on the server; returns the new version. Raises Conflict on a stale version."""
    ann = _lock(session, user, item_id, version)
    new_version = bump_version(session, ann, {"draft": work, "draft_at": utcnow()})
    if history.draft_due(session, ann.id):
        history.record(
            session,
            action="draft",
            user_id=user.id,
            dataset_id=ann.dataset_id,
            item_id=item_id,
            annotation=ann,
            annotator=user.username,
        )
    session.commit()
    return new_version


def save_annotation(
    *, session: Session, user: User, item_id: int, work: dict[str, Any], version: int, submit: bool = False
) -> int:
    """Save (or submit) the working copy as the annotation's results; returns the new version."""
    if work.get("validity", "valid") not in ("valid", "invalid"):
        raise InputError(f"validity {work.get('validity')!r}: must be valid or invalid")
    ann = _lock(session, user, item_id, version)
    before = saved_work(session, ann) if ann.version > 0 and ann.status != "draft" else None
    held = ann.status in queue.CLAIMING  # (read before the update below changes it)
    rows = write_results(session, ann, work)
    if submit:
        status = "submitted"
    elif ann.status in ("submitted", "rejected"):
        status = ann.status  # saving keeps a submitted item submitted, a sent-back one sent back
    else:
        status = "saved"
    values: dict[str, Any] = {
        "status": status,
        "validity": work.get("validity", "valid"),
        "invalid_reason": work.get("invalid_reason", ""),
        "classifications": work.get("classifications") or {},
        "draft": None,
        "draft_at": None,
    }
    if submit:
        values["submitted_at"] = utcnow()
        # A resubmitted rejection always returns to review; a first submission as the dataset says.
        values["needs_review"] = ann.status == "rejected" or wants_review(session, ann)
    new_version = bump_version(session, ann, values)
    item = session.get(Item, item_id)
    if submit:
        queue.release(session, user, item, held=held)
    after = stored_form(work, rows)
    history.record(
        session,
        action=status if submit or status == "saved" else "saved",
        user_id=user.id,
        dataset_id=ann.dataset_id,
        item_id=item_id,
        annotation=ann,
        annotator=user.username,
        before=before,
        after=after,
        status=status,
    )
    session.commit()
    return new_version


def write_results(session: Session, ann: Annotation, work: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the annotation's results with those of `work` (one per class per target), and the values the
    filters look up with its results and answers; returns the Result rows (a save, a fix, a final answer)."""
    rows = result_rows(ann.id, work)
    session.execute(delete(Result).where(Result.annotation_id == ann.id))
    if rows:
        session.execute(insert(Result), rows)
    annotation_values.replace(session, ann, rows, work.get("classifications"))
    return rows


def result_rows(annotation_id: int, work: dict[str, Any]) -> list[dict[str, Any]]:
    """The Result rows of `work` (InputError when a class appears twice on one target)."""
    rows = []
    seen: set[tuple[int, str]] = set()
    for result in work.get("results", []):
        key = (int(result["class_id"]), _slot(result))
        if key in seen:
            raise InputError(f"class {key[0]} appears twice on {key[1]}: one result per class per target")
        seen.add(key)
        rows.append(
            {
                "annotation_id": annotation_id,
                "class_id": key[0],
                "slot": key[1],
                "message_index": result.get("message"),
                "candidate_index": result.get("candidate"),
                "values": result.get("values") or {},
                "text": result.get("text"),
                "role": result.get("role"),
                "source_text": result.get("source_text"),
                "created_at": utcnow(),
            }
        )
    return rows


def stored_form(work: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`work` as saved_work() will read it back from `rows` (for the history's before/after)."""
    return {
        "validity": work.get("validity", "valid"),
        "invalid_reason": work.get("invalid_reason", ""),
        "classifications": dict(work.get("classifications") or {}),
        "results": [
            {
                "class_id": r["class_id"],
                "message": r["message_index"],
                "candidate": r["candidate_index"],
                "values": dict(r["values"] or {}),
                "text": r["text"],
                "role": r["role"],
                "source_text": r["source_text"],
            }
            for r in rows
        ],
    }


MAX_ACTIVE_REPORT = 120.0  # seconds one report may add (the page reports every 15 s; more is not one tab)


def add_active_time(*, session: Session, user: User, item_id: int, seconds: float) -> bool:
    """Add `seconds` of active work (the tab visible, a key or pointer event in the last 60 s) to the
    user's annotation of the item; False when they have none yet (the page keeps the time and tries again).
    Not a change of the work: `version` stays, so it never conflicts with a save."""
    if not 0 < seconds <= MAX_ACTIVE_REPORT:
        raise InputError(f"active seconds {seconds!r}: more than 0, at most {MAX_ACTIVE_REPORT:g}")
    visible_item(session=session, user=user, item_id=item_id)
    done = session.execute(
        update(Annotation)
        .where(Annotation.item_id == item_id, Annotation.annotator_id == user.id, Annotation.final == false())
        .values(active_seconds=Annotation.active_seconds + seconds),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return done.rowcount == 1
