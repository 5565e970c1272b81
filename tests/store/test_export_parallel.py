"""Exports rendered partly by a worker process (store/export_worker.py write_parallel) are byte for byte
the one-process export, on a SQLite file and on PostgreSQL: every JSONL format, images in the zip or by
URL."""

import zipfile

import pytest
from sqlmodel import Session, SQLModel

import store.export_worker as export_worker
from core.export import Options
from store.blobs import LocalBlobStore
from store.db import make_engine
from store.export import write_export
from store.export_filters import ExportFilters
from store.models import Asset, Item, Suggestion
from tests.store.export_data import build, make_item


@pytest.fixture(params=["sqlite-file", "postgresql"])
def file_engine(request, tmp_path):
    """A database another process can open: a SQLite file, or a real PostgreSQL database."""
    if request.param == "sqlite-file":
        eng = make_engine(f"sqlite:///{tmp_path / 'parley.db'}")
        SQLModel.metadata.create_all(eng)
    else:
        eng = make_engine(request.getfixturevalue("pg_server").new_database())
    yield eng
    eng.dispose()


@pytest.fixture
def data(file_engine):
    with Session(file_engine, expire_on_commit=False) as session:
        made = build(session)
        ds = made["dataset"]
        sha = "ab" * 32
        session.add(Asset(id=sha, mime="image/png", width=1, height=1, bytes=4))
        first = session.get(Item, made["items"]["r3"].id)
        first.messages = [{**first.messages[0], "images": [sha]}, *first.messages[1:]]
        first.meta = {"lang": "ελληνικά", "score": 0.1, "nested": {"b": [1, 2.5e-7, None]}}
        session.add(Suggestion(item_id=first.id, kind="ranking", value=[2, 1, 0], score=0.75, agent="m"))
        # More items than a chunk holds, some with non-ASCII text and control characters.
        for k in range(40):
            item = make_item(session, ds, f"extra{k}", position=10 + k)
            item.messages = [{"role": "user", "text": f"ünïcode \u2028 tab\t{k} \x01 😀"}]
            session.add(item)
        session.commit()
    return made


def export_both(file_engine, data, tmp_path, monkeypatch, fmt, out_name, **kw):
    """(one-process bytes, parallel bytes, one-process summary, parallel summary, chunks the worker did)."""
    monkeypatch.setattr(export_worker, "PARALLEL_MIN_ITEMS", 1)
    monkeypatch.setattr(export_worker, "CHUNK", 4)
    submitted = []
    real_submit = export_worker._Worker.submit

    def counting_submit(self, *args):
        submitted.append(args[1:3])
        return real_submit(self, *args)

    monkeypatch.setattr(export_worker._Worker, "submit", counting_submit)
    results = []
    for workers in (0, 1):
        monkeypatch.setattr(export_worker, "WORKERS", workers)
        out = tmp_path / f"w{workers}" / out_name
        with Session(file_engine) as session:
            summary = write_export(
                session=session, dataset=data["dataset"], fmt=fmt, out=out,
                blobs=LocalBlobStore(tmp_path / "blobs"), **kw,
            )  # fmt: skip
        results.append((out, summary))
    (one, one_summary), (two, two_summary) = results
    return one, two, one_summary, two_summary, submitted


def test_worker_export_is_the_same_file(file_engine, data, tmp_path, monkeypatch):
    # (every format on one database: building it is most of the time)
    for fmt in ("native", "sft", "dpo", "kto"):
        filters = ExportFilters(status="all") if fmt == "native" else ExportFilters()
        one, two, one_summary, two_summary, submitted = export_both(
            file_engine,
            data,
            tmp_path,
            monkeypatch,
            fmt,
            f"out.{fmt}.jsonl",
            filters=filters,
            image_mode="urls",
        )
        assert len(submitted) >= 3, fmt  # the worker really rendered chunks (46 items in chunks of 4)
        assert one.read_bytes() == two.read_bytes(), fmt
        assert one.read_bytes().count(b"\n") == one_summary.counts["records"] + (fmt == "native") > 0, fmt
        assert two_summary.counts == one_summary.counts, fmt
        assert two_summary.annotators == one_summary.annotators, fmt
        if fmt in ("native", "dpo"):
            assert b"file://" in two.read_bytes(), fmt  # the image by its blob URL, made in either process


def test_worker_zip_has_the_same_data_images_and_manifest_counts(file_engine, data, tmp_path, monkeypatch):
    (tmp_path / "blobs" / "ab").mkdir(parents=True)
    (tmp_path / "blobs" / "ab" / ("ab" * 32)).write_bytes(b"\x89PNG")
    one, two, one_summary, two_summary, submitted = export_both(
        file_engine, data, tmp_path, monkeypatch, "native", "out.zip",
        filters=ExportFilters(status="all"), options=Options(), image_mode="zip",
    )  # fmt: skip
    assert submitted
    with zipfile.ZipFile(one) as a, zipfile.ZipFile(two) as b:
        assert a.namelist() == b.namelist()
        assert "images/" + "ab" * 32 + ".png" in b.namelist()
        for name in a.namelist():
            if name != "manifest.json":  # it holds the export time
                assert a.read(name) == b.read(name), name
    assert two_summary.counts == one_summary.counts and one_summary.counts["images"] == 1
    assert two_summary.manifest["counts"] == one_summary.manifest["counts"]


def test_in_memory_sqlite_exports_in_one_process(sqlite_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(export_worker, "PARALLEL_MIN_ITEMS", 1)
    monkeypatch.setattr(export_worker, "_Worker", None)  # would fail if a worker were started
    with Session(sqlite_engine, expire_on_commit=False) as session:
        data = build(session)
        summary = write_export(
            session=session, dataset=data["dataset"], fmt="dpo", out=tmp_path / "x.jsonl",
            blobs=LocalBlobStore(tmp_path / "blobs"),
        )  # fmt: skip
    assert summary.counts["records"] == 10
