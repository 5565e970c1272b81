"""`report DATASET --out FILE.html | --format json --out FILE.json [--status submitted|accepted|final]
[--annotator NAME]… [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--filter SAVED]`: the pilot report, as the operator admin."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path

import orjson

from core.filters import ItemFilter
from store import db
from store.cli.export import parse_day, saved_filter_spec
from store.cli.operator import cli_admin
from store.datasets import get_dataset
from store.errors import InputError

FORMATS = ("html", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the pilot report: progress, agreement, model win rates (HTML or JSON)")
    p.add_argument("dataset")
    p.add_argument("--out", required=True, help="FILE.html (one self-contained page) or FILE.json")
    p.add_argument("--format", default="html", help="html (default) or json")
    p.add_argument(
        "--status",
        default="submitted",
        help="submitted (default: submitted and accepted work), accepted (accepted only), or final "
        "(the items' adjudicated answers)",
    )
    p.add_argument("--annotator", action="append", default=[], help="only this annotator (repeatable)")
    p.add_argument("--since", help="annotations changed on or after this day (YYYY-MM-DD)")
    p.add_argument("--until", help="annotations changed on or before this day (YYYY-MM-DD)")
    p.add_argument("--filter", help="only the items of this saved filter of the dataset (saved on its pages)")
    p.set_defaults(func=_report)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a failed run leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _report(args: argparse.Namespace) -> int:
    # here, not at the top: numpy, scipy and krippendorff would slow every `python -m store` start by ~1 s
    from store.report import STATUSES, ReportFilters, report_data

    if args.format not in FORMATS:
        raise InputError(f"--format {args.format!r}: choose html or json")
    if args.status not in STATUSES:
        raise InputError(f"--status {args.status!r}: choose {', '.join(STATUSES)}")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out {args.out}: is a folder; name the file to write")
    filters = ReportFilters(
        status=args.status,
        annotators=tuple(args.annotator),
        since=parse_day(args.since, "--since"),
        until=parse_day(args.until, "--until"),
    )
    filters.export_filters()  # checks the dates' order before any work
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        spec = saved_filter_spec(session, dataset.id, args.filter)
        if spec is not None:
            filters = dataclasses.replace(filters, items=ItemFilter.from_dict(spec).to_json())
        report = report_data(session=session, user=cli_admin(), dataset_id=dataset.id, filters=filters)
    if args.format == "json":
        data = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    else:
        from core.report.html import report_html  # Altair and vl-convert load only for the file

        data = report_html(report).encode()
    write_atomic(out, data)
    p = report["progress"]
    print(
        f"wrote the {args.format} report of {dataset.name} to {out} ({p['items']} items, "
        f"{len(report['agreement'])} agreement criteria, {len(report['models']['leaderboard'])} models)"
    )
    return 0
