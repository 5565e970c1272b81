"""A small team dataset for the review tests: overlap 2, review of every submission, two annotators who agree
on one item and differ on another, and written replies (one started from the bot's reply)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from store.annotations import save_annotation
from store.ontology import import_ontology, list_classes, list_classifications
from store.team.queue import next_in_queue
from store.team.settings import configure_dataset
from tests.store.export_data import ONTOLOGY, make_item
from tests.utils import make_dataset, make_user


def build(session: Session) -> dict[str, Any]:
    """Admin "boss", reviewer "rita", annotators alice and bob (password1); dataset "team" with items
    i1 (scores differ, topics differ), i2 (both say topic chat), i3 (replies: alice rewrote the bot's)."""
    admin = make_user(session, "boss", role="admin")
    rita = make_user(session, "rita", role="reviewer")
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    ds = make_dataset(session, "team")
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY)
    configure_dataset(
        session=session, user=admin, dataset_id=ds.id, overlap=2, review="all",
        reject_reasons=["Wrong label", "Reply too short"],
    )  # fmt: skip
    session.commit()
    cls = {c.name: c.id for c in list_classes(session=session, dataset_id=ds.id)}
    q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
    items = {
        ext: make_item(session, ds, ext, n_candidates=2, position=i)
        for i, ext in enumerate(["i1", "i2", "i3"])
    }
    score = cls["helpfulness"]
    reply = cls["ideal_reply"]
    works = {
        "alice": {
            "i1": {"classifications": {q["topic"]: "chat"},
                   "results": [{"class_id": score, "candidate": 0, "values": {"score": "4"}}]},
            "i2": {"classifications": {q["topic"]: "chat"}},
            "i3": {"results": [{"class_id": reply, "text": "old answer i3, but kinder.", "role": "bot",
                                "source_text": "old answer i3"}]},
        },
        "bob": {
            "i1": {"classifications": {q["topic"]: "code"},
                   "results": [{"class_id": score, "candidate": 0, "values": {"score": "2"}}]},
            "i2": {"classifications": {q["topic"]: "chat"}},
            "i3": {"results": [{"class_id": reply, "text": "A new reply.", "role": "bot"}]},
        },
    }  # fmt: skip
    for user in (alice, bob):
        # The annotators work through their queues as the tool pages do: take the next item, submit it.
        item = next_in_queue(session=session, user=user, dataset_id=ds.id)
        while item is not None:
            session.commit()
            work = works[user.username][item.external_id]
            save_annotation(session=session, user=user, item_id=item.id, work=work, version=0, submit=True)
            item = next_in_queue(session=session, user=user, dataset_id=ds.id, after=item)
        session.commit()
    return {"dataset": ds, "admin": admin, "rita": rita, "alice": alice, "bob": bob, "items": items,
            "classes": cls, "questions": q}  # fmt: skip
