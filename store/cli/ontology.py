"""`ontology import DATASET FILE.json [--merge]` and `ontology export DATASET [--out FILE]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from store import db
from store.datasets import get_dataset
from store.errors import InputError
from store.ontology import export_ontology, import_ontology


def register(sub: argparse._SubParsersAction) -> None:
    onto = sub.add_parser("ontology", help="import or export a dataset's ontology JSON").add_subparsers(
        dest="ontology_cmd", required=True
    )
    p = onto.add_parser("import", help="load an ontology JSON into a dataset (all or nothing)")
    p.add_argument("dataset")
    p.add_argument("file")
    p.add_argument("--merge", action="store_true", help="keep classes the file does not name")
    p.set_defaults(func=_import)
    p = onto.add_parser("export", help="write a dataset's ontology JSON")
    p.add_argument("dataset")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=_export)


def read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None


def _import(args: argparse.Namespace) -> int:
    data = read_json(args.file)
    db.upgrade()
    with db.write_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        try:
            summary = import_ontology(
                session=session,
                user=None,
                dataset_id=dataset.id,
                data=data,
                mode="merge" if args.merge else "replace",
            )
        except InputError as exc:
            raise InputError(f"{args.file}: {exc}") from None
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"ontology of {dataset.name}: {summary['created']} classes created, {summary['updated']} updated, "
        f"{summary['deleted']} deleted; {summary['classifications_created']} classifications created, "
        f"{summary['classifications_updated']} updated, {summary['classifications_deleted']} deleted"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    db.upgrade()
    with db.read_session() as session:
        dataset = get_dataset(session=session, name=args.dataset)
        data = export_ontology(session=session, dataset_id=dataset.id)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}: {len(data['classes'])} classes, {len(data['classifications'])} classifications"
        )
    else:
        sys.stdout.write(text)
    return 0
