"""Apply what a native file carries besides items: its ontology and its annotations (store.importer calls it).

Decisions:
- The ontology in the header is merged into the dataset (store.ontology.import_ontology, mode "merge":
  classes are matched by name, nothing the dataset already has is deleted).
- Annotators are matched by username. An annotator missing here is **created inactive with no usable
  password** (role annotator), so the annotations keep their author and a round trip is lossless; an admin
  can activate the account and set a password on the Team page. A username that is not valid here skips
  that annotation (counted).
- An item that already has an annotation by that annotator keeps it; the file's is skipped (counted).
- Results of a class the dataset does not know, and answers to unknown classifications, are skipped
  (counted). Timestamps in the file (updated_at, submitted_at, the review's) are kept.
- Team workflow (files written since the review workflow; older files carry none of it): review state,
  a fix's original work, active seconds and the final answer (one per item: a file's final is skipped
  where the item has one) are stored as the file says. A reviewer missing here is created inactive like a
  missing annotator, with the reviewer role. The item's history entries are appended to this dataset's
  history with their original times and authors (a missing author is created the same way); entries name
  their annotator, and are linked to that annotator's annotation of the item where it was imported.
  The items' overlap slots (Item.taken / full) are counted from the imported work.
Everything is written in the caller's transaction; nothing is committed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from core.dialogue import ParsedItem
from core.formats.native import HISTORY_ENTRY
from store import annotation_values
from store.filters import refresh_disagree
from store.models import (
    Annotation,
    AuditEvent,
    Classification,
    Dataset,
    Item,
    OntologyClass,
    Result,
    User,
    utcnow,
)
from store.ontology import import_ontology
from store.team.settings import overlap_of, team_settings
from store.users import USERNAME

CLAIMING = ("submitted", "accepted", "rejected")  # statuses that hold an overlap slot (store/team/queue.py)
REVIEW_ACTIONS = ("accepted", "rejected", "fixed", "finalised")  # history actions only reviewers take
# History actions recorded on an annotation (the others, leases and skips, are the item's).
ON_ANNOTATION = ("draft", "saved", "submitted", "accepted", "rejected", "fixed", "finalised", "deleted")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _slot(result: dict[str, Any]) -> str:
    if result.get("message") is not None:
        return f"m{int(result['message'])}"
    if result.get("candidate") is not None:
        return f"c{int(result['candidate'])}"
    return "r"


def _users(session: Session, names: set[str], reviewers: set[str], counts: dict[str, int]) -> dict[str, int]:
    found = dict(
        session.execute(select(User.username, User.id).where(User.username.in_(sorted(names)))).all()
    )
    for name in sorted(names - set(found)):
        if not USERNAME.match(name):
            continue
        role = "reviewer" if name in reviewers else "annotator"
        user = User(username=name, display_name=name, password_hash="", role=role, active=False)
        session.add(user)
        session.flush()
        found[name] = user.id  # type: ignore[assignment]
        counts["users_created"] += 1
    return found


def _split(parsed: ParsedItem) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The item's annotations and its history (carried as the last entry, see core/formats/native.py)."""
    annotations, history = [], []
    for entry in parsed.annotations:
        if HISTORY_ENTRY in entry and "annotator" not in entry:
            history.extend(entry[HISTORY_ENTRY])
        else:
            annotations.append(entry)
    return annotations, history


class _Ids:
    """Names in the file → this dataset's class and classification ids."""

    def __init__(self, session: Session, dataset_id: int) -> None:
        self.classes = dict(
            session.execute(
                select(OntologyClass.name, OntologyClass.id).where(OntologyClass.dataset_id == dataset_id)
            ).all()
        )
        self.questions = dict(
            session.execute(
                select(Classification.name, Classification.id).where(Classification.dataset_id == dataset_id)
            ).all()
        )

    def work(self, work: dict[str, Any]) -> dict[str, Any]:
        """A work from the file (names) as the store keeps it (store/annotations.py: ids); unknown classes
        and classifications are left out."""
        results = []
        for r in work.get("results") or []:
            class_id = self.classes.get(r.get("class"))
            if class_id is None:
                continue
            results.append(
                {"class_id": class_id, "message": r.get("message"), "candidate": r.get("candidate"),
                 "values": dict(r.get("values") or {}), "text": r.get("text"), "role": r.get("role"),
                 "source_text": r.get("source_text")}
            )  # fmt: skip
        answers = work.get("classifications") or {}
        return {
            "validity": work.get("validity", "valid"),
            "invalid_reason": work.get("invalid_reason") or "",
            "classifications": {str(self.questions[k]): v for k, v in answers.items() if k in self.questions},
            "results": results,
        }


