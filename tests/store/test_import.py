"""Importing the real public samples through import_source: counts from their README and exact values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from store.blobs import LocalBlobStore
from store.importer import import_source
from store.items import dataset_stats, list_items
from store.models import Asset, ImportJob, Item, Suggestion
from tests.utils import found, make_user

# file → (format, items, messages, candidates, images, suggestions)
SAMPLES = {
    "hh-rlhf_harmless-base_test.jsonl.gz": ("hh_rlhf", 2312, 9204, 4624, 0, 2312),
    "llamafactory_dpo_en_demo.json.gz": ("preference", 300, 906, 600, 0, 300),
    "llamafactory_alpaca_en_demo.json": ("alpaca", 999, 1998, 0, 0, 0),
    "oasst_en_100_tree.jsonl": ("oasst", 214, 446, 647, 0, 212),
    "fastchat_dummy_conversation.json": ("sharegpt", 500, 2000, 0, 0, 0),
    "llamafactory_kto_en_demo.json": ("kto", 300, 674, 300, 0, 300),
    "fastchat_vicuna_bench_eval_table.zip": ("vicuna_bench", 80, 80, 400, 0, 640),
    "llamafactory_mllm_demo.zip": ("openai", 6, 24, 0, 3, 0),
    "llamafactory_mllm_demo.rar": ("openai", 6, 24, 0, 3, 0),
    "multimodal": ("openai", 30, 120, 0, 3, 0),
}


def blob_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def run(session: Session, source, name: str = "demo", **kw):  # type: ignore[no-untyped-def]
    admin = make_user(session, "admin1", role="admin")
    blobs = LocalBlobStore(kw.pop("blob_root"))
    return import_source(
        user=admin,
        dataset_name=name,
        source=source,
        engine=session.get_bind(),
        create=True,
        blobs=blobs,
        **kw,
    )


def again(session: Session, source, name: str = "demo", **kw):  # type: ignore[no-untyped-def]
    """Import once more as the admin `run` made (the test's own transaction ended first)."""
    from store.models import User

    admin = session.execute(select(User).where(User.username == "admin1")).scalar_one()
    session.expunge(admin)  # detached with its attributes loaded: reading them opens no transaction
    session.rollback()
    return import_source(
        user=admin, dataset_name=name, source=source, engine=session.get_bind(), create=True, **kw
    )


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_real_sample_imports_with_its_counts(
    sample: str, session: Session, datasets_dir: Path, tmp_path: Path
) -> None:
    fmt, n_items, n_messages, n_candidates, n_images, n_suggestions = SAMPLES[sample]
    report = run(session, str(datasets_dir / sample), blob_root=tmp_path / "blobs")
    assert (report.format, report.items, report.messages, report.candidates) == (
        fmt,
        n_items,
        n_messages,
        n_candidates,
    )
    assert (report.images, report.suggestions, report.skipped) == (n_images, n_suggestions, 0)
    assert session.execute(select(func.count()).select_from(Item)).scalar_one() == n_items
    assert session.execute(select(func.count()).select_from(Suggestion)).scalar_one() == n_suggestions
    assert session.execute(select(func.count()).select_from(Asset)).scalar_one() == n_images
    assert len(blob_files(tmp_path / "blobs")) == n_images
    job = session.execute(select(ImportJob)).scalar_one()
    assert (job.status, job.format, job.counts["items"]) == ("done", fmt, n_items)


def first_item(session: Session) -> Item:
    return session.execute(select(Item).order_by(Item.position)).scalars().first()  # type: ignore[return-value]


def test_exact_values_sharegpt(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    run(session, str(datasets_dir / "fastchat_dummy_conversation.json"), blob_root=tmp_path)
    item = first_item(session)
    assert item.external_id == "identity_0" and item.position == 0
    assert item.messages[0] == {"role": "user", "text": "Who are you?"}
    assert item.messages[3] == {"role": "bot", "text": "You too!"}
    assert item.id in found(session, item.dataset_id, "who are you")  # the search index has it


def test_exact_values_hh_rlhf(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    run(session, str(datasets_dir / "hh-rlhf_harmless-base_test.jsonl.gz"), blob_root=tmp_path)
    item = first_item(session)
    assert item.external_id == "1"
    assert item.messages[0]["text"] == "what are some pranks with a pen i can do?"
    assert item.candidates[0]["text"].startswith("No, sorry!  All of these involve a pen")
    suggestion = session.execute(select(Suggestion).where(Suggestion.item_id == item.id)).scalar_one()
    assert (suggestion.kind, suggestion.value, suggestion.agent) == (
        "preference",
        {"chosen": 0, "rejected": 1},
        "hh_rlhf",
    )


def test_every_item_is_found_by_its_words(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    """The importer indexes each item's text as it writes it (fast path included): every item is found
    by a phrase from its last message, and by one from a candidate."""
    run(session, str(datasets_dir / "oasst_en_100_tree.jsonl"), blob_root=tmp_path)
    items = session.execute(select(Item)).scalars().all()
    assert len(items) == 214
    with_candidates = [i for i in items if i.candidates]
    assert with_candidates  # the candidates' text is in the index too
    for item in items[:40] + with_candidates[:10]:
        part = (item.candidates or item.messages)[-1]["text"]
        words = " ".join(part.split()[:6])
        assert item.id in found(session, item.dataset_id, f'"{words}"'), words


def test_images_are_stored_once_with_their_size(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    """The zip and the .rar hold the same 3 JPEGs: after both imports the blob store has 3 files."""
    blobs = tmp_path / "blobs"
    first = run(session, str(datasets_dir / "llamafactory_mllm_demo.zip"), "zip", blob_root=blobs)
    second = again(
        session, str(datasets_dir / "llamafactory_mllm_demo.rar"), "rar", blobs=LocalBlobStore(blobs)
    )
    assert (first.images, first.images_new, second.images, second.images_new) == (3, 3, 3, 0)
    assert len(blob_files(blobs)) == 3
    assets = {a.id: a for a in session.execute(select(Asset)).scalars()}
    one = assets["95d292cbe8e7151b277f8c04f670a1bd28bbb36882ed5ac0a486b6e5f6e67a0b"]  # 1.jpg's sha256
    assert one.mime == "image/jpeg" and one.bytes == 12324 and one.width > 0 and one.height > 0
    item = session.execute(select(Item).where(Item.external_id == "mllm_demo.json:1")).scalars().first()
    assert item is not None
    assert item.messages[0] == {"role": "user", "text": "Who are they?", "images": [one.id]}
    assert item.messages[2]["images"] == [one.id]  # the same image named twice: one asset


def test_importing_again_skips_every_duplicate_id(
    session: Session, datasets_dir: Path, tmp_path: Path
) -> None:
    source = str(datasets_dir / "fastchat_dummy_conversation.json")
    run(session, source, blob_root=tmp_path)
    second = again(session, source, blobs=LocalBlobStore(tmp_path))
    assert (second.items, second.skipped) == (0, 500)
    assert second.skipped_ids[:2] == ["identity_0", "identity_1"]
    assert session.execute(select(func.count()).select_from(Item)).scalar_one() == 500


def test_stats_and_browsing(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    run(session, str(datasets_dir / "llamafactory_mllm_demo.zip"), blob_root=tmp_path)
    from store.models import User

    admin = session.execute(select(User)).scalar_one()
    session.rollback()
    (stats,) = dataset_stats(session=session, user=admin)
    assert (stats.items, stats.messages, stats.images, stats.new, stats.submitted) == (6, 24, 3, 6, 0)
    found, total = list_items(session=session, user=admin, dataset_id=stats.id, search="BAYERN")
    assert total == 2 and {i.external_id for i in found} == {"mllm_demo.json:1"} | {found[1].external_id}
    page, total = list_items(session=session, user=admin, dataset_id=stats.id, offset=4, limit=20)
    assert total == 6 and [i.position for i in page] == [4, 5]
