"""`datasets create NAME`, `datasets list` and `datasets configure NAME [--overlap N|all] [--review off|all|sample:P]
[--reject-reasons "a;b"]`."""

from __future__ import annotations

import argparse

from store import db
from store.cli.operator import cli_admin
from store.datasets import create_dataset, get_dataset, list_datasets
from store.team.settings import (
    TeamSettings,
    configure_dataset,
    parse_overlap,
    parse_reasons,
    parse_review,
    team_settings,
)


def register(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="manage datasets").add_subparsers(dest="datasets_cmd", required=True)
    p = ds.add_parser("create", help="create an empty dataset")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=_create)
    p = ds.add_parser("list", help="list datasets")
    p.set_defaults(func=_list)
    p = ds.add_parser(
        "configure", help="set a dataset's team settings (prints them; none given: only prints)"
    )
    p.add_argument("name")
    p.add_argument("--overlap", help="annotators per item: a whole number from 1 to 100, or all")
    p.add_argument("--review", help="off, all, or sample:P (P percent of submissions, e.g. sample:20)")
    p.add_argument(
        "--reject-reasons", help='the reasons a reviewer picks from, separated by ";" ("" for none)'
    )
    p.set_defaults(func=_configure)


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


def _configure(args: argparse.Namespace) -> int:
    # Checked before anything is opened: bad input writes nothing.
    if args.overlap is not None:
        parse_overlap(args.overlap)
    if args.review is not None:
        parse_review(args.review)
    if args.reject_reasons is not None:
        parse_reasons(args.reject_reasons)
    db.upgrade()
    if args.overlap is None and args.review is None and args.reject_reasons is None:
        with db.read_session() as session:
            settings = team_settings(get_dataset(session=session, name=args.name))
        _print_settings(args.name, settings)
        return 0
    with db.write_session() as session:
        dataset = get_dataset(session=session, name=args.name)
        settings = configure_dataset(
            session=session,
            user=cli_admin(),
            dataset_id=dataset.id,
            overlap=args.overlap,
            review=args.review,
            reject_reasons=args.reject_reasons,
        )
    _print_settings(args.name, settings, changed=True)
    return 0


def _print_settings(name: str, settings: TeamSettings, changed: bool = False) -> None:
    print(f"{'configured' if changed else 'settings of'} {name}")
    print(f"overlap: {settings.overlap_text}")
    print(f"review: {settings.review_text}")
    print(f"reject reasons: {'; '.join(settings.reject_reasons) or '(none)'}")
