"""AppTest pages run against a fresh SQLite database and blob folder named in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from store import blobs, db


@pytest.fixture
def app_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated SQLite database in DATABASE_URL (and a blob folder in PARLEY_BLOBS) for the page's script.

    Its engine is the one get_engine() gives the page; the process-wide caches are dropped afterwards so
    the next test's pages open their own database.
    """
    url = f"sqlite:///{tmp_path}/p.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PARLEY_BLOBS", str(tmp_path / "blobs"))
    db.upgrade(url)
    engine = db.get_engine(url)
    yield engine
    engine.dispose()
    db.get_engine.cache_clear()
    blobs.get_blob_store.cache_clear()
