"""Exports of a hand-made annotated dataset, on SQLite and PostgreSQL: exact records, HF datasets loading,
filters, several annotators, formula escaping, images in the zip, bad input."""

import csv
import io
import zipfile

import orjson
import pytest
from sqlmodel import select

from core.export import Options
from store.errors import InputError
from store.export import write_export
from store.export_filters import ExportFilters
from store.models import Asset, Item
from tests.store.export_data import build, make_item
from tests.utils import make_dataset


@pytest.fixture
def data(session):
    return build(session)


def export(session, data, fmt, tmp_path, name=None, **kw):
    out = tmp_path / (name or f"out.{'jsonl' if fmt in ('native', 'sft', 'dpo', 'kto') else fmt}")
    summary = write_export(session=session, dataset=data["dataset"], fmt=fmt, out=out, **kw)
    return out, summary


def lines(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_dpo_ranking_of_three_gives_three_pairs_per_annotator_ties_and_invalid_none(session, data, tmp_path):
    out, summary = export(session, data, "dpo", tmp_path)
    recs = lines(out)
    by_item = {}
    for r in recs:
        by_item.setdefault(r["meta"]["item"], []).append(r)
    assert set(by_item) == {"r3", "pw", "sc"}  # "tie" (tie everywhere) and "bad" (invalid) give nothing
    r3 = [
        (r["meta"]["annotator"], r["chosen"][0]["content"], r["rejected"][0]["content"])
        for r in by_item["r3"]
    ]
    assert r3 == [
        ("alice", "reply r3B", "reply r3A"), ("alice", "reply r3B", "reply r3C"), ("alice", "reply r3A", "reply r3C"),
        ("bob", "reply r3B", "reply r3A"), ("bob", "reply r3B", "reply r3C"), ("bob", "reply r3A", "reply r3C"),
    ]  # fmt: skip
    assert by_item["r3"][0]["prompt"] == [
        {"role": "user", "content": "question r3"},
        {"role": "assistant", "content": "old answer r3"},
        {"role": "user", "content": "follow-up r3"},
    ]
    (pw,) = by_item["pw"]
    assert pw["meta"] == {
        "item": "pw", "annotator": "alice", "status": "submitted", "source": "pairwise", "question": "preference",
        "chosen": 2, "rejected": 0, "strength": 3,
    }  # fmt: skip
    assert [(r["meta"]["chosen"], r["meta"]["rejected"]) for r in by_item["sc"]] == [(1, 2), (1, 0), (2, 0)]
    manifest = orjson.loads((tmp_path / "out.jsonl.manifest.json").read_bytes())
    assert manifest["counts"]["records"] == 10 == summary.counts["records"]
    assert manifest["dataset"] == "handmade" and manifest["format"] == "dpo"
    assert manifest["annotators"] == ["alice", "bob"] and manifest["filters"]["status"] == "submitted"
    assert manifest["app_version"] and manifest["ontology"]["classes"][0]["name"] == "helpfulness"


def test_dpo_best_vs_rest(session, data, tmp_path):
    out, _ = export(session, data, "dpo", tmp_path, options=Options(pair_mode="best"))
    r3 = [(r["meta"]["chosen"], r["meta"]["rejected"]) for r in lines(out) if r["meta"]["item"] == "r3"]
    assert r3 == [(1, 0), (1, 2), (1, 0), (1, 2)]


def test_sft_has_the_written_reply_and_the_original(session, data, tmp_path):
    out, _ = export(session, data, "sft", tmp_path)
    (rec,) = lines(out)
    assert rec["messages"][-1] == {"role": "assistant", "content": "A better answer."}
    assert rec["meta"]["original"] == "old answer sft" and rec["meta"]["annotator"] == "alice"
    out, _ = export(session, data, "sft", tmp_path, name="saved.jsonl", filters=ExportFilters(status="saved"))
    assert sorted(r["meta"]["annotator"] for r in lines(out)) == ["alice", "bob"]


def test_filters_annotators_and_agreement(session, data, tmp_path):
    out, _ = export(session, data, "dpo", tmp_path, filters=ExportFilters(annotators=["bob"]))
    assert {r["meta"]["annotator"] for r in lines(out)} == {"bob"}
    out, _ = export(
        session, data, "dpo", tmp_path, name="agree.jsonl", filters=ExportFilters(agree_only=True)
    )
    assert {r["meta"]["item"] for r in lines(out)} == {"r3"}
    with pytest.raises(InputError, match="no user named 'nobody'"):
        export(session, data, "dpo", tmp_path, name="x.jsonl", filters=ExportFilters(annotators=["nobody"]))


def test_jsonl_exports_load_with_hugging_face_datasets(session, data, tmp_path):
    datasets = pytest.importorskip("datasets")
    expected = {
        "sft": {"messages", "images", "meta"},
        "dpo": {"prompt", "chosen", "rejected", "images", "meta"},
        "kto": {"prompt", "completion", "label", "images", "meta"},
    }
    for fmt, cols in expected.items():
        out, summary = export(session, data, fmt, tmp_path, name=f"{fmt}.jsonl")
        loaded = datasets.load_dataset(
            "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")
        )
        assert set(loaded.column_names) == cols
        assert len(loaded) == summary.counts["records"]
    kto = datasets.load_dataset("json", data_files=str(tmp_path / "kto.jsonl"), split="train",
                                cache_dir=str(tmp_path / "hf"))  # fmt: skip
    assert sorted(kto["label"]) == [False, False, True, True]
    out, _ = export(
        session, data, "native", tmp_path, name="native.jsonl", filters=ExportFilters(status="all")
    )
    native = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert {"parley", "id", "messages", "responses", "annotations"} <= set(native.column_names)
    assert native[1]["id"] == "r3" and len(native) == 7


