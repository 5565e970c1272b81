"""Blobs left by an import killed before its commit are swept at a later import's start; nothing in use is."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path

from PIL import Image
from sqlmodel import Session

from store import import_images
from store.blobs import LocalBlobStore
from store.import_images import sweep_orphan_blobs
from store.importer import import_source
from store.models import Asset, utcnow
from store.sources import Upload
from tests.utils import make_user

DAY = 24 * 3600


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, "PNG")
    return buf.getvalue()


def _age(store: LocalBlobStore, key: str, seconds: float) -> None:
    path = store.root / key[:2] / key
    os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_old_unreferenced_blobs_go_and_everything_else_stays(session: Session, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    orphan, young, used = (hashlib.sha256(n).hexdigest() for n in (b"orphan", b"young", b"used"))
    for key in (orphan, young, used):
        store.put(key, b"x")
    store.put("not-a-sha-key", b"x")  # other names made by Parley are never swept
    session.add(Asset(id=used, mime="image/png", width=1, height=1, bytes=1, created_at=utcnow()))
    session.commit()
    for key in (orphan, used, "not-a-sha-key"):
        _age(store, key, 2 * DAY)
    _age(store, young, 3600)  # an import still running (or about to commit) wrote it an hour ago
    half_put = store.root / orphan[:2] / f".{orphan}.4242.tmp"
    half_put.write_bytes(b"x")
    os.utime(half_put, (time.time() - 2 * DAY, time.time() - 2 * DAY))

    assert sweep_orphan_blobs(session.get_bind(), store, older_than_hours=24) == 1
    assert not store.exists(orphan) and not half_put.exists()
    assert store.exists(young) and store.exists(used) and store.exists("not-a-sha-key")


def test_an_import_sweeps_at_its_start_and_keeps_a_blob_it_reuses(session: Session, tmp_path: Path) -> None:
    admin = make_user(session, "admin1", role="admin")
    store = LocalBlobStore(tmp_path / "blobs")
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))
    red_key, blue_key = hashlib.sha256(red).hexdigest(), hashlib.sha256(blue).hexdigest()
    # What a killed import left: two stored images, no Asset rows, two days old.
    for key, data in ((red_key, red), (blue_key, blue)):
        store.put(key, data)
        _age(store, key, 2 * DAY)
    lines = json.dumps(
        {"id": "a", "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                                           {"type": "image_url", "image_url": {"url": "red.png"}}]},
                                 {"role": "assistant", "content": "red"}]}
    )  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("chats.jsonl", lines + "\n")
        zf.writestr("red.png", red)
    import_images._last_sweep.clear()
    session.expunge(admin)
    session.rollback()
    report = import_source(
        user=admin, dataset_name="d", source=Upload("x.zip", buf.getvalue()), engine=session.get_bind(),
        create=True, blobs=store,
    )  # fmt: skip
    assert report.items == 1 and report.images == 1
    assert not store.exists(blue_key)  # swept at the start: nothing names it
    assert store.exists(red_key)  # swept too, then stored again by this import, with its Asset row
    assert session.get(Asset, red_key) is not None


def test_a_blob_stored_again_is_young_again(tmp_path: Path) -> None:
    """An import that finds its image already stored (put, or touch) resets its age, so a sweep running
    meanwhile in another process leaves it until the import has committed its Asset row."""
    store = LocalBlobStore(tmp_path / "blobs")
    key = hashlib.sha256(b"again").hexdigest()
    store.put(key, b"again")
    _age(store, key, 2 * DAY)
    store.put(key, b"again")
    assert list(store.keys_older_than(DAY)) == []
    _age(store, key, 2 * DAY)
    store.touch(key)
    assert list(store.keys_older_than(DAY)) == []
