"""Ontology: a dataset's classes (Dialog Evaluation / Dialog Response) and classifications.

Rules every reader and writer of results relies on:
- Results point at classes by id (`Result.class_id`) and classification answers are keyed by
  `str(classification.id)` (`Annotation.classifications`), so renaming a class, its alias or a classification
  keeps every result. Renaming an attribute through `update_class(..., renamed_attributes={old: new})`
  rewrites the stored values' keys in the same transaction.
- Deleting a class or classification is a soft delete (`deleted_at`): the row stays, its results stay in the
  database, and **exports keep them under the class's (or classification's) name** — an export looks names
  up with `list_classes(..., include_deleted=True)`. `export_ontology(include_deleted=True)` lists deleted
  classes with `"deleted": true` so a native export re-imports whole; the ontology page and the JSON download
  show live classes only. A deleted class's number is free for a new class; its name stays taken (restore it,
  or import a class of that name, which revives it with its results).
- Deleting an option (or an attribute) never rewrites results: values that used it are kept as they were,
  and the deletion is recorded as an AuditEvent with how many results used it.
- Every deletion writes an AuditEvent whose `detail` holds the deleted thing's JSON and its result count.
- Changes are validated first (core.ontology.validate_ontology) and either all written or none.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from core.ontology import (
    Problem,
    errors,
    next_number,
    normalize_class,
    normalize_classification,
    validate_ontology,
)
from store import ontology_usage as usage
from store.access import require_admin
from store.errors import InputError, NotFound
from store.models import (
    AuditEvent,
    Classification,
    Dataset,
    Item,
    OntologyClass,
    Result,
    User,
    utcnow,
)

MODES = ("replace", "merge")


# ---------------------------------------------------------------- reads


def list_classes(*, session: Session, dataset_id: int, include_deleted: bool = False) -> list[OntologyClass]:
    """The dataset's classes by number."""
    query = select(OntologyClass).where(OntologyClass.dataset_id == dataset_id)
    if not include_deleted:
        query = query.where(OntologyClass.deleted_at == None)  # noqa: E711
    return list(session.exec(query.order_by(OntologyClass.number, OntologyClass.id)).all())


def list_classifications(
    *, session: Session, dataset_id: int, include_deleted: bool = False
) -> list[Classification]:
    """The dataset's item-level questions in their order."""
    query = select(Classification).where(Classification.dataset_id == dataset_id)
    if not include_deleted:
        query = query.where(Classification.deleted_at == None)  # noqa: E711
    return list(session.exec(query.order_by(Classification.position, Classification.id)).all())


def get_class(*, session: Session, class_id: int) -> OntologyClass:
    row = session.get(OntologyClass, class_id)
    if row is None:
        raise NotFound(f"class {class_id}: not found")
    return row


def get_classification(*, session: Session, classification_id: int) -> Classification:
    row = session.get(Classification, classification_id)
    if row is None:
        raise NotFound(f"classification {classification_id}: not found")
    return row


def class_to_dict(row: OntologyClass) -> dict[str, Any]:
    """The class in the ontology JSON shape (DESIGN.md)."""
    return normalize_class(
        {
            "name": row.name,
            "alias": row.alias,
            "number": row.number,
            "color": row.color,
            "tags": row.tags or [],
            "tool": row.tool,
            "targets": row.targets or ["bot"],
            "attributes": row.attributes or [],
            "role": row.role,
            "min_chars": row.min_chars,
            "max_chars": row.max_chars,
            "instruction": row.instruction,
            "deleted": row.deleted_at is not None,
        }
    )


def classification_to_dict(row: Classification) -> dict[str, Any]:
    settings = row.settings or {}
    return normalize_classification(
        {
            "name": row.name,
            "title": row.title,
            "type": row.type,
            "options": row.options or [],
            "required": row.required,
            **{k: v for k, v in settings.items() if k in ("allow_ties", "allow_tie", "strengths")},
            "deleted": row.deleted_at is not None,
        }
    )


