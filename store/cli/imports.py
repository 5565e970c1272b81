"""`import DATASET SOURCE [--format F] [--sheet S]`: the same import as the Dataset Center page."""

from __future__ import annotations

import argparse
import sys

from store import db
from store.importer import ImportProgress, default_options, import_source


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import dialogues into a dataset (created if missing)")
    p.add_argument("dataset")
    p.add_argument(
        "source", help="a file or folder on this server, an http(s) URL, or s3://bucket/key-or-prefix"
    )
    p.add_argument("--format", default=None, help="force a format instead of detecting it")
    p.add_argument("--sheet", default=None, help="the spreadsheet sheet to read (default: the first)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--skip-duplicates", nargs="?", type=float, const=0.8, default=None, metavar="SIMILARITY",
                   help="leave out items whose prompt nearly repeats one already in the dataset or earlier in the "
                        "source (exact Jaccard similarity of words at least SIMILARITY, default 0.8)")  # fmt: skip
    p.set_defaults(func=_import)


def _progress(p: ImportProgress) -> None:
    # On a terminal one line rewritten in place; into a file or a pipe one line per update.
    line = f"{p.items} items, {p.items_per_second:,.0f} items/s"
    if sys.stderr.isatty():
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def _import(args: argparse.Namespace) -> int:
    db.upgrade()
    options = default_options(format=args.format, sheet=args.sheet)
    report = import_source(
        user=None,
        dataset_name=args.dataset,
        source=args.source,
        options=options,
        progress=None if args.quiet else _progress,
        create=True,
        skip_duplicates=args.skip_duplicates,
    )
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"imported into {report.dataset} ({report.format}): {report.items} items, {report.messages} messages, "
        f"{report.candidates} candidates, {report.images} images, {report.suggestions} suggestions, "
        f"{report.skipped} skipped (duplicate ids)"
        + (f", {report.near_skipped} skipped as near duplicates" if args.skip_duplicates else "")
        + f" in {report.seconds:.1f} s"
    )
    for line in report.near_lines():
        print(f"near duplicate left out: {line}")
    for note in report.notes:
        print(f"note: {note}")
    return 0
