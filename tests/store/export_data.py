"""A hand-made annotated dataset for the export tests: known rankings, ties, pairwise answers, scores."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from store.annotations import save_annotation
from store.models import Dataset, Item, User
from store.ontology import import_ontology, list_classes, list_classifications
from tests.utils import make_dataset, make_user

ONTOLOGY: dict[str, Any] = {
    "classes": [
        {"name": "helpfulness", "alias": "Helpfulness", "number": 1, "color": "#2e7d32", "tags": ["quality"],
         "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"], "required": True},
                        {"name": "why", "type": "text"}]},
        {"name": "ideal_reply", "alias": "Ideal reply", "number": 2, "color": "#1565c0",
         "tool": "dialog_response", "role": "bot", "min_chars": 1, "max_chars": 2000},
    ],
    "classifications": [
        {"name": "preference", "type": "pairwise"},
        {"name": "ranking", "type": "ranking", "allow_ties": True},
        {"name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
    ],
    "guidelines": "Be kind.",
}  # fmt: skip


def make_item(session: Session, dataset: Dataset, ext: str, n_candidates: int = 3, position: int = 0) -> Item:
    item = Item(
        dataset_id=dataset.id,
        external_id=ext,
        name=f"dialogue {ext}",
        position=position,
        messages=[{"role": "user", "text": f"question {ext}"}, {"role": "bot", "text": f"old answer {ext}"},
                  {"role": "user", "text": f"follow-up {ext}"}],
        candidates=[{"text": f"reply {ext}{chr(65 + k)}", "model": f"m{k}"} for k in range(n_candidates)],
        meta={"source": "hand-made"},
    )  # fmt: skip
    session.add(item)
    session.commit()
    return item


def build(session: Session) -> dict[str, Any]:
    """Admin + two annotators; items r3 (ranking of 3), tie (tied ranking + pairwise tie), bad (invalid),
    pw (pairwise only), sc (scores), sft (a written reply starting from the bot's reply)."""
    admin = make_user(session, "boss", role="admin")
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    ds = make_dataset(session, "handmade")
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY)
    cls = {c.name: c.id for c in list_classes(session=session, dataset_id=ds.id)}
    q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
    items = {
        ext: make_item(session, ds, ext, position=i)
        for i, ext in enumerate(["r3", "tie", "bad", "pw", "sc", "sft"])
    }

    def save(user: User, ext: str, *, submit: bool = True, **work: Any) -> None:
        save_annotation(
            session=session, user=user, item_id=items[ext].id, work=work, version=0, submit=submit
        )

    save(alice, "r3", classifications={q["ranking"]: [1, 0, 2], q["topic"]: "chat"})
    save(bob, "r3", classifications={q["ranking"]: [1, 0, 2], q["topic"]: "chat"})
    save(alice, "tie", classifications={q["ranking"]: [[0, 1, 2]], q["preference"]: {"tie": True}})
    save(
        alice,
        "bad",
        validity="invalid",
        invalid_reason="gibberish",
        classifications={q["ranking"]: [0, 1, 2]},
    )
    save(alice, "pw", classifications={q["preference"]: {"chosen": 2, "rejected": 0, "strength": 3}})
    save(
        alice,
        "sc",
        results=[
            {
                "class_id": cls["helpfulness"],
                "candidate": 0,
                "values": {"score": "2", "why": '=HYPERLINK("x")'},
            },
            {"class_id": cls["helpfulness"], "candidate": 1, "values": {"score": "5"}},
            {"class_id": cls["helpfulness"], "candidate": 2, "values": {"score": "3"}},
            {"class_id": cls["helpfulness"], "message": 1, "values": {"score": "4"}},
        ],
    )
    save(
        alice,
        "sft",
        results=[{"class_id": cls["ideal_reply"], "text": "A better answer.", "role": "bot",
                  "source_text": "old answer sft"}],
    )  # fmt: skip
    save(
        bob,
        "sft",
        submit=False,
        results=[{"class_id": cls["ideal_reply"], "text": "Bob's draft", "role": "bot"}],
    )
    return {
        "dataset": ds,
        "admin": admin,
        "alice": alice,
        "bob": bob,
        "items": items,
        "classes": cls,
        "questions": q,
    }
