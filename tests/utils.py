"""Helpers that build test data through the store's own functions."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
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


def store_cli(
    env: dict[str, str], *args: str, input: str | None = None, process: bool = False
) -> subprocess.CompletedProcess:
    """`python -m store ARGS` with `env` (DATABASE_URL, PARLEY_BLOBS): its exit code, stdout and stderr.

    Run in this process by `store.cli.main` with `env` as os.environ, stdin from `input` and the output
    captured, as `python -m store` runs it (exit code 1 and the traceback for an uncaught error). A new
    interpreter costs 2-3 s of imports a call (tens of seconds on CI's loaded cores); `process=True` runs
    one, for what only a process shows (its own exit, signals)."""
    if process:
        return subprocess.run(
            [sys.executable, "-m", "store", *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
    from store.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved, stdin = dict(os.environ), sys.stdin
    os.environ.clear()
    os.environ.update(env)
    sys.stdin = io.StringIO(input or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors, and a command that exits
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
                if not isinstance(exc.code, int | None):
                    print(exc.code, file=sys.stderr)
            except Exception:  # as the interpreter would: the traceback on stderr, exit code 1
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.stdin = stdin
    return subprocess.CompletedProcess(["python", "-m", "store", *args], code, out.getvalue(), err.getvalue())


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


@contextlib.contextmanager
def statements(engine: Engine, params: list[Any] | None = None) -> Iterator[list[str]]:
    """The SQL statements `engine` runs inside the block, lower-cased, in a list the caller may clear (and
    their parameters appended to `params`, if given, one entry per statement)."""
    seen: list[str] = []

    def log(conn, cursor, statement, parameters, *args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement.lower())
        if params is not None:
            params.append(parameters)

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", log)