def test_csv_is_one_row_a_result_with_formulas_escaped(session, data, tmp_path):
    out, _ = export(session, data, "csv", tmp_path)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    sc = [r for r in rows if r["item"] == "sc"]
    # Rows in the dialogue's order (native's result order), whatever order the database returned them in.
    assert [r["target"] for r in sc] == ["message 1", "candidate A", "candidate B", "candidate C"]
    assert sc[0]["score"] == "4"
    assert sc[1]["class"] == "helpfulness" and sc[1]["alias"] == "Helpfulness" and sc[1]["score"] == "2"
    assert sc[1]["why"] == '\'=HYPERLINK("x")'
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    assert next(r for r in rows if r["item"] == "sft")["text"] == "A better answer."


def test_xlsx_cells_are_text_never_formulas(session, data, tmp_path):
    from openpyxl import load_workbook

    out, _ = export(session, data, "xlsx", tmp_path)
    sheet = load_workbook(out).active
    header = [c.value for c in sheet[1]]
    why = header.index("why")
    cells = [row[why] for row in sheet.iter_rows(min_row=2)]
    hyperlink = next(c for c in cells if c.value)
    assert hyperlink.value == '\'=HYPERLINK("x")' and hyperlink.data_type == "s"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_zip_holds_data_manifest_and_images_named_by_the_exporter(session, data, tmp_path):
    sha = "ab" * 32
    session.add(Asset(id=sha, mime="image/png", width=1, height=1, bytes=4))
    item = session.get(Item, data["items"]["r3"].id)
    item.messages = [{**item.messages[0], "images": [sha]}, *item.messages[1:]]
    session.add(item)
    session.commit()
    from store.blobs import LocalBlobStore

    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(sha, b"\x89PNG")
    out, summary = export(session, data, "dpo", tmp_path, name="dpo.zip", blobs=blobs)
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
        assert names == ["handmade.dpo.jsonl", f"images/{sha}.png", "manifest.json"]
        assert zf.read(f"images/{sha}.png") == b"\x89PNG"
        first = orjson.loads(zf.read("handmade.dpo.jsonl").splitlines()[0])
        assert first["images"] == [f"images/{sha}.png"] and first["prompt"][0]["content"].startswith(
            "<image>"
        )
        assert orjson.loads(zf.read("manifest.json"))["counts"]["images"] == 1
    out, _ = export(session, data, "dpo", tmp_path, name="urls.jsonl", blobs=blobs, image_mode="urls")
    assert lines(out)[0]["images"][0].startswith("file://") and lines(out)[0]["images"][0].endswith(sha)


@pytest.mark.parametrize(
    ("fmt", "filters", "message"),
    [
        ("parquet", ExportFilters(), "unknown"),
        ("dpo", ExportFilters(date_from=__import__("datetime").date(2001, 1, 1),
                              date_to=__import__("datetime").date(2001, 1, 2)), "nothing to export"),
        ("dpo", ExportFilters(status="bogus"), "status"),
    ],
)  # fmt: skip
def test_bad_input_writes_no_file(session, data, tmp_path, fmt, filters, message):
    with pytest.raises(InputError, match=message):
        export(session, data, fmt, tmp_path, name="x.jsonl", filters=filters)
    assert list(tmp_path.iterdir()) == []


