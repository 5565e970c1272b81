"""Backups (store/backup.py, `python -m store backup|restore`): a backup taken while annotations are being
saved restores every save acknowledged before it began, on SQLite and PostgreSQL; restore refuses a
database that holds rows; the CLI's exit codes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, select

from store.annotations import load_work, save_annotation
from store.backup import ToolMissing, backup, find_pg_tool, parley_rows, restore
from store.cli import main
from store.db import make_engine, upgrade, write_session
from store.errors import InputError
from store.models import Annotation, Dataset, Item, User
from tests.conftest import PostgresServer, missing
from tests.store.test_team_queue import add_user, team

WORK = {"validity": "valid", "invalid_reason": "", "classifications": {"1": "yes"}, "results": []}


def _new_sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def _pg_tools() -> None:
    try:
        find_pg_tool("pg_dump")
        find_pg_tool("pg_restore")
    except ToolMissing as exc:
        missing(str(exc))


def _empty_pg(server: PostgresServer, name: str) -> str:
    """A new database with nothing in it (not even the schema)."""
    admin = make_engine(server.url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.database_url(name)


@pytest.fixture(params=["sqlite", "postgres"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database holding a small team dataset: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        url = _new_sqlite(tmp_path, "source.db")
        upgrade(url)
    else:
        _pg_tools()
        url = request.getfixturevalue("pg_server").new_database()
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        team(s, n=2)
    engine.dispose()
    return url


def _target(request: pytest.FixtureRequest, source: str, tmp_path: Path, name: str) -> str:
    if source.startswith("sqlite"):
        return _new_sqlite(tmp_path, f"{name}.db")
    return _empty_pg(request.getfixturevalue("pg_server"), f"{name}_{os.getpid()}_{time.monotonic_ns()}")


def _annotation_versions(url: str) -> dict[tuple[int, int], int]:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.exec(select(Annotation.item_id, Annotation.annotator_id, Annotation.version)).all()
    engine.dispose()
    return {(item, user): version for item, user, version in rows}


class Saver(threading.Thread):
    """Saves annotations in a loop through save_annotation, recording each acknowledged save."""

    def __init__(self, url: str, n_items: int) -> None:
        super().__init__(daemon=True)
        self.engine: Engine = make_engine(url)
        with Session(self.engine, expire_on_commit=False) as s:
            self.user = add_user(s, f"saver{time.monotonic_ns()}")
            ds = s.exec(select(Dataset)).one()  # the source's team dataset
            self.items = [i.id for i in add_items_after(s, ds, n_items)]
        self.acks: list[
            tuple[float, int, int, int]
        ] = []  # (monotonic time acknowledged, item, user, version)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = 0
            while not self.stop.is_set():
                item_id = self.items[n % len(self.items)]
                work = {**WORK, "classifications": {"1": f"save {n}"}}
                with write_session(self.engine) as s:
                    version = load_work(session=s, user=self.user, item_id=item_id).version
                    new = save_annotation(
                        session=s, user=self.user, item_id=item_id, work=work, version=version
                    )
                self.acks.append((time.monotonic(), item_id, self.user.id, new))
                n += 1
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acks) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {len(self.acks)} saves in {timeout} s"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        self.join(60)
        self.engine.dispose()
        assert self.error is None, self.error


def add_items_after(session: Session, ds: Dataset, n: int) -> list[Item]:
    """`n` more items (external ids b1..bn) at positions after the dataset's others."""
    session.execute(
        insert(Item),
        [
            {"dataset_id": ds.id, "external_id": f"b{i}", "name": f"b{i}", "position": 1000 + i,
             "messages": [{"role": "user", "text": f"q{i}"}], "candidates": [], "meta": {}}
            for i in range(1, n + 1)
        ],
    )  # fmt: skip
    session.commit()
    return list(session.exec(select(Item).where(Item.dataset_id == ds.id, Item.position > 1000)).all())


