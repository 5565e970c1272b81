"""Bad input through import_source: one clear message, and nothing written (rows, assets, blobs, dataset)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import Session

from core.errors import FormatError
from store.blobs import LocalBlobStore
from store.errors import InputError
from store.importer import import_source
from store.models import Asset, Dataset, ImportJob, Item, Suggestion, User
from store.sources import Upload
from tests.utils import make_dataset, make_user


def png(color: str = "red", size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def pixel_bomb() -> bytes:
    """A valid-looking PNG header claiming 30000 x 30000 pixels: tiny on disk, 900 M pixels to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def chat(i: int, image: str | None = None) -> dict:
    user = {"role": "user", "content": f"question {i}"}
    if image:
        user = {"role": "user", "content": [{"type": "text", "text": f"question {i}"},
                                            {"type": "image_url", "image_url": {"url": image}}]}  # fmt: skip
    return {"id": f"c{i}", "messages": [user, {"role": "assistant", "content": f"answer {i}"}]}


def jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class World:
    """The store before a bad import, to compare with after it."""

    def __init__(self, session: Session, tmp_path: Path) -> None:
        self.session, self.blob_root = session, tmp_path / "blobs"
        self.blobs = LocalBlobStore(self.blob_root)
        self.admin = make_user(session, "admin1", role="admin")
        self.dataset = make_dataset(session, "demo")
        self.admin_id, self.dataset_id = self.admin.id, self.dataset.id
        session.expunge(self.admin)
        session.rollback()

    def state(self) -> tuple:
        s = self.session
        count = lambda model: s.execute(select(func.count()).select_from(model)).scalar_one()  # noqa: E731
        files = sorted(p.name for p in self.blob_root.rglob("*") if p.is_file())
        names = sorted(s.execute(select(Dataset.name)).scalars())
        state = count(Item), count(Asset), count(Suggestion), files, names
        s.rollback()  # end the read transaction: the import opens its own
        return state

    def do(self, source, **kw):  # type: ignore[no-untyped-def]
        return import_source(
            user=self.admin, dataset_name=kw.pop("dataset", "demo"), source=source,
            engine=self.session.get_bind(), blobs=self.blobs, **kw,
        )  # fmt: skip

    def refuses(self, source, match: str, **kw) -> None:  # type: ignore[no-untyped-def]
        before = self.state()
        with pytest.raises((InputError, FormatError), match=match):
            self.do(source, **kw)
        assert self.state() == before


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    return World(session, tmp_path)


def test_a_good_import_first_then_a_bad_one_changes_nothing(world: World) -> None:
    """The baseline has items, an image and a blob, so "unchanged" means something."""
    good = zip_of({"chats.jsonl": jsonl([chat(0, "img/blue.png")]), "img/blue.png": png("blue")})
    assert world.do(Upload("good.zip", good)).items == 1
    bad = zip_of({"chats.jsonl": jsonl([chat(1, "img/red.png"), chat(2, "img/bomb.png")]),
                  "img/red.png": png("red"), "img/bomb.png": pixel_bomb()})  # fmt: skip
    world.refuses(
        Upload("bad.zip", bad), r"c2: image 'img/bomb.png': image has too many pixels \(decompression bomb"
    )
    assert world.state()[:2] == (1, 1)  # the red image stored before the bomb was deleted again


def test_svg_posing_as_png_is_refused(world: World) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    data = zip_of({"chats.jsonl": jsonl([chat(1, "a.png")]), "a.png": svg})
    world.refuses(Upload("x.zip", data), r"c1: image 'a.png': not a PNG, JPEG, GIF or WebP image \(refused\)")


def test_html_posing_as_jpeg_is_refused(world: World) -> None:
    data = zip_of({"chats.jsonl": jsonl([chat(1, "a.jpg")]), "a.jpg": b"<html><body>hi</body></html>"})
    world.refuses(Upload("x.zip", data), "not a PNG, JPEG, GIF or WebP image")


def test_zip_slip_writes_nothing(world: World) -> None:
    world.refuses(Upload("x.zip", zip_of({"../../x.jsonl": jsonl([chat(1)])})), "points outside the archive")


def test_zip_bomb_writes_nothing(world: World) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("a.jsonl", "w") as out:
        for _ in range(80):
            out.write(b" " * (1024 * 1024))
    world.refuses(Upload("bomb.zip", buf.getvalue()), r"bomb.zip: member 'a.jsonl' unpacks \d+x")


