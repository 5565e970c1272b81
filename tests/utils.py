"""Helpers that build test data through the store's own functions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from store.datasets import create_dataset
from store.db import make_engine, upgrade
from store.models import Dataset, User
from store.users import create_user

ROOT = Path(__file__).resolve().parent.parent


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


def store_cli(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """`python -m store ARGS` as a user runs it, in its own process, with `env` (DATABASE_URL, PARLEY_BLOBS)."""
    return subprocess.run(
        [sys.executable, "-m", "store", *args], input=input, capture_output=True, text=True, env=env, cwd=ROOT
    )


def cli_env(tmp_path: Path, build: Callable[[Session], Any] | None = None) -> dict[str, str]:
    """The environment of a CLI on a fresh SQLite file in `tmp_path`, migrated and filled by `build(session)`
    when given."""
    url = f"sqlite:///{tmp_path}/cli.db"
    if build is not None:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            build(session)
        engine.dispose()
    return {**os.environ, "DATABASE_URL": url, "PARLEY_BLOBS": str(tmp_path / "blobs")}


def found(session: Any, dataset_id: int, query: str) -> list[int]:
    """The ids of the dataset's items the search index finds for `query`, best first."""
    from sqlalchemy import select

    from store.search import matches

    hits = matches(session=session, dataset_id=dataset_id, query=query)
    return list(session.execute(select(hits.c.item_id).order_by(hits.c.rank, hits.c.item_id)).scalars())
