"""`setup` (schema upgrade + demo content on first start) and `makemigration` (new Alembic revision)."""

from __future__ import annotations

import argparse

from store import db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="upgrade the schema; load demo content on a new embedded install")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo dataset")
    p.set_defaults(func=_setup)
    p = sub.add_parser("upgrade", help="upgrade the schema to the newest revision")
    p.set_defaults(func=lambda args: db.upgrade() or 0)
    p = sub.add_parser("makemigration", help="write a new Alembic revision from store/models.py")
    p.add_argument("message")
    p.set_defaults(func=_makemigration)


def _setup(args: argparse.Namespace) -> int:
    db.upgrade()
    if not args.no_demo:
        try:
            from store.demo import load_demo_if_new
        except ImportError:  # the demo module arrives with the foundation work
            return 0
        load_demo_if_new()
    return 0


def _makemigration(args: argparse.Namespace) -> int:
    import tempfile

    from alembic import command

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/schema.db"
        db.upgrade(url)
        cfg = db.alembic_config(url)
        command.revision(cfg, message=args.message, autogenerate=True)
    return 0
