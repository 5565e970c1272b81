"""`history DATASET ITEM_ID`: an item's annotation history, one line an entry, oldest first.

Each line: the time (UTC, ISO 8601), the action, who did it ("system" where no one signed in did: an
expired lease, the command line), the annotator whose work it is, the status, the reason where there is
one, and what changed in the work (e.g. "results: 2 → 3, classifications changed").
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from store import db
from store.cli.operator import cli_admin
from store.datasets import get_dataset
from store.errors import NotFound
from store.models import Item
from store.team.history import Entry, item_history


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="print an item's annotation history")
    p.add_argument("dataset")
    p.add_argument("item_id", help="the item's id from its source")
    p.set_defaults(func=_history)


def _history(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        item_id = session.exec(
            select(Item.id).where(Item.dataset_id == dataset.id, Item.external_id == args.item_id)
        ).first()
        if item_id is None:
            raise NotFound(f"item {args.item_id!r}: not found in dataset {dataset.name!r}")
        entries = item_history(session=session, user=cli_admin(), item_id=item_id)
    if not entries:
        print(f"no history for item {args.item_id} of {dataset.name}")
    for entry in entries:
        print(history_line(entry))
    return 0


def utc_text(at: datetime) -> str:
    """`at` (naive: UTC, as SQLite returns it) as UTC ISO 8601 to the second."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def history_line(entry: Entry) -> str:
    parts = [utc_text(entry.at), entry.label, f"by {entry.by or 'system'}"]
    if entry.annotator:
        parts.append(f"annotator {entry.annotator}")
    status = entry.detail.get("status")
    if status and status != entry.action:
        parts.append(f"status {status}")
    if entry.detail.get("reason"):
        parts.append(f"reason: {entry.detail['reason']}")
    change = change_summary(entry.detail.get("before"), entry.detail.get("after"))
    if change:
        parts.append(change)
    return "  ".join(parts)


def change_summary(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What changed between two works (store/annotations.py shape), in a few words; "" when nothing is known."""
    if not isinstance(after, dict):
        return ""
    new_results = after.get("results") or []
    new_answers = after.get("classifications") or {}
    if not isinstance(before, dict):
        out = [f"results: {len(new_results)}"]
        if new_answers:
            out.append(f"classifications: {len(new_answers)}")
        if after.get("validity") == "invalid":
            out.append("invalid")
        return ", ".join(out)
    old_results = before.get("results") or []
    out = []
    if len(old_results) != len(new_results):
        out.append(f"results: {len(old_results)} → {len(new_results)}")
    elif old_results != new_results:
        out.append("results changed")
    if (before.get("classifications") or {}) != new_answers:
        out.append("classifications changed")
    if before.get("validity", "valid") != after.get("validity", "valid"):
        out.append(f"validity: {before.get('validity', 'valid')} → {after.get('validity', 'valid')}")
    elif before.get("invalid_reason", "") != after.get("invalid_reason", ""):
        out.append("invalid reason changed")
    return ", ".join(out) or "no change in the work"