def apply_native(
    *,
    session: Session,
    user: User | None,
    dataset: Dataset,
    ontology: dict[str, Any] | None,
    items: Iterable[tuple[int, ParsedItem]],
) -> dict[str, int]:
    """Merge `ontology` into `dataset`, then add the annotations and history of `items` ((item row id,
    ParsedItem) pairs)."""
    counts = dict.fromkeys(
        (
            "annotations",
            "results",
            "users_created",
            "history",
            "skipped_annotations",
            "skipped_results",
            "skipped_answers",
        ),
        0,
    )
    if ontology:
        # Flushed, not committed: the importer's one transaction decides (a failed import leaves nothing).
        import_ontology(
            session=session, user=user, dataset_id=dataset.id, data=ontology, mode="merge", commit=False
        )
    items = [(item_id, *_split(parsed)) for item_id, parsed in items]
    names: set[str] = set()
    reviewers: set[str] = set()
    for _, anns, history in items:
        for ann in anns:
            names.add(ann["annotator"])
            if ann.get("final"):
                reviewers.add(ann["annotator"])
            by = (ann.get("review") or {}).get("by")
            if by:
                names.add(by)
                reviewers.add(by)
        for entry in history:
            if entry.get("by"):
                names.add(entry["by"])
                if entry.get("action") in REVIEW_ACTIONS:
                    reviewers.add(entry["by"])
    if not names and not any(history for _, _, history in items):
        return counts
    users = _users(session, names, reviewers, counts)
    ids = _Ids(session, dataset.id)
    item_ids = [item_id for item_id, _, _ in items]
    existing = set(
        session.execute(
            select(Annotation.item_id, Annotation.annotator_id, Annotation.final).where(
                Annotation.item_id.in_(item_ids)
            )
        ).all()
    ) if item_ids else set()  # fmt: skip
    has_final = {item_id for item_id, _, final in existing if final}
    existing = {(item_id, user_id, bool(final)) for item_id, user_id, final in existing}
    rows: list[dict[str, Any]] = []
    pending: list[list[dict[str, Any]]] = []
    now = utcnow()
    for item_id, anns, _ in items:
        for ann in anns:
            user_id = users.get(ann["annotator"])
            final = bool(ann.get("final"))
            if user_id is None or (item_id, user_id, final) in existing or (final and item_id in has_final):
                counts["skipped_annotations"] += 1
                continue
            existing.add((item_id, user_id, final))
            if final:
                has_final.add(item_id)
            answers = {}
            for name, answer in (ann.get("classifications") or {}).items():
                if name in ids.questions:
                    answers[str(ids.questions[name])] = answer
                else:
                    counts["skipped_answers"] += 1
            updated = _when(ann.get("updated_at")) or now
            submitted = _when(ann.get("submitted_at"))
            if submitted is None and ann["status"] in CLAIMING:
                submitted = updated
            review = ann.get("review") or {}
            original = ann.get("original")
            rows.append(
                {"item_id": item_id, "dataset_id": dataset.id, "annotator_id": user_id, "status": ann["status"],
                 "validity": ann.get("validity", "valid"), "invalid_reason": ann.get("invalid_reason") or "",
                 "classifications": answers, "version": 1, "created_at": updated, "updated_at": updated,
                 "submitted_at": submitted, "final": final, "needs_review": bool(ann.get("needs_review")),
                 "reviewer_id": users.get(review["by"]) if review.get("by") else None,
                 "review_reason": review.get("reason") or "", "review_rounds": int(review.get("rounds") or 0),
                 "reviewed_at": _when(review.get("at")), "original": ids.work(original) if original else None,
                 "active_seconds": float(ann.get("seconds") or 0)}
            )  # fmt: skip
            results, seen = [], set()
            for result in ann.get("results") or []:
                class_id = ids.classes.get(result["class"])
                key = (class_id, _slot(result))
                if class_id is None or key in seen:
                    counts["skipped_results"] += 1
                    continue
                seen.add(key)
                results.append(
                    {"class_id": class_id, "slot": key[1], "message_index": result.get("message"),
                     "candidate_index": result.get("candidate"), "values": result.get("values") or {},
                     "text": result.get("text"), "role": result.get("role"),
                     "source_text": result.get("source_text"), "created_at": updated}
                )  # fmt: skip
            pending.append(results)
    made: dict[tuple[int, int, bool], int] = {}
    if rows:
        new_ids = session.execute(
            insert(Annotation).returning(Annotation.id, sort_by_parameter_order=True), rows
        ).scalars()
        result_rows, value_rows = [], []
        for annotation_id, row, results in zip(new_ids, rows, pending, strict=True):
            made[(row["item_id"], row["annotator_id"], row["final"])] = annotation_id
            for r in results:
                r["annotation_id"] = annotation_id
                result_rows.append(r)
            if row["status"] != "draft":  # (a draft's work is not what the filters read: annotation_values)
                pairs = [(r["class_id"], r["values"]) for r in results]
                ann = (annotation_id, dataset.id, row["item_id"])
                value_rows += annotation_values.rows_of(ann, pairs, row["classifications"])
        if result_rows:
            session.execute(insert(Result), result_rows)
        annotation_values.insert_rows(session.connection(), value_rows)
        counts["annotations"] = len(rows)
        counts["results"] = len(result_rows)
        _count_slots(session, dataset, rows)
        refresh_disagree(session, [row["item_id"] for row in rows if not row["final"]])
    counts["history"] = _add_history(session, dataset, items, users, ids, made, now)
    session.flush()
    return counts


