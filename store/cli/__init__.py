"""The CLI: exit 0 on success, 2 with one clear line on stderr on bad input (nothing written)."""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import FormatError
from store.errors import Conflict, Forbidden, InputError, NotFound

# Each module defines register(subparsers); its subcommands set `func(args) -> int`.
COMMAND_MODULES = [
    "store.cli.setup",
    "store.cli.users",
    "store.cli.datasets",
    "store.cli.ontology",
    "store.cli.imports",
    "store.cli.export",
    "store.cli.history",
    "store.cli.report",
    "store.cli.duplicates",
    "store.cli.search",
    "store.cli.backup",
    "store.cli.models",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m store", description="Parley's store: users, datasets, import, export.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FormatError, InputError, NotFound, Forbidden, Conflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
