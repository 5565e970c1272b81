"""`datasets create NAME` and `datasets list`."""

from __future__ import annotations

import argparse

from store import db
from store.datasets import create_dataset, list_datasets


def register(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="manage datasets").add_subparsers(dest="datasets_cmd", required=True)
    p = ds.add_parser("create", help="create an empty dataset")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=_create)
    p = ds.add_parser("list", help="list datasets")
    p.set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.write_session() as session:
        dataset = create_dataset(session=session, name=args.name, description=args.description)
    print(f"created dataset {dataset.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.read_session() as session:
        for dataset in list_datasets(session=session):
            print(dataset.name)
    return 0