def _add_history(
    session: Session,
    dataset: Dataset,
    items: list[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]],
    users: dict[str, int],
    ids: _Ids,
    made: dict[tuple[int, int, bool], int],
    now: datetime,
) -> int:
    """Append the items' history entries as this dataset's history rows (times and authors kept)."""
    events = []
    for item_id, _, history in items:
        for entry in history:
            detail: dict[str, Any] = {}
            annotator = entry.get("annotator")
            if annotator:
                detail["annotator"] = annotator
            for key in ("status", "reason", "rounds"):
                if entry.get(key) not in (None, ""):
                    detail[key] = entry[key]
            for key in ("before", "after"):
                if entry.get(key) is not None:
                    detail[key] = ids.work(entry[key])
            action = str(entry["action"])[:64]
            annotation_id = None
            if action in ON_ANNOTATION and annotator in users:
                annotation_id = made.get((item_id, users[annotator], action == "finalised"))
            events.append(
                {"at": _when(entry.get("at")) or now, "user_id": users.get(entry["by"]) if entry.get("by") else None,
                 "dataset_id": dataset.id, "item_id": item_id, "annotation_id": annotation_id, "action": action,
                 "detail": detail}
            )  # fmt: skip
    if events:
        session.execute(insert(AuditEvent), events)
    return len(events)


def _count_slots(session: Session, dataset: Dataset, rows: list[dict[str, Any]]) -> None:
    """Item.taken / full of the imported items: their annotators with submitted, accepted or rejected work
    (new items: no leases yet). See store/team/queue.py."""
    holders: dict[int, set[int]] = {}
    for row in rows:
        if not row["final"] and row["status"] in CLAIMING:
            holders.setdefault(row["item_id"], set()).add(row["annotator_id"])
    if not holders:
        return
    limit = None if team_settings(dataset).overlap is None else overlap_of(session=session, dataset=dataset)
    table = Item.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(taken=bindparam("b_taken"), full=bindparam("b_full")),
        [
            {"b_id": item_id, "b_taken": len(who), "b_full": limit is not None and len(who) >= limit}
            for item_id, who in holders.items()
        ],
    )