def test_truncated_gzip_after_thousands_of_items_writes_nothing(world: World) -> None:
    """The error comes after several batches were inserted: the transaction takes them back."""
    data = gzip.compress(jsonl([chat(i) for i in range(12_000)]))
    world.refuses(
        Upload("chats.jsonl.gz", data[: int(len(data) * 0.8)]),
        "chats.jsonl.gz: the compressed data is truncated",
    )
    assert world.session.execute(select(ImportJob.status)).scalar_one() == "failed"
    world.session.rollback()


def test_bad_json_line_late_in_the_file_writes_nothing(world: World) -> None:
    data = jsonl([chat(i) for i in range(5000)]) + b'{"messages": [\n'
    world.refuses(Upload("chats.jsonl", data), r"chats.jsonl, line 5001: invalid JSON")


def test_tar_with_a_symlink_writes_nothing(world: World) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        body = jsonl([chat(1)])
        info = tarfile.TarInfo("chats.jsonl")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("img.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tf.addfile(link)
    world.refuses(Upload("x.tgz", buf.getvalue()), "x.tgz: member 'img.png' is a link")


def test_missing_image_in_the_archive(world: World) -> None:
    data = zip_of({"chats.jsonl": jsonl([chat(1, "img/none.png")])})
    world.refuses(Upload("x.zip", data), "img/none.png")


def test_metadata_url_as_source_and_as_image(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ALLOW_PRIVATE_URLS", "1")
    world.refuses("http://169.254.169.254/latest/meta-data/", "always refused")
    data = jsonl([chat(1, "http://[::ffff:a9fe:a9fe]/x.png")])
    world.refuses(Upload("chats.jsonl", data), "always refused")


def test_private_url_refused_without_config(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_ALLOW_PRIVATE_URLS", raising=False)
    world.refuses("http://127.0.0.1:9/chats.jsonl", "a private or loopback address")


def test_s3_key_that_does_not_exist(world: World, s3) -> None:  # type: ignore[no-untyped-def]
    s3.client().create_bucket(Bucket="inbox")
    world.refuses("s3://inbox/missing.jsonl", "s3://inbox/missing.jsonl: no such S3 object")


def test_s3_import_works(world: World, s3) -> None:  # type: ignore[no-untyped-def]
    client = s3.client()
    client.create_bucket(Bucket="inbox2")
    client.put_object(Bucket="inbox2", Key="set/chats.jsonl", Body=jsonl([chat(1, "img/a.png")]))
    client.put_object(Bucket="inbox2", Key="set/img/a.png", Body=png())
    report = world.do("s3://inbox2/set/")
    assert (report.items, report.images) == (1, 1)


def test_duplicate_ids_are_skipped_and_counted(world: World) -> None:
    data = jsonl([chat(1), chat(2), chat(1)])
    report = world.do(Upload("a.jsonl", data))
    assert (report.items, report.skipped, report.skipped_ids) == (2, 1, ["c1"])
    report = world.do(Upload("b.jsonl", jsonl([chat(2), chat(3)])))
    assert (report.items, report.skipped, report.skipped_ids) == (1, 1, ["c2"])
    positions = world.session.execute(select(Item.external_id, Item.position).order_by(Item.position)).all()
    world.session.rollback()
    assert positions == [("c1", 0), ("c2", 1), ("c3", 2)]


def test_unknown_dataset_without_create_and_new_dataset_rolled_back(world: World) -> None:
    world.refuses(Upload("a.jsonl", jsonl([chat(1)])), "dataset 'nope': not found", dataset="nope")
    # create=True makes the dataset in the import's transaction: a failed import leaves none behind
    world.refuses(Upload("a.jsonl", b'{"messages": 3}\n'), "a.jsonl", dataset="fresh", create=True)


def test_only_admins_import(world: World) -> None:
    from store.errors import Forbidden

    user = make_user(world.session, "ann", role="annotator")
    with pytest.raises(Forbidden):
        import_source(user=user, dataset_name="demo", source=Upload("a.jsonl", jsonl([chat(1)])),
                      engine=world.session.get_bind(), blobs=world.blobs)  # fmt: skip
    assert (
        world.session.execute(select(User.username).where(User.id == world.admin_id)).scalar_one() == "admin1"
    )
