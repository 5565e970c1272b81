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
    from store.demo import DEMO_NAME, load_demo_if_new

    db.upgrade()
    if not args.no_demo and load_demo_if_new():
        print(f"loaded the demo dataset {DEMO_NAME!r}")
    print(
        "schema up to date. Start the app (make run) and open http://localhost:8501; with no accounts yet,\n"
        "create the admin with the setup code the server prints in its terminal."
    )
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