def export_ontology(*, session: Session, dataset_id: int, include_deleted: bool = False) -> dict[str, Any]:
    """The dataset's ontology JSON: classes, classifications and guidelines (DESIGN.md shape)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id}: not found")
    classes = list_classes(session=session, dataset_id=dataset_id, include_deleted=include_deleted)
    questions = list_classifications(session=session, dataset_id=dataset_id, include_deleted=include_deleted)
    return {
        "classes": [class_to_dict(c) for c in classes],
        "classifications": [classification_to_dict(q) for q in questions],
        "guidelines": dataset.guidelines or "",
    }


def has_candidates(*, session: Session, dataset_id: int) -> bool:
    """Whether any item of the dataset has candidate replies (what ranking and pairwise compare)."""
    query = select(Item.id).where(Item.dataset_id == dataset_id, Item.models != "[]")
    return session.exec(query.limit(1)).first() is not None


def check_ontology(*, session: Session, dataset_id: int, data: Any) -> list[Problem]:
    """validate_ontology with the dataset's answer to "are there candidates?"."""
    return validate_ontology(data, has_candidates=has_candidates(session=session, dataset_id=dataset_id))


# ---------------------------------------------------------------- writes


def _audit(session: Session, user: User | None, dataset_id: int, action: str, detail: dict[str, Any]) -> None:
    session.add(
        AuditEvent(user_id=user.id if user else None, dataset_id=dataset_id, action=action, detail=detail)
    )


def _raise_errors(problems: list[Problem]) -> None:
    bad = errors(problems)
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise InputError("; ".join(str(p) for p in bad[:3]) + more)


def _dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id}: not found")
    return dataset


def _apply_class(row: OntologyClass, cls: dict[str, Any]) -> None:
    row.name = cls["name"]
    row.alias = cls["alias"]
    row.number = cls["number"]
    row.color = cls["color"]
    row.tags = cls["tags"]
    row.tool = cls["tool"]
    if cls["tool"] == "dialog_evaluation":
        row.targets, row.attributes = cls["targets"], cls["attributes"]
        row.role, row.min_chars, row.max_chars, row.instruction = None, None, None, ""
    else:
        row.targets, row.attributes = [cls["role"]], []
        row.role, row.min_chars, row.max_chars = cls["role"], cls["min_chars"], cls["max_chars"]
        row.instruction = cls["instruction"]


def _apply_classification(row: Classification, q: dict[str, Any]) -> None:
    row.name, row.title, row.type, row.required = q["name"], q["title"], q["type"], q["required"]
    row.options = q.get("options") or []
    row.settings = {k: q[k] for k in ("allow_ties", "allow_tie", "strengths") if k in q}


def _record_removed(session: Session, user: User, row: OntologyClass, cls: dict[str, Any]) -> None:
    for removed in usage.removed_usage(session=session, class_id=row.id, data=cls):
        action = "ontology.option_deleted" if removed["option"] is not None else "ontology.attribute_deleted"
        _audit(session, user, row.dataset_id, action, {"class": row.name, "class_id": row.id, **removed})


def _with_numbers(classes: list[dict[str, Any]], taken: list[int]) -> list[dict[str, Any]]:
    """Give classes without a number the next free ones (in their order)."""
    used = [
        *taken,
        *(c["number"] for c in classes if isinstance(c.get("number"), int) and not c.get("deleted")),
    ]
    out = []
    for cls in classes:
        if cls.get("number") is None:
            number = next_number(used)
            used.append(number)
            cls = {**cls, "number": number}
        out.append(cls)
    return out


