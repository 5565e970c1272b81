"""Alembic: one head, upgrades from empty and from the previous revision, and models match migrations."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from store.db import alembic_config, make_engine, upgrade
from store.search import not_search_index


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def test_exactly_one_head():
    assert len(_script().get_heads()) == 1


def test_upgrade_from_empty_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path}/up.db"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": not_search_index}), SQLModel.metadata
        )
    assert diff == [], f"store/models.py and the migrations differ: {diff}"
    assert {"user", "dataset", "item", "annotation", "result"} <= set(inspect(engine).get_table_names())


def test_upgrade_from_previous_revision_keeps_rows(tmp_path):
    script = _script()
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    url = f"sqlite:///{tmp_path}/prev.db"
    upgrade(url, previous or "base")
    if previous is not None:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO dataset (name, description, guidelines, restricted, created_at) VALUES ('keep', '', '', 0, '2026-01-01')"
            )
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert version == head
        if previous is not None:
            assert conn.exec_driver_sql("SELECT name FROM dataset").scalar() == "keep"


def test_an_analysed_sqlite_database_gets_statistics_for_the_review_index(tmp_path):
    """Migration 0010 analyses its new (dataset, final, submitted_at, id) index where the database has
    statistics already (SQLite then took an index without them as the most selective for every read by
    dataset); a database never analysed is left without any."""
    from sqlmodel import Session

    from store.db import analyze
    from store.models import Annotation, Item
    from tests.utils import make_dataset, make_user

    for analysed in (False, True):
        url = f"sqlite:///{tmp_path}/stats{analysed}.db"
        upgrade(url, "0009_annotation_index_ids")
        with Session(
            make_engine(url)
        ) as session:  # (0010 changes indexes only: the models fit 0009's tables)
            user, ds = make_user(session, "ann"), make_dataset(session, "d")
            item = Item(dataset_id=ds.id, external_id="x", messages=[], candidates=[])
            session.add(item)
            session.flush()
            session.add(
                Annotation(item_id=item.id, dataset_id=ds.id, annotator_id=user.id, status="submitted")
            )
            session.commit()
        if analysed:
            analyze(make_engine(url))
        upgrade(url)
        with make_engine(url).connect() as conn:
            has_stats = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first()
            assert (has_stats is not None) == analysed
            if analysed:
                rows = conn.exec_driver_sql("SELECT idx FROM sqlite_stat1").scalars().all()
                assert "ix_annotation_submitted_at" in rows, rows


def test_upgrade_on_postgres(pg_server):
    url = pg_server.new_database()  # copied from a template migrated by store.db.upgrade
    engine = make_engine(url)
    with engine.connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            == _script().get_current_head()
        )
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": not_search_index}), SQLModel.metadata
        )
        # (compare_metadata does not compare INCLUDE columns, which the filters' index-only reads rely on)
        defs = dict(conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes").all())
    assert diff == []
    included = {
        index.name: index.dialect_options["postgresql"]["include"]
        for table in SQLModel.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }
    assert {"ix_item_models", "ix_annotation_dataset_status", "ix_annotation_annotator_id"} <= set(included)
    for name, columns in included.items():
        assert defs[name].replace('"', "").endswith(f"INCLUDE ({', '.join(columns)})"), defs[name]


def test_sqlite_wal_is_cut_back_after_a_checkpoint(tmp_path):
    """A large write grows the WAL file; a checkpoint that resets it leaves at most WAL_SIZE_LIMIT on disk."""
    from sqlalchemy import text

    from store.db import WAL_SIZE_LIMIT, make_engine

    url = f"sqlite:///{tmp_path}/w.db"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_size_limit")).scalar() == WAL_SIZE_LIMIT
            conn.execute(text("PRAGMA wal_autocheckpoint=0"))
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            for _ in range(100):
                conn.execute(text("INSERT INTO t VALUES (randomblob(1000000))"))  # 100 MB
            conn.commit()
            wal = tmp_path / "w.db-wal"
            assert wal.stat().st_size > WAL_SIZE_LIMIT
            conn.execute(text("PRAGMA wal_checkpoint(RESTART)"))  # what autocheckpoint does, fully
            conn.execute(text("INSERT INTO t VALUES (1)"))  # the next write starts the WAL over
            conn.commit()
            assert wal.stat().st_size <= WAL_SIZE_LIMIT
    finally:
        engine.dispose()


def test_a_new_sqlite_database_uses_8k_pages_and_an_old_one_keeps_its_own(tmp_path):
    """New database files get PAGE_SIZE pages (cheaper bulk imports); an existing file is left as it is."""
    import sqlite3

    from sqlalchemy import text

    from store.db import PAGE_SIZE, make_engine, upgrade

    url = f"sqlite:///{tmp_path}/new.db"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA page_size")).scalar() == PAGE_SIZE
    finally:
        engine.dispose()
    old = tmp_path / "old.db"
    raw = sqlite3.connect(old)
    raw.execute("CREATE TABLE t (x)")  # made with the library's default pages (4096)
    raw.commit()
    raw.close()
    engine = make_engine(f"sqlite:///{old}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA page_size")).scalar() == 4096
    finally:
        engine.dispose()
