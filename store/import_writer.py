"""How an import writes: items in bulk INSERTs (and their search text indexed), in one transaction on a
connection set up for it, with the WAL copied into the database after the commit, off the caller's path."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from store import db, import_worker, search
from store.models import Item

IMPORT_CACHE_KB = 64 * 1024  # SQLite page cache of the import's connection
# Items go in through one plain INSERT run by the driver's executemany, with JSON already serialized by
# orjson: SQLAlchemy's JSON type would run json.dumps per value and build parameters per row.
_ITEM_COLUMNS = import_worker.ITEM_COLUMNS

# On SQLite, up to ROWS_PER_INSERT items go in one INSERT statement (fewer if the library allows fewer
# parameters): the driver gives up the GIL around each statement, and taking it back while the parser
# thread runs costs up to the switch interval, so one statement a row made the writer wait on the parser
# more than on SQLite. 1,000 rows a statement took about a fifth less writer CPU than 50 (200 MB bench).
ROWS_PER_INSERT = 1000


def _item_insert_sql(paramstyle: str, rows: int = 1) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    one = f"({', '.join([mark] * len(_ITEM_COLUMNS))})"
    return f"INSERT INTO item ({', '.join(_ITEM_COLUMNS)}) VALUES {', '.join([one] * rows)}"


def _rows_per_insert(conn: Any) -> int:
    raw = conn.connection.dbapi_connection
    try:
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):  # Python < 3.11: SQLite's own default before 3.32
        limit = 999
    return max(1, min(ROWS_PER_INSERT, limit // len(_ITEM_COLUMNS)))


def insert_items(conn: Any, rows: list[tuple[Any, ...]], dataset_id: int) -> None:
    """Insert the rows (ITEM_COLUMNS and the search text last), then index their texts by the new ids."""
    texts = {row[3]: row[-1] for row in rows}  # by position: consecutive in a batch, unique in the dataset
    rows = [row[:-1] for row in rows]
    _insert_rows(conn, rows)
    found = conn.execute(
        select(Item.id, Item.position).where(
            Item.dataset_id == dataset_id, Item.position.between(min(texts), max(texts))
        )
    )
    pairs = [(item_id, texts[position]) for item_id, position in found]
    search.index_texts(conn, dataset_id, pairs, prepared=True)


def _insert_rows(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    paramstyle = conn.dialect.paramstyle
    k = _rows_per_insert(conn) if conn.dialect.name == "sqlite" else 1
    if len(rows) < k or k == 1:
        conn.exec_driver_sql(_item_insert_sql(paramstyle), rows)
        return
    full = len(rows) - len(rows) % k
    flat = itertools.chain.from_iterable
    grouped = [tuple(flat(rows[i : i + k])) for i in range(0, full, k)]
    conn.exec_driver_sql(_item_insert_sql(paramstyle, k), grouped)
    if full < len(rows):
        conn.exec_driver_sql(_item_insert_sql(paramstyle), rows[full:])


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """db.write_session, except that on SQLite in WAL mode the commit does not copy the WAL into the database.

    A large import writes its pages once into the WAL; SQLite's automatic checkpoint would then copy them
    all again and fsync, inside the commit (about as long as the import itself). The commit is as durable
    without it (WAL with synchronous=NORMAL: a commit is never fsynced), so the copy is left to
    checkpoint_later, which runs it off the caller's path.
    """
    with engine.connect() as conn:
        raw = None
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            raw = conn.connection.dbapi_connection  # PRAGMAs without SQLAlchemy opening a transaction
            if raw is not None and raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                raw = None
        previous = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] if raw is not None else None
        cache = raw.execute("PRAGMA cache_size").fetchone()[0] if raw is not None else None
        if raw is not None:
            raw.execute("PRAGMA wal_autocheckpoint=0")
            # The unique (dataset_id, external_id) index of a 1 GB import outgrows SQLite's 2 MB default
            # page cache; its pages then go out and back in for every batch.
            raw.execute(f"PRAGMA cache_size=-{IMPORT_CACHE_KB}")
        try:
            with db.committing(conn) as session:
                yield session
        finally:
            if raw is not None:
                with contextlib.suppress(Exception):  # never hide the import's own error
                    raw.execute(f"PRAGMA wal_autocheckpoint={int(previous)}")
                    raw.execute(f"PRAGMA cache_size={int(cache)}")


_checkpoints: list[threading.Thread] = []


def checkpoint_later(engine: Engine) -> None:
    """Refresh the planner's statistics (store.db.analyze) and copy the WAL into the database file, in a
    background thread (SQLite WAL only).

    PASSIVE: readers and writers go on meanwhile; a writer's own automatic checkpoint finds this one
    running and skips. A process that exits waits for it (atexit); one killed leaves it to the next
    commit's automatic checkpoint.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    def run() -> None:
        with contextlib.suppress(Exception):
            db.analyze(engine)
        with contextlib.suppress(Exception), engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            if raw is not None:
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    thread = threading.Thread(target=run, name="parley-wal-checkpoint", daemon=True)
    if not _checkpoints:
        atexit.register(wait_checkpoints)  # a CLI import ends with the copy done, not cut off
    _checkpoints[:] = [t for t in _checkpoints if t.is_alive()] + [thread]
    thread.start()


def wait_checkpoints(timeout: float | None = None) -> None:
    """Wait for the background WAL checkpoints started by imports (the CLI waits before it exits)."""
    for thread in list(_checkpoints):
        thread.join(timeout)