def create_class(*, session: Session, user: User, dataset_id: int, data: dict[str, Any]) -> OntologyClass:
    """Add a class to the dataset; a missing number gets the next free one. InputError names the field."""
    require_admin(user)
    _dataset(session, dataset_id)
    live = [class_to_dict(c) for c in list_classes(session=session, dataset_id=dataset_id)]
    data = _with_numbers([data], [c["number"] for c in live])[0]
    _raise_errors(validate_ontology({"classes": [*live, data]}))
    deleted = session.exec(
        select(OntologyClass).where(
            OntologyClass.dataset_id == dataset_id, OntologyClass.name == data["name"]
        )
    ).first()
    if deleted is not None:
        raise InputError(
            f"class {data['name']!r}, field name: a deleted class has this name; restore it or choose another name"
        )
    row = OntologyClass(dataset_id=dataset_id, name=data["name"], tool=data["tool"], position=data["number"])
    _apply_class(row, normalize_class(data))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def update_class(
    *,
    session: Session,
    user: User,
    class_id: int,
    data: dict[str, Any],
    renamed_attributes: dict[str, str] | None = None,
) -> OntologyClass:
    """Change a class; its results stay (they point at its id). Renamed attributes carry their values.

    Options or attributes removed while results use them are recorded (AuditEvent); the values stay.
    """
    require_admin(user)
    row = get_class(session=session, class_id=class_id)
    others = [
        class_to_dict(c) for c in list_classes(session=session, dataset_id=row.dataset_id) if c.id != row.id
    ]
    data = _with_numbers([data], [c["number"] for c in others])[0]
    _raise_errors(validate_ontology({"classes": [*others, data]}))
    clash = session.exec(
        select(OntologyClass).where(
            OntologyClass.dataset_id == row.dataset_id,
            OntologyClass.name == data["name"],
            OntologyClass.id != row.id,
        )
    ).first()
    if clash is not None:
        raise InputError(
            f"class {data['name']!r}, field name: a deleted class has this name; choose another name"
        )
    renamed = {old: new for old, new in (renamed_attributes or {}).items() if old != new}
    if renamed:
        for result in session.exec(select(Result).where(Result.class_id == row.id)).all():
            values = dict(result.values or {})
            if any(old in values for old in renamed):
                result.values = {renamed.get(k, k): v for k, v in values.items()}
                session.add(result)
        session.flush()
    _record_removed(session, user, row, data)
    _apply_class(row, normalize_class(data))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def delete_class(*, session: Session, user: User, class_id: int) -> int:
    """Soft-delete a class; its results are kept. Returns how many results use it (recorded in the audit)."""
    require_admin(user)
    row = get_class(session=session, class_id=class_id)
    if row.deleted_at is not None:
        return 0
    n = usage.result_counts(session=session, dataset_id=row.dataset_id).get(row.id, 0)
    _audit(
        session,
        user,
        row.dataset_id,
        "ontology.class_deleted",
        {"class": class_to_dict(row), "id": row.id, "results": n},
    )
    row.deleted_at = utcnow()
    session.add(row)
    session.commit()
    return n


def restore_class(*, session: Session, user: User, class_id: int) -> OntologyClass:
    """Bring a deleted class back with its results; its number must still be free."""
    require_admin(user)
    row = get_class(session=session, class_id=class_id)
    live = [class_to_dict(c) for c in list_classes(session=session, dataset_id=row.dataset_id)]
    mine = {**class_to_dict(row), "deleted": False}
    if any(c["number"] == row.number for c in live):
        mine["number"] = next_number([c["number"] for c in live])
    _raise_errors(validate_ontology({"classes": [*live, mine]}))
    row.number = mine["number"]
    row.deleted_at = None
    _audit(session, user, row.dataset_id, "ontology.class_restored", {"class": row.name, "id": row.id})
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def create_classification(
    *, session: Session, user: User, dataset_id: int, data: dict[str, Any]
) -> Classification:
    require_admin(user)
    _dataset(session, dataset_id)
    rows = list_classifications(session=session, dataset_id=dataset_id)
    live = [classification_to_dict(q) for q in rows]
    _raise_errors(
        check_ontology(session=session, dataset_id=dataset_id, data={"classifications": [*live, data]})
    )
    taken = session.exec(
        select(Classification).where(
            Classification.dataset_id == dataset_id, Classification.name == data["name"]
        )
    ).first()
    if taken is not None:
        raise InputError(
            f"classification {data['name']!r}, field name: a deleted classification has this name"
        )
    position = max((q.position for q in rows), default=0) + 1
    row = Classification(dataset_id=dataset_id, name=data["name"], type=data["type"], position=position)
    _apply_classification(row, normalize_classification(data))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def update_classification(
    *, session: Session, user: User, classification_id: int, data: dict[str, Any]
) -> Classification:
    """Change a classification; answers stay (keyed by its id). Removed options that answers use are recorded."""
    require_admin(user)
    row = get_classification(session=session, classification_id=classification_id)
    others = [
        classification_to_dict(q)
        for q in list_classifications(session=session, dataset_id=row.dataset_id)
        if q.id != row.id
    ]
    _raise_errors(validate_ontology({"classifications": [*others, data]}))
    clash = session.exec(
        select(Classification).where(
            Classification.dataset_id == row.dataset_id,
            Classification.name == data["name"],
            Classification.id != row.id,
        )
    ).first()
    if clash is not None:
        raise InputError(
            f"classification {data['name']!r}, field name: a deleted classification has this name"
        )
    for removed in usage.removed_answer_usage(session=session, classification_id=row.id, data=data):
        _audit(
            session,
            user,
            row.dataset_id,
            "ontology.option_deleted",
            {"classification": row.name, "classification_id": row.id, **removed},
        )
    _apply_classification(row, normalize_classification(data))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def move_classification(*, session: Session, user: User, classification_id: int, step: int) -> None:
    """Move a classification up (step -1) or down (+1) in the order annotators see."""
    require_admin(user)
    row = get_classification(session=session, classification_id=classification_id)
    rows = list_classifications(session=session, dataset_id=row.dataset_id)
    i = next(k for k, q in enumerate(rows) if q.id == row.id)
    j = i + step
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
        for position, q in enumerate(rows, start=1):
            q.position = position
            session.add(q)
        session.commit()


