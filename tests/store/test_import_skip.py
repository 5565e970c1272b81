"""Import with --skip-duplicates (#18): exact and near duplicates of the dataset's items, and of earlier
items in the same source, are left out and named; unrelated prompts and the option off change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from store.blobs import LocalBlobStore
from store.importer import import_source
from store.models import Dataset, Item
from tests.utils import cli_env, store_cli

BASE = "please write a short friendly email to my landlord asking when the broken kitchen heater will be repaired this week"
OTHER = (
    "explain in simple words how vaccines train the immune system to recognise a virus before an infection"
)
FIRST = [{"id": "a1", "messages": [{"role": "user", "content": BASE}]},
         {"id": "a2", "messages": [{"role": "user", "content": OTHER}]}]  # fmt: skip
SECOND = [
    {"id": "b1", "messages": [{"role": "user", "content": BASE.upper() + "!"}]},  # exact after normalising
    {"id": "b2", "messages": [{"role": "user", "content": BASE.replace("friendly", "polite")}]},  # near a1
    {
        "id": "b3",
        "messages": [
            {
                "role": "user",
                "content": "list five rivers of south america with their lengths in kilometres and the countries they cross",
            }
        ],
    },  # fmt: skip
    {
        "id": "b4",
        "messages": [
            {
                "role": "user",
                "content": "list five rivers of south america with their lengths in miles and the countries they cross",
            }
        ],
    },  # fmt: skip
    {"id": "b5", "messages": [{"role": "user", "content": "a landlord email"}]},  # shares words, not near
]


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _ids(session: Session) -> list[str]:
    ds = session.execute(select(Dataset.id).where(Dataset.name == "skip")).scalar_one()
    return list(
        session.execute(
            select(Item.external_id).where(Item.dataset_id == ds).order_by(Item.position)
        ).scalars()
    )


def test_near_duplicates_are_left_out_and_named(session: Session, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    run = lambda rows, name, **kw: import_source(user=None, dataset_name="skip", source=_write(tmp_path / name, rows),  # noqa: E731
                                                 engine=session.get_bind(), create=True, blobs=blobs, **kw)  # fmt: skip
    run(FIRST, "first.jsonl")
    report = run(SECOND, "second.jsonl", skip_duplicates=0.8)
    assert report.items == 2 and report.near_skipped == 3
    assert [(e, o) for e, o, _ in report.near_skipped_ids] == [("b1", "a1"), ("b2", "a1"), ("b4", "b3")]
    assert report.near_skipped_ids[0][2] == 1.0 and 0.8 <= report.near_skipped_ids[1][2] < 1.0
    assert "3 skipped as near duplicates" in report.summary()
    assert _ids(session) == ["a1", "a2", "b3", "b5"]


def test_without_the_option_every_item_is_imported(session: Session, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    for rows, name in ((FIRST, "first.jsonl"), (SECOND, "second.jsonl")):
        report = import_source(user=None, dataset_name="skip", source=_write(tmp_path / name, rows),
                               engine=session.get_bind(), create=True, blobs=blobs)  # fmt: skip
    assert report.items == 5 and report.near_skipped == 0
    assert len(_ids(session)) == 7


def test_cli_skip_duplicates_prints_which(tmp_path: Path) -> None:
    def first(session: Session) -> None:  # the dataset's items, imported in this process
        import_source(user=None, dataset_name="skip", source=_write(tmp_path / "first.jsonl", FIRST),
                      engine=session.get_bind(), create=True, blobs=LocalBlobStore(tmp_path / "blobs"))  # fmt: skip
        session.commit()

    env = cli_env(tmp_path, first)
    out = store_cli(
        env, "import", "skip", _write(tmp_path / "second.jsonl", SECOND), "--quiet", "--skip-duplicates"
    )
    assert out.returncode == 0, out.stderr
    assert "2 items" in out.stdout and "3 skipped as near duplicates" in out.stdout
    assert (
        "near duplicate left out: b2 ≈ a1" in out.stdout and "near duplicate left out: b4 ≈ b3" in out.stdout
    )
    bad = store_cli(env, "import", "skip", str(tmp_path / "second.jsonl"), "--skip-duplicates", "1.5")
    assert bad.returncode == 2 and "at most 1" in bad.stderr
