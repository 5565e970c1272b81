"""Helpers that build test data through the store's own functions."""

from __future__ import annotations

from sqlmodel import Session

from store.datasets import create_dataset
from store.models import Dataset, User
from store.users import create_user


def make_user(
    session: Session, username: str = "alice", role: str = "annotator", password: str = "password1"
) -> User:
    user = create_user(session=session, username=username, password=password, role=role)
    session.commit()
    return user


def make_dataset(session: Session, name: str = "demo", **kw) -> Dataset:  # type: ignore[no-untyped-def]
    dataset = create_dataset(session=session, name=name, **kw)
    session.commit()
    return dataset
