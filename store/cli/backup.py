"""`backup --out FILE` and `restore FILE`: the database (and local blobs, for a .tar) to a file and back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from store import db
from store.backup import backup, restore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help="back up the database while the app runs (FILE.tar / .tar.gz also holds the local blobs)",
        description="SQLite: a consistent copy through SQLite's online backup API (FILE.gz: gzipped). "
        "PostgreSQL: pg_dump --format=custom. FILE.tar or FILE.tar.gz: an archive of the database and the "
        "local blob folder (PARLEY_BLOBS). The file appears only once complete.",
    )
    p.add_argument("--out", required=True, type=Path, metavar="FILE")
    p.set_defaults(func=_backup)
    p = sub.add_parser(
        "restore",
        help="restore a backup into an empty database (then run `upgrade`)",
        description="Restore FILE (made by `backup`) into DATABASE_URL, which must hold no Parley rows "
        "(a new SQLite file, a new PostgreSQL database, or one just made by `upgrade`).",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(func=_restore)


def _backup(args: argparse.Namespace) -> int:
    report = backup(url=db.database_url(), out=args.out)
    extra = f", {report.blobs} blobs" if report.blobs else ""
    print(f"backed up the {report.dialect} database{extra} to {report.path} ({report.size:,} bytes)")
    if report.note:
        print(f"note: {report.note}", file=sys.stderr)
    return 0


def _restore(args: argparse.Namespace) -> int:
    report = restore(url=db.database_url(), path=args.file)
    extra = f" and {report.blobs} blobs" if report.blobs else ""
    print(f"restored {report.rows:,} rows in {report.tables} tables{extra}; now run: python -m store upgrade")
    return 0
