"""`export DATASET --format native|sft|dpo|kto|csv|xlsx --out FILE [--status submitted|accepted|saved|all]
[--final]`."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from core.export import FORMATS, PAIR_MODES, Options
from store import db
from store.datasets import get_dataset
from store.errors import InputError
from store.export import IMAGE_MODES, write_export
from store.export_filters import STATUS_FILTERS, VALIDITY_FILTERS, ExportFilters


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a dataset's results (a manifest is written beside the file)")
    p.add_argument("dataset")
    p.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, help="FILE; a .zip holds the data, manifest.json and images/")
    p.add_argument(
        "--status",
        default="submitted",
        help=f"one of {', '.join(STATUS_FILTERS)} (default submitted: submitted and reviewer-accepted work; "
        "accepted: accepted only; saved adds saved work; all adds drafts and rejected work)",
    )
    p.add_argument(
        "--final",
        action="store_true",
        help="the items' final (adjudicated) answers only, one per item that has one (--status is ignored)",
    )
    p.add_argument("--validity", default="all", help=f"one of {', '.join(VALIDITY_FILTERS)}")
    p.add_argument("--annotator", action="append", default=[], help="only this annotator (repeatable)")
    p.add_argument("--since", help="annotations changed on or after this day (YYYY-MM-DD)")
    p.add_argument("--until", help="annotations changed on or before this day (YYYY-MM-DD)")
    p.add_argument("--pairs", default="all", help="DPO pairs from rankings: all (every ordered pair) or best")
    p.add_argument("--images", default="zip", help="zip (files beside / inside the export) or urls")
    p.add_argument("--agree-only", action="store_true", help="only items where the annotators agree")
    p.add_argument("--filter", help="only the items of this saved filter of the dataset (saved on its pages)")
    p.set_defaults(func=_export)


def saved_filter_spec(session: Any, dataset_id: int, name: str | None) -> dict[str, Any] | None:
    """The saved filter `name` of the dataset as JSON (None without a name); NotFound names the saved ones."""
    if not name:
        return None
    from store.cli.operator import cli_admin
    from store.saved_filters import get_filter

    return get_filter(session=session, user=cli_admin(), dataset_id=dataset_id, name=name).to_dict()


def parse_day(value: str | None, flag: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag} {value!r}: expected a day as YYYY-MM-DD") from None


def _export(args: argparse.Namespace) -> int:
    if args.format not in FORMATS:
        raise InputError(f"--format {args.format!r}: unknown; choose one of {', '.join(FORMATS)}")
    if args.pairs not in PAIR_MODES:
        raise InputError(f"--pairs {args.pairs!r}: choose all or best")
    if args.images not in IMAGE_MODES:
        raise InputError(f"--images {args.images!r}: choose zip or urls")
    filters = ExportFilters(
        status=args.status,
        annotators=args.annotator,
        date_from=parse_day(args.since, "--since"),
        date_to=parse_day(args.until, "--until"),
        validity=args.validity,
        agree_only=args.agree_only,
        final=args.final,
    )
    filters.check()
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        filters.items = saved_filter_spec(session, dataset.id, args.filter)
        summary = write_export(
            session=session,
            dataset=dataset,
            fmt=args.format,
            out=args.out,
            filters=filters,
            options=Options(pair_mode=args.pairs),
            image_mode=args.images,
        )
    c = summary.counts
    print(
        f"exported {c['records']} {args.format} records from {c['items']} items "
        f"({c['annotations']} annotations, {c['images']} images) to {args.out}"
    )
    return 0
