"""The team workflow in exports: review state, final answers and item history read for the export items.

store/export_read.py reads these beside each batch's annotations; core/export/native.py writes them. Work kept by
the store (a fix's `original`, the history's before/after) names classes and classifications by id; an
export names them (ids differ between installs), as the results of the annotations do.

- Review columns of an annotation become `final`, `needs_review`, `review` {by, reason, rounds, at},
  `original` and `seconds` on the export annotation (left out where empty).
- History: the item's AuditEvent rows (store/team/history.py), oldest first, each as {at, action, by,
  annotator, status, reason, rounds, before, after} (left out where empty). With an annotator filter only
  those annotators' entries are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson
from sqlalchemy import Text, cast, select

from store.models import Annotation, AuditEvent

HISTORY_DETAIL = ("status", "reason", "rounds")  # the detail keys an export entry carries (besides work)


class Names(Protocol):
    users: dict[int, str]
    classes: dict[int, str]
    questions: dict[str, str]


def review_columns(stamp: Callable[[Any], Any]) -> list[Any]:
    """The annotation columns the export reads for review state (after the ones store/export_read.py reads)."""
    return [
        Annotation.final,
        Annotation.needs_review,
        Annotation.reviewer_id,
        Annotation.review_reason,
        Annotation.review_rounds,
        stamp(Annotation.reviewed_at),
        cast(Annotation.original, Text),
        Annotation.active_seconds,
    ]


def named_work(work: dict[str, Any], names: Names) -> dict[str, Any]:
    """Stored work (class ids, classification ids) with classes and classifications by name."""
    results = []
    for r in work.get("results") or []:
        class_id = int(r.get("class_id", 0))
        results.append({**r, "class": names.classes.get(class_id) or f"class{class_id}"})
    answers = work.get("classifications") or {}
    return {
        "validity": work.get("validity", "valid"),
        "invalid_reason": work.get("invalid_reason") or "",
        "classifications": {names.questions[k]: v for k, v in answers.items() if k in names.questions},
        "results": results,
    }


def review_fields(row: Any, names: Names, iso: Callable[[Any], str | None]) -> dict[str, Any]:
    """The export annotation's review keys from the review_columns() values of one row."""
    final, waiting, reviewer_id, reason, rounds, reviewed_at, original, seconds = row
    out: dict[str, Any] = {}
    if final:
        out["final"] = True
    if waiting:
        out["needs_review"] = True
    if reviewer_id is not None or rounds or reason:
        review: dict[str, Any] = {}
        if reviewer_id is not None:
            review["by"] = names.users.get(reviewer_id) or f"user{reviewer_id}"
        if reason:
            review["reason"] = reason
        review["rounds"] = int(rounds or 0)
        if reviewed_at is not None:
            review["at"] = iso(reviewed_at)
        out["review"] = review
    if original is not None:
        work = orjson.loads(original) if isinstance(original, str | bytes) else original
        if work:
            out["original"] = named_work(work, names)
    if seconds:
        out["seconds"] = float(seconds)
    return out


def history_query(dataset_id: int, item_ids: Any, stamp: Callable[[Any], Any]) -> Any:
    """The history rows of the items `item_ids` (a subquery), by item, oldest first."""
    return (
        select(
            AuditEvent.item_id,
            stamp(AuditEvent.at),
            AuditEvent.action,
            AuditEvent.user_id,
            cast(AuditEvent.detail, Text),
        )
        .where(AuditEvent.dataset_id == dataset_id, AuditEvent.item_id.in_(item_ids))
        .order_by(AuditEvent.item_id, AuditEvent.id)
    )


def history_entries(
    rows: Iterable[Any], names: Names, iso: Callable[[Any], str | None], annotators: set[str] | None
) -> dict[int, list[dict[str, Any]]]:
    """Item id → its history entries in export form, from history_query()'s rows."""
    found: dict[int, list[dict[str, Any]]] = {}
    for item_id, at, action, user_id, raw in rows:
        detail = orjson.loads(raw) if isinstance(raw, str | bytes) else (raw or {})
        detail = detail or {}
        annotator = detail.get("annotator")
        if annotators is not None and annotator not in annotators:
            continue
        entry: dict[str, Any] = {"at": iso(at), "action": action}
        if user_id is not None:
            entry["by"] = names.users.get(user_id) or f"user{user_id}"
        if annotator:
            entry["annotator"] = annotator
        for key in HISTORY_DETAIL:
            if detail.get(key) not in (None, ""):
                entry[key] = detail[key]
        for key in ("before", "after"):
            if isinstance(detail.get(key), dict):
                entry[key] = named_work(detail[key], names)
        found.setdefault(item_id, []).append(entry)
    return found
