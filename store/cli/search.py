"""`search DATASET "QUERY" [--limit N] [--json]`: the dataset's items matching a full-text query, best first
(item ids from their source, one a line; --json adds the rank and a highlighted snippet's plain text)."""

from __future__ import annotations

import argparse

import orjson
from sqlalchemy import select

from core.dialogue import dialogue_text
from core.search import parse, spans
from store import db
from store.cli.operator import cli_admin
from store.datasets import get_dataset
from store.errors import InputError
from store.models import Item
from store.search import search_items


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="items matching a full-text query, best first")
    p.add_argument("dataset")
    p.add_argument("query", help='words (all must match), "a phrase", prefix*; Chinese and Japanese too')
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.add_argument(
        "--json", action="store_true", help="one JSON object: total, and each hit's id, rank, match"
    )
    p.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InputError(f"--limit {args.limit}: must be at least 1")
    if not parse(args.query):
        raise InputError(f"query {args.query!r}: has no word to search for")
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        hits, total = search_items(
            session=session, user=cli_admin(), dataset_id=dataset.id, query=args.query, limit=args.limit
        )
        if not args.json:
            for hit in hits:
                print(hit.external_id)
            return 0
        texts = dict(
            (i, dialogue_text(m, c))
            for i, m, c in session.execute(
                select(Item.id, Item.messages, Item.candidates).where(Item.id.in_([h.item_id for h in hits]))
            )
        )
    out = []
    for hit in hits:
        text = texts.get(hit.item_id, "")
        found = spans(text, args.query)
        out.append({"id": hit.external_id, "rank": round(hit.rank, 6),
                    "matches": [text[a:b] for a, b in found[:10]]})  # fmt: skip
    print(orjson.dumps({"dataset": dataset.name, "query": args.query, "total": total, "hits": out}).decode())
    return 0
