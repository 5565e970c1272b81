"""The history of every annotation: an append-only log (AuditEvent rows; the database refuses UPDATE and
DELETE on them), written in the same transaction as the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from store.access import visible_item
from store.errors import Forbidden
from store.models import Annotation, AuditEvent, User, utcnow

ACTIONS = {
    "draft": "draft kept",
    "saved": "saved",
    "submitted": "submitted",
    "accepted": "accepted",
    "rejected": "rejected",
    "fixed": "fixed and accepted",
    "finalised": "finalised",
    "deleted": "deleted",
    "lease.taken": "lease taken",
    "lease.expired": "lease expired",
    "skipped": "skipped",
    "imported": "imported",
}
# A run of autosaves is one "draft kept" entry: the first after any other change, then one every 5 minutes.
DRAFT_EVERY = timedelta(minutes=5)
_INSERT = insert(AuditEvent)


def record(
    session: Session,
    *,
    action: str,
    user_id: int | None,
    dataset_id: int,
    item_id: int,
    annotation: Annotation | None = None,
    annotator: str | None = None,
    before: Any = None,
    after: Any = None,
    **extra: Any,
) -> None:
    """Append one history entry; `before`/`after` (the work) are kept only where they differ."""
    if action not in ACTIONS:
        raise ValueError(f"history action {action!r}")
    detail: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if annotator is not None:
        detail["annotator"] = annotator
    if annotation is not None:
        detail.setdefault("status", annotation.status)
    if after is not None and before != after:
        detail["after"] = after
        if before is not None:
            detail["before"] = before
    # A core insert on the session's connection: in the same transaction, and no unit-of-work flush on
    # the queue's hot path (nothing reads these rows back in the session that writes them).
    session.connection().execute(
        _INSERT,
        {"at": utcnow(), "user_id": user_id, "dataset_id": dataset_id, "item_id": item_id,
         "annotation_id": annotation.id if annotation is not None else None, "action": action, "detail": detail},
    )  # fmt: skip


def draft_due(session: Session, annotation_id: int) -> bool:
    """Should this draft save be recorded? (See DRAFT_EVERY.)"""
    last = session.exec(
        select(AuditEvent.action, AuditEvent.at)
        .where(AuditEvent.annotation_id == annotation_id)
        .order_by(AuditEvent.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).first()
    if last is None or last[0] != "draft":
        return True
    at = last[1] if last[1].tzinfo else last[1].replace(tzinfo=utcnow().tzinfo)
    return utcnow() - at >= DRAFT_EVERY


@dataclass
class Entry:
    at: datetime
    action: str
    label: str
    by: str
    annotator: str
    detail: dict[str, Any]


def item_history(*, session: Session, user: User, item_id: int) -> list[Entry]:
    """The item's history, oldest first. Reviewers and admins see everyone's entries; an annotator only
    the entries of their own annotation (never another annotator's results)."""
    item = visible_item(session=session, user=user, item_id=item_id)
    rows = session.exec(
        select(AuditEvent, User.username)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.item_id == item.id)
        .order_by(AuditEvent.id)  # type: ignore[arg-type]
    ).all()
    entries = []
    for event, username in rows:
        detail = dict(event.detail or {})
        annotator = str(detail.get("annotator") or "")
        if user.role == "annotator" and annotator != user.username:
            continue
        entries.append(
            Entry(
                at=event.at,
                action=event.action,
                label=ACTIONS.get(event.action, event.action),
                by=username or "",
                annotator=annotator,
                detail=detail,
            )
        )
    return entries


def require_reviewer(user: User) -> None:
    if user.role not in ("admin", "reviewer"):
        raise Forbidden("only reviewers and admins may review and adjudicate")
