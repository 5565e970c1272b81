"""Engine from DATABASE_URL, sessions that write safely, and schema upgrades through Alembic."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

DEFAULT_URL = "sqlite:///data/parley.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE writes."""
    if not url.startswith("sqlite"):
        # psycopg prepares a statement on the server after its 5th run, and PostgreSQL plans a prepared
        # statement once for any parameters after 5 more: the filters' plans depend on them (how many items a
        # word, a status or an answer selects), and at 1M items a search with a status and an answer went
        # from 0.2 s to 1.3 s at its 11th run on one connection. Unprepared, each run is planned for its values
        # (planning them takes under 1 ms).
        args = {"prepare_threshold": None} if url.startswith("postgresql+psycopg:") else {}
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=args)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if not memory:
        path = url.split("///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )
    _sqlite_pragmas(engine, wal=not memory)
    return engine


WAL_SIZE_LIMIT = 64 * 1024 * 1024
PAGE_SIZE = 8192


def _sqlite_pragmas(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # 8 KB pages for a new database file (no effect on an existing one): bulk imports of ~2 KB dialogues
        # spent about a quarter less CPU inserting than with the 4 KB default (import helper, 100 MB test).
        cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # A checkpoint after a large import would otherwise leave the WAL file at its peak size (~2x a
            # 1 GB import) for good; it is cut back to this after each checkpoint that resets it.
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # Writers take the write lock up front, so two savers queue instead of failing mid-way
        # with "database is locked" on lock upgrade. Readers stay deferred and never wait.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@cache
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: DATABASE_URL as it is now, not at the first call)."""
    return _engine_for(url or database_url())


get_engine.cache_clear = _engine_for.cache_clear  # type: ignore[attr-defined]


@contextmanager
def read_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session for reading."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session


_WRITERS: dict[int, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(id(engine), threading.RLock())


@contextmanager
def write_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its start (SQLite) and commits on exit.

    On SQLite the writers of this process also queue on a lock of their own before BEGIN IMMEDIATE: the
    next one starts as soon as the last one commits. Left to SQLite's busy handler, a waiting writer sleeps
    and polls (1, 2, 5 … up to 100 ms a nap), so under many annotators the unlucky ones waited seconds
    (bench/load.py). Other processes (the CLI, another replica) still meet at SQLite's own lock.
    """
    engine = engine or get_engine()
    sqlite = engine.dialect.name == "sqlite"
    with _writer_lock(engine) if sqlite else contextlib.nullcontext(), engine.connect() as conn:
        if sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with committing(conn) as session:
            yield session


@contextmanager
def committing(conn: Connection) -> Iterator[Session]:
    """A session on `conn` that commits on exit and rolls back on any error (write_session's core)."""
    with Session(bind=conn, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (Alembic)."""
    from alembic import command

    url = url or database_url()
    engine = get_engine(url) if url not in ("sqlite://", "sqlite:///:memory:") else make_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# SQLite plans from sqlite_stat1, which only ANALYZE writes. Without it, the planner guessed a covering index
# by dataset was as selective as one by item and a filter's per-item check read every annotation (minutes at
# 1M items). Sampled (analysis_limit) it takes ~0.1 s at 1M items: at each server start
# (components.auth.announce_setup_code) and after each import (import_writer.checkpoint_later). PostgreSQL's
# autovacuum keeps its own statistics.
ANALYSIS_LIMIT = 1000


def analyze(engine: Engine) -> None:
    """Refresh SQLite's query-planner statistics, sampled (nothing on other databases)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if raw is not None:
            raw.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            raw.execute("ANALYZE")
            raw.commit()
