"""Who may see what: every data function that takes a user goes through these checks."""

from __future__ import annotations

from sqlmodel import Session, select

from store.errors import Forbidden, NotFound
from store.models import Dataset, DatasetMember, Item, User


def can_see_dataset(*, session: Session, user: User, dataset: Dataset) -> bool:
    # Admins see everything; reviewers and annotators the open datasets and those they are members of.
    if user.role == "admin" or not dataset.restricted:
        return True
    member = session.exec(
        select(DatasetMember).where(DatasetMember.dataset_id == dataset.id, DatasetMember.user_id == user.id)
    ).first()
    return member is not None


def visible_dataset(*, session: Session, user: User, dataset_id: int) -> Dataset:
    """The dataset if `user` may see it; NotFound otherwise (the same answer as for a missing id)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or not can_see_dataset(session=session, user=user, dataset=dataset):
        raise NotFound(f"dataset {dataset_id}: not found")
    return dataset


def visible_item(*, session: Session, user: User, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id}: not found")
    visible_dataset(session=session, user=user, dataset_id=item.dataset_id)
    return item


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("only admins may change datasets and ontologies")
