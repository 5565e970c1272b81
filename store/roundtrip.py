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
  (counted). Timestamps in the file (updated_at, submitted_at) are kept.
Everything is written in the caller's transaction; nothing is committed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from core.dialogue import ParsedItem
from store.models import Annotation, Classification, Dataset, OntologyClass, Result, User, utcnow
from store.ontology import import_ontology
from store.users import USERNAME


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


def _users(session: Session, names: set[str], counts: dict[str, int]) -> dict[str, int]:
    found = dict(
        session.execute(select(User.username, User.id).where(User.username.in_(sorted(names)))).all()
    )
    for name in sorted(names - set(found)):
        if not USERNAME.match(name):
            continue
        user = User(username=name, display_name=name, password_hash="", role="annotator", active=False)
        session.add(user)
        session.flush()
        found[name] = user.id  # type: ignore[assignment]
        counts["users_created"] += 1
    return found


def apply_native(
    *,
    session: Session,
    user: User | None,
    dataset: Dataset,
    ontology: dict[str, Any] | None,
    items: Iterable[tuple[int, ParsedItem]],
) -> dict[str, int]:
    """Merge `ontology` into `dataset`, then add the annotations of `items` ((item row id, ParsedItem) pairs)."""
    counts = dict.fromkeys(
        (
            "annotations",
            "results",
            "users_created",
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
    items = list(items)
    names = {a["annotator"] for _, parsed in items for a in parsed.annotations}
    if not names:
        return counts
    users = _users(session, names, counts)
    classes = dict(
        session.execute(
            select(OntologyClass.name, OntologyClass.id).where(OntologyClass.dataset_id == dataset.id)
        ).all()
    )
    questions = dict(
        session.execute(
            select(Classification.name, Classification.id).where(Classification.dataset_id == dataset.id)
        ).all()
    )
    item_ids = [item_id for item_id, _ in items]
    existing = set(
        session.execute(
            select(Annotation.item_id, Annotation.annotator_id).where(Annotation.item_id.in_(item_ids))
        ).all()
    ) if item_ids else set()  # fmt: skip
    rows: list[dict[str, Any]] = []
    pending: list[list[dict[str, Any]]] = []
    now = utcnow()
    for item_id, parsed in items:
        for ann in parsed.annotations:
            user_id = users.get(ann["annotator"])
            if user_id is None or (item_id, user_id) in existing:
                counts["skipped_annotations"] += 1
                continue
            existing.add((item_id, user_id))
            answers = {}
            for name, answer in (ann.get("classifications") or {}).items():
                if name in questions:
                    answers[str(questions[name])] = answer
                else:
                    counts["skipped_answers"] += 1
            updated = _when(ann.get("updated_at")) or now
            submitted = _when(ann.get("submitted_at"))
            if submitted is None and ann["status"] == "submitted":
                submitted = updated
            rows.append(
                {"item_id": item_id, "dataset_id": dataset.id, "annotator_id": user_id, "status": ann["status"],
                 "validity": ann.get("validity", "valid"), "invalid_reason": ann.get("invalid_reason") or "",
                 "classifications": answers, "version": 1, "created_at": updated, "updated_at": updated,
                 "submitted_at": submitted}
            )  # fmt: skip
            results, seen = [], set()
            for result in ann.get("results") or []:
                class_id = classes.get(result["class"])
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
    if not rows:
        return counts
    ids = session.execute(
        insert(Annotation).returning(Annotation.id, sort_by_parameter_order=True), rows
    ).scalars()
    result_rows = []
    for annotation_id, results in zip(ids, pending, strict=True):
        for r in results:
            r["annotation_id"] = annotation_id
            result_rows.append(r)
    if result_rows:
        session.execute(insert(Result), result_rows)
    counts["annotations"] = len(rows)
    counts["results"] = len(result_rows)
    session.flush()
    return counts
