"""A dataset's near-duplicate items (core/neardup.py over each item's prompt or whole dialogue)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from core import neardup
from store.access import visible_dataset
from store.errors import InputError
from store.models import Item, User

OVER = ("prompt", "dialogue")
CHUNK = 5_000  # items read and sketched at a time
WORKERS_FROM = 20_000  # from this many items the sketches are made by two worker processes


@dataclass
class Member:
    item_id: int
    external_id: str  # the item's id from its source
    similarity: float  # exact Jaccard similarity to the group's first member (1.0 for the first)
    text: str = ""  # the start of its prompt, on one line


@dataclass
class Group:
    similarity: float  # the lowest of its members' similarity to the first member
    members: list[Member] = field(default_factory=list)


def check_options(threshold: float, over: str) -> None:
    """InputError for a threshold outside (0, 1] or an unknown `over`."""
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"threshold {threshold:g}: must be above 0 and at most 1")
    if over not in OVER:
        raise InputError(f"over {over!r}: choose prompt or dialogue")


def duplicate_groups(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    threshold: float = neardup.DEFAULT_THRESHOLD,
    over: str = "prompt",
) -> list[Group]:
    """Groups of the dataset's items whose prompts (over="prompt": the messages before the candidates) or
    whole dialogues (over="dialogue": messages and candidates) are near duplicates: exact Jaccard
    similarity of their words (Chinese / Japanese: character pairs) at least `threshold`; exact duplicates
    after normalising case, punctuation and spacing have similarity 1.0. Largest groups first; members in
    dataset order. Items without text are in no group."""
    check_options(threshold, over)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    count = session.execute(select(func.count()).where(Item.dataset_id == dataset_id)).scalar_one()
    workers = 2 if count >= WORKERS_FROM and (os.cpu_count() or 1) >= 2 else 0
    # The JSON columns as the ORM reads them (never cast or taken apart in SQL: their storage may change).
    columns = [Item.id, Item.external_id, Item.messages] + ([Item.candidates] if over == "dialogue" else [])
    query = select(*columns).where(Item.dataset_id == dataset_id).order_by(Item.position, Item.id)
    externals: dict[int, str] = {}
    with neardup.NearDuplicates(threshold, workers=workers) as finder:
        for rows in session.execute(query.execution_options(yield_per=CHUNK)).partitions():
            ids, texts = [], []
            for row in rows:
                ids.append(row[0])
                externals[row[0]] = row[1]
                texts.append(neardup.item_text(row[2], row[3] if over == "dialogue" else None, over))
            finder.add(ids, texts)
        found = finder.groups()
    previews = _previews(session, [i for g in found for i in g.ids])
    return [
        Group(
            similarity=g.similarity,
            members=[
                Member(i, externals[i], s, previews.get(i, ""))
                for i, s in zip(g.ids, g.similarities, strict=True)
            ],  # type: ignore[arg-type]
        )
        for g in found
    ]


def _previews(session: Session, item_ids: list[Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        for item_id, messages in session.execute(select(Item.id, Item.messages).where(Item.id.in_(chunk))):
            out[item_id] = neardup.first_words(neardup.prompt_text(messages))
    return out
