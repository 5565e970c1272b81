"""Users, a dataset, its items and ontology written straight through the store (no CLI start per step) into
a running app's database, for the crash, replica and many-browser tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from store import db
from store.blobs import LocalBlobStore
from store.cli.operator import cli_admin
from store.datasets import get_dataset
from store.importer import import_source
from store.ontology import import_ontology
from store.team.settings import configure_dataset
from store.users import create_user


def seed(
    database_url: str,
    blobs: str,
    tmp: Path,
    *,
    users: dict[str, str],
    dataset: str,
    items: list[dict[str, Any]],
    ontology: dict[str, Any],
    password: str,
    overlap: int | None = None,
    team: dict[str, Any] | None = None,
) -> None:
    """`users` maps username → role, all with `password`; `items` in the native format. `team`: the
    dataset's team settings (configure_dataset's overlap, review, reject_reasons), set as the command line's
    operator sets them (`python -m store datasets configure`)."""
    engine = db.get_engine(database_url)
    with db.write_session(engine) as session:
        made = {name: create_user(session=session, username=name, password=password, role=role)
                for name, role in users.items()}  # fmt: skip
    source = tmp / f"{dataset}.jsonl"
    source.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    import_source(
        user=None, dataset_name=dataset, source=str(source), engine=engine, create=True,
        blobs=LocalBlobStore(Path(blobs)),
    )  # fmt: skip
    with db.write_session(engine) as session:
        ds = get_dataset(session=session, name=dataset)
        import_ontology(session=session, user=None, dataset_id=ds.id, data=ontology)
        if overlap is not None:  # (as an admin among `users`)
            admin = next(u for u in made.values() if u.role == "admin")
            configure_dataset(session=session, user=admin, dataset_id=ds.id, overlap=overlap)
        if team:
            configure_dataset(session=session, user=cli_admin(), dataset_id=ds.id, **team)


def add_user(server: Any, username: str, password: str, role: str = "annotator") -> None:
    """What `server.add_user` does (`python -m store users add`: create_user in one write), in this process:
    a CLI start costs ~1.5 s of CPU, more under load. The command itself runs in tests/browser/test_smoke.py."""
    with db.write_session(db.get_engine(server.database_url)) as session:
        create_user(session=session, username=username, password=password, role=role)


def import_dataset(server: Any, dataset: str, source: Path, ontology: dict[str, Any] | None = None) -> None:
    """What `python -m store import DATASET SOURCE` and `python -m store ontology import DATASET FILE` do
    (import_source creating the dataset; import_ontology replacing), in this process, for a test's setup."""
    engine = db.get_engine(server.database_url)
    import_source(user=None, dataset_name=dataset, source=str(source), engine=engine, create=True,
                  blobs=LocalBlobStore(Path(server.blobs)))  # fmt: skip
    if ontology is not None:
        with db.write_session(engine) as session:
            ds = get_dataset(session=session, name=dataset)
            # (a copy, as the command reads it from a file: import_ontology may fill in what it adds)
            import_ontology(
                session=session, user=None, dataset_id=ds.id, data=json.loads(json.dumps(ontology))
            )
