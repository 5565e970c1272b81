"""Who may see what: every data function that takes a user goes through these checks."""

from __future__ import annotations

from sqlalchemy import exists
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


def can_see_asset(*, session: Session, user: User, asset_id: str) -> bool:
    """Whether `user` may see an image: unless it is shown by an item of a restricted dataset they are not a
    member of and by no item of a dataset they may see. Only the hidden datasets' items are searched (by
    their dataset index) in the usual case, so a user who may see every dataset costs one query."""
    if user.role == "admin":
        return True
    member = exists().where(DatasetMember.dataset_id == Dataset.id, DatasetMember.user_id == user.id)
    hidden = list(session.exec(select(Dataset.id).where(Dataset.restricted == True, ~member)).all())  # noqa: E712
    if not hidden:
        return True

    def shown_in(where) -> bool:  # type: ignore[no-untyped-def]
        shows = Item.assets.contains(asset_id, autoescape=True)
        return session.exec(select(Item.id).where(where, shows).limit(1)).first() is not None

    return not shown_in(Item.dataset_id.in_(hidden)) or shown_in(Item.dataset_id.not_in(hidden))


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("only admins may change datasets and ontologies")
