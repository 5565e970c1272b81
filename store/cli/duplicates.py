"""`duplicates DATASET [--threshold 0.8] [--over prompt|dialogue] [--out FILE]`: the dataset's near-duplicate
groups, printed (group, similarity, each item's id from its source and first words) or written as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from core.neardup import DEFAULT_THRESHOLD
from store import db
from store.cli.operator import cli_admin
from store.cli.report import write_atomic
from store.datasets import get_dataset
from store.duplicates import Group, check_options, duplicate_groups
from store.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duplicates", help="near-duplicate items of a dataset (MinHash, exact Jaccard check)")
    p.add_argument("dataset")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"lowest Jaccard similarity of words, above 0 and at most 1 (default {DEFAULT_THRESHOLD})")  # fmt: skip
    p.add_argument(
        "--over", default="prompt", help="prompt (default: the messages) or dialogue (with candidates)"
    )
    p.add_argument("--out", help="write the groups as JSON to this file instead of printing them")
    p.set_defaults(func=_duplicates)


def _duplicates(args: argparse.Namespace) -> int:
    check_options(args.threshold, args.over)
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise InputError(f"--out {args.out}: is a folder; name the file to write")
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        groups = duplicate_groups(
            session=session, user=cli_admin(), dataset_id=dataset.id, threshold=args.threshold, over=args.over
        )
    items = sum(len(g.members) for g in groups)
    if out is not None:
        data = groups_json(groups, dataset=dataset.name, threshold=args.threshold, over=args.over)
        write_atomic(out, orjson.dumps(data, option=orjson.OPT_INDENT_2))
        print(f"wrote {len(groups)} duplicate groups ({items} items) of {dataset.name} to {out}")
        return 0
    print(
        f"{len(groups)} duplicate groups ({items} items) in {dataset.name}, {args.over} similarity ≥ {args.threshold:g}"
    )
    for n, group in enumerate(groups, start=1):
        print(f"\ngroup {n}: {len(group.members)} items, similarity {group.similarity:.2f}")
        for m in group.members:
            print(f"  {m.external_id}  {m.similarity:.2f}  {m.text}")
    return 0


def groups_json(groups: list[Group], *, dataset: str, threshold: float, over: str) -> dict[str, Any]:
    """The groups as the CLI's --out file holds them."""
    return {
        "dataset": dataset,
        "threshold": threshold,
        "over": over,
        "similarity": "each member's exact Jaccard similarity to the group's first member; a group's is the lowest",
        "groups": [
            {"similarity": g.similarity,
             "items": [{"id": m.external_id, "similarity": m.similarity, "text": m.text} for m in g.members]}
            for g in groups
        ],
    }  # fmt: skip
