"""Test data for the evaluation page: HH-RLHF records as items, and the DESIGN.md example ontology.

No tests here (the name keeps it with its owner's files). Used by tests/browser/test_evaluate*.py, tests/app/test_evaluate.py and bench/evaluate_latency.py.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from store.models import Classification, Dataset, Item, OntologyClass, Suggestion

# The DESIGN.md example ontology, plus a class on user turns so inheritance can be seen across roles.
ONTOLOGY: dict[str, Any] = {
    "classes": [
        {
            "name": "helpfulness", "alias": "Helpfulness", "number": 1, "color": "#2e7d32", "tags": ["quality"],
            "tool": "dialog_evaluation", "targets": ["bot"],
            "attributes": [
                {"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"], "required": True},
                {"name": "why", "type": "text"},
            ],
        },
        {
            "name": "ideal_reply", "alias": "Ideal reply", "number": 2, "color": "#1565c0",
            "tool": "dialog_response", "role": "bot", "min_chars": 10, "max_chars": 2000,
        },
    ],
    "classifications": [
        {"name": "preference", "type": "pairwise", "required": True},
        {"name": "ranking", "type": "ranking"},
        {"name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
    ],
    "guidelines": "Score each bot reply; rank and compare the two candidates.",
}  # fmt: skip

USER_CLASS: dict[str, Any] = {
    "name": "request", "alias": "Request", "number": 3, "color": "#ad1457", "tool": "dialog_evaluation",
    "targets": ["user"],
    "attributes": [{"name": "harm", "type": "radio", "options": ["none", "mild", "severe"], "required": True}],
}  # fmt: skip

TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh(line: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One HH-RLHF record → (messages, two candidates): the shared turns, then chosen / rejected endings."""
    record = json.loads(line)

    def turns(text: str) -> list[tuple[str, str]]:
        parts = TURN.split(text)
        return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]

    chosen, rejected = turns(record["chosen"]), turns(record["rejected"])
    messages = [{"role": "user" if who == "Human" else "bot", "text": text} for who, text in chosen[:-1]]
    candidates = [
        {"text": chosen[-1][1], "model": "chosen-model"},
        {"text": rejected[-1][1], "model": "rejected-model"},
    ]
    return messages, candidates


def hh_items(datasets_dir: Path, n: int, *, min_bot_turns: int = 2) -> list[tuple[list, list]]:
    """The first `n` records with at least `min_bot_turns` bot messages (so the "second bot bubble" exists)."""
    out = []
    with gzip.open(datasets_dir / "hh-rlhf_harmless-base_test.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            messages, candidates = parse_hh(line)
            if sum(m["role"] == "bot" for m in messages) >= min_bot_turns:
                out.append((messages, candidates))
            if len(out) == n:
                break
    return out


def load_ontology(engine: Engine, dataset_id: int, data: dict[str, Any]) -> None:
    """The ontology through the ontology store when it is there, else as plain rows."""
    with Session(engine) as session:
        try:
            from store.ontology import import_ontology

            import_ontology(session=session, user=None, dataset_id=dataset_id, data=data)
            session.commit()
            return
        except ImportError:
            pass
        for cls in data["classes"]:
            session.add(OntologyClass(dataset_id=dataset_id, position=cls["number"], **cls))
        for position, q in enumerate(data["classifications"], 1):
            settings = {k: q.pop(k) for k in ("allow_ties", "allow_tie", "strengths") if k in q}
            session.add(Classification(dataset_id=dataset_id, position=position, settings=settings, **q))
        session.commit()


def make_hh_dataset(
    engine: Engine,
    datasets_dir: Path,
    *,
    name: str = "hh",
    n: int = 5,
    user_class: bool = False,
    settings: dict[str, Any] | None = None,
    filler: int = 0,
) -> int:
    """A dataset of HH-RLHF items (external ids "1".."n", each with its preference as a suggestion)
    and the example ontology; `filler` more small items after them (for the 100,000-item bench)."""
    with Session(engine) as session:
        dataset = Dataset(name=name, settings=settings or {})
        session.add(dataset)
        session.commit()
        dataset_id = dataset.id
        rows = []
        for i, (messages, candidates) in enumerate(hh_items(datasets_dir, n), 1):
            rows.append(
                {"dataset_id": dataset_id, "external_id": str(i), "name": f"hh {i}", "position": i,
                 "messages": messages, "candidates": candidates, "meta": {}}
            )  # fmt: skip
        for j in range(filler):
            k = n + j + 1
            rows.append(
                {"dataset_id": dataset_id, "external_id": str(k), "name": f"filler {k}", "position": k,
                 "messages": [{"role": "user", "text": f"question {k}"}, {"role": "bot", "text": f"answer {k}"}],
                 "candidates": [{"text": "x"}, {"text": "y"}], "meta": {}}
            )  # fmt: skip
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Item), rows[start : start + 20_000])
        ids = session.exec(
            select(Item.id).where(Item.dataset_id == dataset_id, Item.position <= n).order_by(Item.position)
        ).all()
        session.execute(
            insert(Suggestion),
            [
                {
                    "item_id": i,
                    "kind": "preference",
                    "value": {"chosen": 0, "rejected": 1},
                    "agent": "hh-rlhf",
                }
                for i in ids
            ],
        )
        session.commit()
    data = json.loads(json.dumps(ONTOLOGY))
    if user_class:
        data["classes"].append(json.loads(json.dumps(USER_CLASS)))
    load_ontology(engine, dataset_id, data)
    return dataset_id


def import_hh_with_cli(server: Any, datasets_dir: Path, tmp: Path, *, user_class: bool = False) -> None:
    """The HH-RLHF sample and the example ontology loaded the way an operator does it: `python -m store
    datasets create`, `import` and `ontology import` against the server's database."""
    data = json.loads(json.dumps(ONTOLOGY))
    if user_class:
        data["classes"].append(json.loads(json.dumps(USER_CLASS)))
    ontology = tmp / "ontology.json"
    ontology.write_text(json.dumps(data), encoding="utf-8")
    for args in (
        ("datasets", "create", "hh"),
        ("import", "hh", str(datasets_dir / "hh-rlhf_harmless-base_test.jsonl.gz")),
        ("ontology", "import", "hh", str(ontology)),
    ):
        done = server.cli(*args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
