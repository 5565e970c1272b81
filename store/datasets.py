"""Datasets: create, list, and who may see them."""

from __future__ import annotations

from sqlalchemy import exists, or_
from sqlmodel import Session, delete, select

from store.errors import Forbidden, InputError, NotFound
from store.models import AuditEvent, Dataset, DatasetMember, User


def create_dataset(
    *, session: Session, name: str, description: str = "", created_by: int | None = None
) -> Dataset:
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("dataset name: 1 to 200 characters")
    if session.exec(select(Dataset).where(Dataset.name == name)).first():
        raise InputError(f"dataset name {name!r}: already exists")
    dataset = Dataset(name=name, description=description, created_by=created_by, settings={})
    session.add(dataset)
    session.flush()
    return dataset


def visible_datasets_query(user: User):  # type: ignore[no-untyped-def]
    """Datasets `user` may see: all for admins; open or member-of for reviewers and annotators."""
    query = select(Dataset).order_by(Dataset.name)
    if user.role == "admin":
        return query
    member = exists().where(DatasetMember.dataset_id == Dataset.id, DatasetMember.user_id == user.id)
    return query.where(or_(Dataset.restricted == False, member))  # noqa: E712


def list_datasets(*, session: Session, user: User | None = None) -> list[Dataset]:
    """Datasets visible to `user`; every dataset when `user` is None (CLI, run by the operator)."""
    query = select(Dataset).order_by(Dataset.name) if user is None else visible_datasets_query(user)
    return list(session.exec(query).all())


def get_dataset(*, session: Session, name: str, user: User | None = None) -> Dataset:
    query = (
        select(Dataset).where(Dataset.name == name)
        if user is None
        else visible_datasets_query(user).where(Dataset.name == name)
    )
    dataset = session.exec(query).first()
    if dataset is None:
        raise NotFound(f"dataset {name!r}: not found")
    return dataset


# ---------------------------------------------------------------- membership (admins restrict a dataset)


def dataset_members(*, session: Session, dataset_id: int) -> list[str]:
    """Usernames of the members of a dataset (they matter only while it is restricted)."""
    rows = session.exec(
        select(User.username)
        .join(DatasetMember, DatasetMember.user_id == User.id)
        .where(DatasetMember.dataset_id == dataset_id)
        .order_by(User.username)
    ).all()
    return list(rows)


def set_dataset_members(
    *, session: Session, user: User, dataset_id: int, usernames: list[str], restricted: bool
) -> Dataset:
    """Restrict a dataset to named members (or open it to every annotator again); admins only."""
    if user.role != "admin":
        raise Forbidden("only admins may change datasets and ontologies")
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id}: not found")
    wanted = sorted(set(usernames))
    found = session.exec(select(User).where(User.username.in_(wanted))).all() if wanted else []  # type: ignore[attr-defined]
    unknown = sorted(set(wanted) - {u.username for u in found})
    if unknown:
        raise InputError(f"members: no user named {', '.join(map(repr, unknown))}")
    session.exec(delete(DatasetMember).where(DatasetMember.dataset_id == dataset_id))  # type: ignore[call-overload]
    for member in found:
        session.add(DatasetMember(dataset_id=dataset_id, user_id=member.id))  # type: ignore[arg-type]
    dataset.restricted = restricted
    session.add(dataset)
    session.add(
        AuditEvent(
            user_id=user.id,
            dataset_id=dataset_id,
            action="dataset.members",
            detail={"restricted": restricted, "members": wanted},
        )
    )
    session.flush()
    return dataset