def test_formats_need_their_classes(session, data, tmp_path):
    bare = make_dataset(session, "bare")
    make_item(session, bare, "only")
    for fmt, message in (("sft", "no Dialog Response"), ("dpo", "no ranking"), ("kto", "no pairwise")):
        with pytest.raises(InputError, match=message):
            write_export(session=session, dataset=bare, fmt=fmt, out=tmp_path / "x.jsonl")
    with pytest.raises(InputError, match="no valid annotation"):  # invalid only → no pairs
        write_export(
            session=session, dataset=data["dataset"], fmt="dpo", out=tmp_path / "x.jsonl",
            filters=ExportFilters(validity="invalid"),
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_results_of_a_deleted_class_are_kept_under_its_old_name(session, data, tmp_path):
    from store.ontology import delete_class

    assert delete_class(session=session, user=data["admin"], class_id=data["classes"]["helpfulness"]) == 4
    out, _ = export(session, data, "dpo", tmp_path)
    scores = [r for r in lines(out) if r["meta"]["source"] == "scores"]
    assert len(scores) == 3 and scores[0]["meta"]["question"] == "helpfulness.score"
    out, _ = export(session, data, "native", tmp_path, name="native.jsonl")
    header, *items = lines(out)
    (deleted,) = [c for c in header["parley"]["ontology"]["classes"] if c["name"] == "helpfulness"]
    assert deleted["deleted"] is True
    sc = next(i for i in items if i["id"] == "sc")
    assert {r["class"] for r in sc["annotations"][0]["results"]} == {"helpfulness"}


def test_batches_read_ahead_keep_order_and_a_preview_leaves_the_session_usable(
    session, data, tmp_path, monkeypatch
):
    import store.export_read as export_read
    from store.export import preview

    monkeypatch.setattr(
        export_read, "BATCH", 2
    )  # six items: three batches, the next read while one is written
    out, summary = export(session, data, "native", tmp_path)
    assert [r["id"] for r in lines(out)[1:]] == ["r3", "tie", "bad", "pw", "sc", "sft"]
    assert summary.counts["items"] == 6
    dpo_out, _ = export(session, data, "dpo", tmp_path, name="d.jsonl")
    monkeypatch.setattr(export_read, "BATCH", 1000)
    one_batch, _ = export(session, data, "dpo", tmp_path, name="d1.jsonl")
    assert dpo_out.read_bytes() == one_batch.read_bytes()
    monkeypatch.setattr(export_read, "BATCH", 1)
    records, counts = preview(
        session=session, dataset=data["dataset"], fmt="dpo", filters=ExportFilters(), limit=2
    )
    assert len(records) == 2 and counts["items"] == 6
    # The reader thread is done: the session answers at once.
    first = select(Item.external_id).where(Item.dataset_id == data["dataset"].id).order_by(Item.position)
    assert session.exec(first).first() == "r3"


def test_the_data_file_alone_points_at_images_by_url_the_zip_carries_them(session, data, tmp_path):
    from store.blobs import LocalBlobStore
    from store.export import export_bytes

    sha = "cd" * 32
    session.add(Asset(id=sha, mime="image/png", width=1, height=1, bytes=4))
    item = session.get(Item, data["items"]["r3"].id)
    item.messages = [{**item.messages[0], "images": [sha]}, *item.messages[1:]]
    session.add(item)
    session.commit()
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(sha, b"\x89PNG")
    kw = {
        "dataset_name": "handmade",
        "fmt": "dpo",
        "filters": ExportFilters(),
        "session": session,
        "blobs": blobs,
    }
    # "Images as files" chosen, but a lone data file cannot hold them: no dangling images/ reference.
    alone = [orjson.loads(line) for line in export_bytes(**kw, image_mode="zip", as_zip=False).splitlines()]
    assert alone[0]["images"] == [(tmp_path / "blobs" / sha[:2] / sha).resolve().as_uri()]
    assert not any(ref.startswith("images/") for record in alone for ref in record["images"])
    with zipfile.ZipFile(io.BytesIO(export_bytes(**kw, image_mode="zip", as_zip=True))) as zf:
        first = orjson.loads(zf.read("handmade.dpo.jsonl").splitlines()[0])
        assert first["images"] == [f"images/{sha}.png"] and zf.read(f"images/{sha}.png") == b"\x89PNG"
