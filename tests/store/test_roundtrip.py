"""Native round trip on SQLite and PostgreSQL: export, import into a new dataset through the importer,
export again: the same bytes. And how apply_native treats annotators it does not know."""

import io
import zipfile

from PIL import Image
from sqlmodel import select

from core.dialogue import ParsedItem
from store.blobs import LocalBlobStore
from store.datasets import get_dataset
from store.export import write_export
from store.export_filters import ExportFilters
from store.importer import import_source
from store.models import Annotation, Asset, Item, Result, User
from store.roundtrip import apply_native
from tests.store.export_data import build, make_item
from tests.store.test_annotation_values import named_values
from tests.utils import make_dataset


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def data_member(path) -> tuple[bytes, list[str]]:
    with zipfile.ZipFile(path) as zf:
        data = next(n for n in zf.namelist() if n.endswith(".native.jsonl"))
        return zf.read(data), sorted(n for n in zf.namelist() if n.startswith("images/"))


def test_native_export_imports_and_exports_to_the_same_bytes(engine, session, tmp_path):
    data = build(session)
    blobs = LocalBlobStore(tmp_path / "blobs")
    image = png()
    from hashlib import sha256

    sha = sha256(image).hexdigest()
    blobs.put(sha, image)
    session.add(Asset(id=sha, mime="image/png", width=3, height=2, bytes=len(image)))
    item = session.get(Item, data["items"]["sc"].id)
    item.candidates = [{**item.candidates[0], "images": [sha]}, *item.candidates[1:]]
    session.add(item)
    session.commit()
    everything = ExportFilters(status="all")
    first = tmp_path / "first.zip"
    write_export(
        session=session, dataset=data["dataset"], fmt="native", out=first, filters=everything, blobs=blobs
    )
    session.commit()

    report = import_source(
        user=None, dataset_name="copy", source=str(first), engine=engine, create=True, blobs=blobs
    )
    assert report.items == 6 and report.annotations == 8

    session.expire_all()
    copy = get_dataset(session=session, name="copy")
    second = tmp_path / "second.zip"
    write_export(session=session, dataset=copy, fmt="native", out=second, filters=everything, blobs=blobs)
    first_bytes, first_images = data_member(first)
    second_bytes, second_images = data_member(second)
    assert first_images == second_images == [f"images/{sha}.png"]
    assert second_bytes == first_bytes
    assert b'"annotator":"bob","status":"saved"' in first_bytes and b"A better answer." in first_bytes
    # what the class and answer filters look up came along (store/annotation_values.py)
    values = named_values(session, data["dataset"].id)
    assert values and named_values(session, copy.id) == values


def test_missing_annotator_is_created_inactive_and_existing_work_is_kept(session):
    alice_ds = make_dataset(session, "target")
    item = make_item(session, alice_ds, "x1")
    parsed = ParsedItem(
        external_id="x1",
        messages=[],
        annotations=[
            {"annotator": "carol", "status": "submitted", "validity": "valid",
             "results": [{"class": "quality", "candidate": 1, "values": {"score": "4"}}, {"class": "nope"}],
             "classifications": {"ranking": [1, 0], "unknown": 1}},
            {"annotator": "bad name!", "status": "saved", "results": []},
        ],
    )  # fmt: skip
    ontology = {
        "classes": [{"name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
                     "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4"]}]}],
        "classifications": [{"name": "ranking", "type": "ranking"}],
    }  # fmt: skip
    counts = apply_native(
        session=session, user=None, dataset=alice_ds, ontology=ontology, items=[(item.id, parsed)]
    )
    session.commit()
    assert counts["annotations"] == 1 and counts["users_created"] == 1
    assert (
        counts["skipped_results"] == 1
        and counts["skipped_answers"] == 1
        and counts["skipped_annotations"] == 1
    )
    carol = session.exec(select(User).where(User.username == "carol")).one()
    assert carol.active is False and carol.password_hash == ""
    ann = session.exec(select(Annotation).where(Annotation.annotator_id == carol.id)).one()
    assert (
        ann.status == "submitted"
        and ann.submitted_at is not None
        and list(ann.classifications.values()) == [[1, 0]]
    )
    (result,) = session.exec(select(Result).where(Result.annotation_id == ann.id)).all()
    assert result.candidate_index == 1 and result.slot == "c1" and result.values == {"score": "4"}
    again = apply_native(
        session=session, user=None, dataset=alice_ds, ontology=None, items=[(item.id, parsed)]
    )
    assert again["annotations"] == 0 and again["skipped_annotations"] == 2


def test_a_created_annotator_cannot_sign_in():
    from store.users import verify_password

    assert verify_password("", "anything") is False
