"""Saved filters per dataset (`SavedFilter`): anyone who may see the dataset lists and uses them; admins and
reviewers save (the same name overwrites) and delete them; both are audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from core.filters import ItemFilter
from store.access import visible_dataset
from store.errors import Forbidden, InputError, NotFound
from store.filters import parse
from store.models import AuditEvent, SavedFilter, User


def _require_curator(user: User) -> None:
    if user.role not in ("admin", "reviewer"):
        raise Forbidden("only admins and reviewers may save or delete filters")


def list_filters(*, session: Session, user: User, dataset_id: int) -> list[SavedFilter]:
    """The dataset's saved filters, by name."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    query = select(SavedFilter).where(SavedFilter.dataset_id == dataset_id).order_by(SavedFilter.name)
    return list(session.execute(query).scalars())


def get_filter(*, session: Session, user: User, dataset_id: int, name: str) -> ItemFilter:
    """The saved filter `name` of the dataset; NotFound (naming the saved ones) when there is none."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    row = session.execute(
        select(SavedFilter).where(SavedFilter.dataset_id == dataset_id, SavedFilter.name == name)
    ).scalar_one_or_none()
    if row is None:
        names = session.execute(
            select(SavedFilter.name).where(SavedFilter.dataset_id == dataset_id).order_by(SavedFilter.name)
        ).scalars()
        known = ", ".join(map(repr, names)) or "none"
        raise NotFound(f"saved filter {name!r}: not found in this dataset (saved: {known})")
    return parse(row.spec)


def save_filter(*, session: Session, user: User, dataset_id: int, name: str, flt: ItemFilter) -> SavedFilter:
    """Save `flt` under `name` (the same name replaces it); admins and reviewers, audited."""
    _require_curator(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("filter name: 1 to 200 characters")
    spec = parse(flt.to_dict()).to_dict()
    row = session.execute(
        select(SavedFilter).where(SavedFilter.dataset_id == dataset_id, SavedFilter.name == name)
    ).scalar_one_or_none()
    before = row.spec if row is not None else None
    if row is None:
        row = SavedFilter(dataset_id=dataset_id, name=name, spec=spec, created_by=user.id)
    else:
        row.spec, row.created_by = spec, user.id
    session.add(row)
    detail = {"name": name, "after": spec} | ({"before": before} if before is not None else {})
    session.add(AuditEvent(user_id=user.id, dataset_id=dataset_id, action="filter.save", detail=detail))
    session.flush()
    return row


def delete_filter(*, session: Session, user: User, dataset_id: int, name: str) -> None:
    """Delete the saved filter `name`; admins and reviewers, audited."""
    _require_curator(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    row = session.execute(
        select(SavedFilter).where(SavedFilter.dataset_id == dataset_id, SavedFilter.name == name)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"saved filter {name!r}: not found in this dataset")
    session.add(
        AuditEvent(
            user_id=user.id,
            dataset_id=dataset_id,
            action="filter.delete",
            detail={"name": name, "before": row.spec},
        )
    )
    session.delete(row)
    session.flush()