def delete_classification(*, session: Session, user: User, classification_id: int) -> int:
    """Soft-delete a classification; answers are kept. Returns how many annotations answered it."""
    require_admin(user)
    row = get_classification(session=session, classification_id=classification_id)
    if row.deleted_at is not None:
        return 0
    n = usage.answer_counts(session=session, dataset_id=row.dataset_id).get(row.id, 0)
    detail = {"classification": classification_to_dict(row), "id": row.id, "answers": n}
    _audit(session, user, row.dataset_id, "ontology.classification_deleted", detail)
    row.deleted_at = utcnow()
    session.add(row)
    session.commit()
    return n


def set_guidelines(*, session: Session, user: User, dataset_id: int, text: str) -> None:
    """The dataset's annotation guidelines (markdown), shown on the tool pages."""
    require_admin(user)
    dataset = _dataset(session, dataset_id)
    dataset.guidelines = text
    session.add(dataset)
    session.commit()


def import_ontology(
    *,
    session: Session,
    user: User | None,
    dataset_id: int,
    data: Any,
    mode: str = "replace",
    commit: bool = True,
) -> dict[str, Any]:
    """Load an ontology JSON into the dataset, all or nothing; returns counts and warnings.

    Classes and classifications are matched by name, so results of a matched class are kept (its id stays).
    "replace": what is not in `data` is soft-deleted (recorded); "guidelines" replace the dataset's if given.
    "merge": what is not in `data` stays; guidelines are replaced only by non-empty ones.
    A class named like a deleted class revives it with its results. Entries marked "deleted": true (a native
    export's) are only added, deleted, where the dataset has no such name; they never delete or change a class.
    `user` None: the CLI (the operator). Commits, unless `commit` is False: then the rows are only flushed
    and the caller's transaction decides (a native import writes the ontology and the items in one).
    """
    if user is not None:
        require_admin(user)
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: must be replace or merge")
    dataset = _dataset(session, dataset_id)
    _raise_errors(validate_ontology(data))
    rows = {c.name: c for c in list_classes(session=session, dataset_id=dataset_id, include_deleted=True)}
    qrows = {
        q.name: q for q in list_classifications(session=session, dataset_id=dataset_id, include_deleted=True)
    }
    # A class the file marks deleted (a native export's) never deletes or changes one the dataset has:
    # it is only added, deleted, when the dataset has no class of that name (so its results can attach).
    incoming = [c for c in data.get("classes") or [] if not (c.get("deleted") and c["name"] in rows)]
    names = {c["name"] for c in incoming if not c.get("deleted")}
    kept = [] if mode == "replace" else [
        class_to_dict(r) for r in rows.values() if r.deleted_at is None and r.name not in names
    ]  # fmt: skip
    incoming = _with_numbers(incoming, [c["number"] for c in kept])
    questions = [
        q for q in data.get("classifications") or [] if not (q.get("deleted") and q["name"] in qrows)
    ]
    qnames = {q["name"] for q in questions if not q.get("deleted")}
    qkept = [] if mode == "replace" else [
        classification_to_dict(r) for r in qrows.values() if r.deleted_at is None and r.name not in qnames
    ]  # fmt: skip
    # Validate what the dataset will hold, so a merge cannot leave two classes with one number.
    problems = check_ontology(
        session=session,
        dataset_id=dataset_id,
        data={"classes": [*kept, *incoming], "classifications": [*qkept, *questions]},
    )
    _raise_errors(problems)
    summary: dict[str, Any] = {"created": 0, "updated": 0, "deleted": 0, "classifications_created": 0}
    summary |= {"classifications_updated": 0, "classifications_deleted": 0}
    summary["warnings"] = [str(p) for p in problems if p.level == "warning"]
    now = utcnow()
    counts = usage.result_counts(session=session, dataset_id=dataset_id)
    for cls in incoming:
        norm = normalize_class(cls)
        row = rows.get(cls["name"])
        if row is None:
            row = OntologyClass(dataset_id=dataset_id, name=norm["name"], tool=norm["tool"])
            summary["created"] += 1
        else:
            if row.deleted_at is None:
                _record_removed(session, user, row, norm)  # type: ignore[arg-type]
            summary["updated"] += 1
        _apply_class(row, norm)
        row.position = norm["number"]
        row.deleted_at = now if norm.get("deleted") else None
        session.add(row)
    if mode == "replace":
        for row in rows.values():
            if row.name not in names and row.deleted_at is None:
                detail = {"class": class_to_dict(row), "id": row.id, "results": counts.get(row.id, 0)}
                _audit(session, user, dataset_id, "ontology.class_deleted", detail)
                row.deleted_at = now
                session.add(row)
                summary["deleted"] += 1
    position = max((q.position for q in qrows.values()), default=0)
    answers = usage.answer_counts(session=session, dataset_id=dataset_id)
    for q in questions:
        norm = normalize_classification(q)
        row = qrows.get(q["name"])
        if row is None:
            position += 1
            row = Classification(
                dataset_id=dataset_id, name=norm["name"], type=norm["type"], position=position
            )
            summary["classifications_created"] += 1
        else:
            summary["classifications_updated"] += 1
        _apply_classification(row, norm)
        row.deleted_at = now if norm.get("deleted") else None
        session.add(row)
    if mode == "replace":
        order = {name: i for i, name in enumerate(q["name"] for q in questions if q["name"] in qnames)}
        for row in qrows.values():
            if row.name in order:
                row.position = order[row.name] + 1
            elif row.deleted_at is None:
                detail = {
                    "classification": classification_to_dict(row),
                    "id": row.id,
                    "answers": answers.get(row.id, 0),
                }
                _audit(session, user, dataset_id, "ontology.classification_deleted", detail)
                row.deleted_at = now
                summary["classifications_deleted"] += 1
            session.add(row)
    guidelines = data.get("guidelines")
    if guidelines is not None and (mode == "replace" or guidelines):
        dataset.guidelines = guidelines
        session.add(dataset)
    _audit(session, user, dataset_id, "ontology.imported", {"mode": mode, **summary})
    if commit:
        session.commit()
    else:
        session.flush()
    return summary


def copy_ontology(
    *, session: Session, user: User, from_dataset_id: int, to_dataset_id: int, mode: str = "replace"
) -> dict[str, Any]:
    """Copy one dataset's classes, classifications and guidelines into another (import_ontology rules)."""
    require_admin(user)
    if from_dataset_id == to_dataset_id:
        raise InputError("copy ontology: choose a different dataset to copy from")
    data = export_ontology(session=session, dataset_id=from_dataset_id)
    return import_ontology(session=session, user=user, dataset_id=to_dataset_id, data=data, mode=mode)