@pytest.mark.parametrize("name", ["backup.db", "backup.tar.gz"])
def test_a_backup_taken_during_saves_restores_every_save_acknowledged_before_it(
    request: pytest.FixtureRequest, source: str, tmp_path: Path, name: str
) -> None:
    saver = Saver(source, n_items=40)
    saver.start()
    try:
        saver.wait_for(60)
        began = time.monotonic()
        report = backup(url=source, out=tmp_path / name, blobs=str(tmp_path / "blobs"))
        ended = time.monotonic()
        saver.wait_for(len(saver.acks) + 20)  # the saves carry on after it
    finally:
        saver.finish()
    assert report.size > 0
    before = [a for a in saver.acks if a[0] < began]
    assert len(before) >= 60
    target = _target(request, source, tmp_path, "restored")
    restore(url=target, path=tmp_path / name, blobs=str(tmp_path / "restored-blobs"))
    restored = _annotation_versions(target)
    missing_saves = [
        (item, user, version) for _t, item, user, version in before if restored.get((item, user), 0) < version
    ]
    assert missing_saves == [], f"saves acknowledged before the backup began are missing: {missing_saves[:5]}"
    # Nothing from after the backup ended: the copy is one moment, not a mix of later states.
    last = {}
    for t, item, user, version in saver.acks:
        if t < ended:
            last[(item, user)] = version
    assert all(restored.get(key, 0) <= version for key, version in last.items())
    upgrade(target)  # the restored database takes `store upgrade`
    assert _annotation_versions(target) == restored


def test_restore_into_a_database_just_made_by_upgrade(
    request: pytest.FixtureRequest, source: str, tmp_path: Path
) -> None:
    backup(url=source, out=tmp_path / "b.backup")
    target = _target(request, source, tmp_path, "upgraded")
    upgrade(target)
    restore(url=target, path=tmp_path / "b.backup")
    assert parley_rows(target) == parley_rows(source)


def test_restore_refuses_a_database_with_rows_and_changes_nothing(source: str, tmp_path: Path) -> None:
    backup(url=source, out=tmp_path / "b.backup")
    engine = make_engine(source)
    with Session(engine) as s:
        add_user(s, "later")
    engine.dispose()
    before = parley_rows(source)
    with pytest.raises(InputError, match="restore needs an empty database"):
        restore(url=source, path=tmp_path / "b.backup")
    assert parley_rows(source) == before
    engine = make_engine(source)
    with Session(engine) as s:
        assert s.exec(select(User).where(User.username == "later")).first() is not None
    engine.dispose()


def test_the_cli_exit_codes(
    request: pytest.FixtureRequest,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", source)
    monkeypatch.setenv("PARLEY_BLOBS", str(tmp_path / "blobs"))
    out = tmp_path / "b.tar"
    assert main(["backup", "--out", str(out)]) == 0
    assert "backed up" in capsys.readouterr().out
    assert main(["restore", str(out)]) == 2  # the source holds rows
    assert "restore needs an empty database" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "nothing.db")]) == 2
    assert "no such backup file" in capsys.readouterr().err
    (tmp_path / "junk.db").write_bytes(b"not a backup at all")
    monkeypatch.setenv("DATABASE_URL", _target(request, source, tmp_path, "cli"))
    assert main(["restore", str(tmp_path / "junk.db")]) == 2
    assert "not a Parley backup" in capsys.readouterr().err
    assert main(["restore", str(out)]) == 0
    assert "restored" in capsys.readouterr().out
    assert main(["upgrade"]) == 0


def test_a_sqlite_backup_into_postgresql_is_refused(tmp_path: Path, pg_server: PostgresServer) -> None:
    url = _new_sqlite(tmp_path, "s.db")
    upgrade(url)
    backup(url=url, out=tmp_path / "s.db.gz")
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    with pytest.raises(InputError, match="is a sqlite backup"):
        restore(url=pg_server.new_database(), path=tmp_path / "s.db.gz")


def test_without_pg_dump_the_backup_says_so_in_one_line(
    pg_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("store.backup.PG_BIN_ROOT", tmp_path / "none")
    monkeypatch.setenv("DATABASE_URL", pg_server.new_database())
    assert main(["backup", "--out", str(tmp_path / "b.backup")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pg_dump not found" in err
    assert not (tmp_path / "b.backup").exists()
