"""store/duplicates.py on SQLite and PostgreSQL, and `python -m store duplicates`: planted near-duplicate
prompts grouped (with their ids from the source and first words), prompt vs whole dialogue, bad input."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import insert
from sqlmodel import Session

from store import duplicates
from store.errors import InputError
from store.models import Item
from tests.utils import cli_env, make_dataset, make_user, store_cli

BASE = (
    "Write a short friendly email to my landlord explaining that the rent for next month will be three days "
    "late because my employer moved the payday, and ask whether that is acceptable"
)
REPLY = "Dear landlord, I am writing to let you know that this month's rent will arrive a few days late. "
PROMPTS = {
    "a1": BASE,
    "u1": "List five vegetables that grow well in a shaded garden in northern Europe and say when to plant them",
    "a2": BASE.replace("three days", "two days"),
    "u2": "Explain the difference between a list and a tuple in Python with one example of each, briefly",
    "a3": BASE.upper() + "!!!",  # an exact duplicate once normalised
    "c1": "Summarise this article in two sentences for a newsletter aimed at busy engineers",
    "c2": "Translate this paragraph into German, keeping the technical terms in English where needed",
    "e1": "",  # no text: in no group
}
# c1 and c2 have unrelated prompts but the same long candidate replies: one group over the whole dialogue.
LONG = " ".join(f"word{i}" for i in range(200))


def build(session: Session) -> int:
    admin = make_user(session, "root", role="admin")
    ds = make_dataset(session, "demo", created_by=admin.id)
    rows = []
    for position, (ext, text) in enumerate(PROMPTS.items(), start=1):
        candidates = (
            [{"text": LONG}, {"text": LONG + " fin"}] if ext.startswith("c") else [{"text": REPLY + ext}]
        )
        rows.append({"dataset_id": ds.id, "external_id": ext, "name": ext, "position": position, "meta": {},
                     "messages": [{"role": "system", "text": "Be helpful."}, {"role": "user", "text": text}]
                     if text else [{"role": "user", "text": "", "images": ["x"]}], "candidates": candidates})  # fmt: skip
    session.execute(insert(Item), rows)
    session.commit()
    return ds.id


@pytest.fixture
def dataset(session: Session):  # type: ignore[no-untyped-def]
    dataset_id = build(session)
    return session, dataset_id


def ids(groups: list[duplicates.Group]) -> list[list[str]]:
    return [[m.external_id for m in g.members] for g in groups]


def test_prompt_groups(dataset, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    session, dataset_id = dataset
    monkeypatch.setattr(duplicates, "CHUNK", 3)  # the items come in several chunks
    admin = make_user(session, "boss", role="admin")
    [group] = duplicates.duplicate_groups(session=session, user=admin, dataset_id=dataset_id)
    assert ids([group]) == [["a1", "a2", "a3"]]
    first, second, third = group.members
    assert (first.similarity, third.similarity) == (1.0, 1.0) and 0.8 <= second.similarity < 1.0
    assert group.similarity == second.similarity
    assert first.text.startswith("Be helpful. Write a short friendly email") and len(first.text) <= 80
    # a stricter threshold keeps the exact duplicate only
    strict = duplicates.duplicate_groups(session=session, user=admin, dataset_id=dataset_id, threshold=1.0)
    assert ids(strict) == [["a1", "a3"]] and strict[0].similarity == 1.0


def test_dialogue_groups(dataset) -> None:  # type: ignore[no-untyped-def]
    session, dataset_id = dataset
    admin = make_user(session, "boss", role="admin")
    groups = duplicates.duplicate_groups(session=session, user=admin, dataset_id=dataset_id, over="dialogue")
    # c1 and c2: unrelated prompts, the same long replies
    assert ids(groups) == [["a1", "a2", "a3"], ["c1", "c2"]]


@pytest.mark.parametrize(("kw", "message"), [({"threshold": 0}, "above 0"), ({"threshold": 1.2}, "at most 1"),
                                             ({"over": "candidates"}, "prompt or dialogue")])  # fmt: skip
def test_bad_options(dataset, kw, message) -> None:  # type: ignore[no-untyped-def]
    session, dataset_id = dataset
    admin = make_user(session, "boss", role="admin")
    with pytest.raises(InputError, match=message):
        duplicates.duplicate_groups(session=session, user=admin, dataset_id=dataset_id, **kw)


# ---------------------------------------------------------------- the CLI (SQLite file)


def test_cli_prints_and_writes_groups(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = cli_env(tmp_path, build)
    done = store_cli(env, "duplicates", "demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1 duplicate groups (3 items) in demo, prompt similarity ≥ 0.8"
    assert "group 1: 3 items, similarity 0.9" in done.stdout
    assert any(line.startswith("  a3  1.00  Be helpful. WRITE A SHORT") for line in lines)
    out = tmp_path / "groups.json"
    done = store_cli(env, "duplicates", "demo", "--over", "dialogue", "--threshold", "0.9", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 2 duplicate groups (5 items) of demo to {out}"
    data = orjson.loads(out.read_bytes())
    assert (data["threshold"], data["over"]) == (0.9, "dialogue")
    assert [[i["id"] for i in g["items"]] for g in data["groups"]] == [["a1", "a2", "a3"], ["c1", "c2"]]


@pytest.mark.parametrize(("args", "message"), [(["nope"], "dataset 'nope': not found"),
                                               (["demo", "--threshold", "1.5"], "threshold 1.5: must be")])  # fmt: skip
def test_cli_bad_input(tmp_path, args, message) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "x.json"
    done = store_cli(cli_env(tmp_path, build), "duplicates", *args, "--out", str(out))
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1
    assert not out.exists()
