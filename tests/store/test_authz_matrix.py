"""The authorization matrix's store rows (tests/authz_matrix.py): every function × every role, on SQLite and
PostgreSQL, called with the user the session check gives for that role's cookie (none when signed out or
deactivated: no store function is reached). Forbidden or NotFound is a deny; anything else an allow.
Also: the matrix names every store function that takes a user and a dataset, and SECURITY.md shows it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

import store
from core.filters import ItemFilter
from store import (
    access,
    annotations,
    comments,
    datasets,
    duplicates,
    export,
    export_filters,
    filters,
    importer,
    items,
    ontology,
    queue,
    saved_filters,
    search,
    users,
)
from store.errors import Forbidden, NotFound
from store.llm import draft, endpoints, jobs
from store.models import Dataset, Item, SavedFilter, User
from store.report import ReportFilters, report_data
from store.sessions import verify_session
from store.team import adjudicate, history, review, settings
from store.team import queue as team_queue
from tests.authz_matrix import INSIDE, NO_USER, ROLES, STORE, A, D, R, counts, render
from tests.authz_world import MEMBERS, MODEL, World, build

ROOT = Path(__file__).resolve().parents[2]


def _listed(names: list[str]) -> None:
    """A listing is a read of the restricted dataset when it names it."""
    if R not in names:
        raise NotFound(f"{R} not listed")


def _item(s: Session, item_id: int) -> Item:
    return s.get(Item, item_id)  # type: ignore[return-value]


def _import(s: Session, u: User, w: World, tmp: Path) -> None:
    source = tmp / "more.jsonl"
    source.write_text('{"id": "new", "messages": [{"role": "user", "content": "hi"}]}\n')
    importer.import_source(user=u, dataset_name=R, source=source, engine=s.get_bind().engine)


def _saved(s: Session, w: World) -> str:
    """A saved filter of the restricted dataset (in the call's rolled-back transaction): its name."""
    s.add(SavedFilter(dataset_id=w.r, name="done", spec={"status": ["submitted"]}))
    s.flush()
    return "done"


CLASS = {"name": "helpfulness", "alias": "Helpful?", "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3"]}]}  # fmt: skip
Call = Callable[[Session, User, World], Any]
# store row → the call, with arguments that succeed for a role the matrix allows.
CALLS: dict[str, Call] = {
    "access.visible_dataset": lambda s, u, w: access.visible_dataset(session=s, user=u, dataset_id=w.r),
    "access.can_see_dataset": lambda s, u, w: access.can_see_dataset(
        session=s, user=u, dataset=s.get(Dataset, w.r)
    ) or _listed([]),
    "access.can_see_asset": lambda s, u, w: access.can_see_asset(session=s, user=u, asset_id=w.images[R])
    or _listed([]),
    "access.visible_item": lambda s, u, w: access.visible_item(session=s, user=u, item_id=w.x1),
    "datasets.list_datasets": lambda s, u, w: _listed([d.name for d in datasets.list_datasets(session=s, user=u)]),
    "datasets.get_dataset": lambda s, u, w: datasets.get_dataset(session=s, name=R, user=u),
    "datasets.set_dataset_members": lambda s, u, w: datasets.set_dataset_members(
        session=s, user=u, dataset_id=w.r, usernames=MEMBERS, restricted=True
    ),
    "items.dataset_stats": lambda s, u, w: _listed([d.name for d in items.dataset_stats(session=s, user=u)]),
    "items.list_items": lambda s, u, w: items.list_items(session=s, user=u, dataset_id=w.r),
    "search.search_items": lambda s, u, w: search.search_items(session=s, user=u, dataset_id=w.r, query="hello"),
    "items.get_item": lambda s, u, w: items.get_item(session=s, user=u, item_id=w.x1),
    "items.suggestions_for": lambda s, u, w: items.suggestions_for(session=s, user=u, item_id=w.x1),
    "items.rename_dataset": lambda s, u, w: items.rename_dataset(
        session=s, user=u, dataset_id=w.r, name="Renamed"
    ),
    "items.update_dataset_settings": lambda s, u, w: items.update_dataset_settings(
        session=s, user=u, dataset_id=w.r, changes={"shuffle_candidates": True}
    ),
    "items.deletion_impact": lambda s, u, w: items.deletion_impact(session=s, user=u, dataset_id=w.r),
    "items.delete_dataset": lambda s, u, w: items.delete_dataset(session=s, user=u, dataset_id=w.r),
    "items.import_jobs": lambda s, u, w: items.import_jobs(session=s, user=u, dataset_id=w.r),
    "duplicates.duplicate_groups": lambda s, u, w: duplicates.duplicate_groups(session=s, user=u, dataset_id=w.r),
    "importer.import_source": None,  # type: ignore[dict-item]  (own engine: see test_store_row)
    "team.settings.configure_dataset": lambda s, u, w: settings.configure_dataset(
        session=s, user=u, dataset_id=w.r, overlap=3
    ),
    "ontology.create_class": lambda s, u, w: ontology.create_class(
        session=s, user=u, dataset_id=w.r, data={**CLASS, "name": "clarity", "alias": "Clarity"}
    ),
    "ontology.update_class": lambda s, u, w: ontology.update_class(session=s, user=u, class_id=w.cls, data=CLASS),
    "ontology.delete_class": lambda s, u, w: ontology.delete_class(session=s, user=u, class_id=w.cls),
    "ontology.restore_class": lambda s, u, w: ontology.restore_class(session=s, user=u, class_id=w.old_cls),
    "ontology.create_classification": lambda s, u, w: ontology.create_classification(
        session=s, user=u, dataset_id=w.r, data={"name": "mood", "type": "text"}
    ),
    "ontology.update_classification": lambda s, u, w: ontology.update_classification(
        session=s, user=u, classification_id=w.question,
        data={"name": "topic", "type": "radio", "options": ["yes", "no", "maybe"]},
    ),  # fmt: skip
    "ontology.move_classification": lambda s, u, w: ontology.move_classification(
        session=s, user=u, classification_id=w.question, step=1
    ),
    "ontology.delete_classification": lambda s, u, w: ontology.delete_classification(
        session=s, user=u, classification_id=w.question
    ),
    "ontology.set_guidelines": lambda s, u, w: ontology.set_guidelines(
        session=s, user=u, dataset_id=w.r, text="Be kind."
    ),
    "ontology.import_ontology": lambda s, u, w: ontology.import_ontology(
        session=s, user=u, dataset_id=w.r, data={"classes": [CLASS]}, mode="merge"
    ),
    "ontology.copy_ontology": lambda s, u, w: ontology.copy_ontology(
        session=s, user=u, from_dataset_id=w.r, to_dataset_id=w.open
    ),
    "filters.item_conditions": lambda s, u, w: filters.item_conditions(
        session=s, user=u, dataset_id=w.r, flt=ItemFilter(status=["submitted"])
    ),
    "saved_filters.list_filters": lambda s, u, w: saved_filters.list_filters(session=s, user=u, dataset_id=w.r),
    "saved_filters.get_filter": lambda s, u, w: saved_filters.get_filter(session=s, user=u, dataset_id=w.r, name=_saved(s, w)),
    "saved_filters.save_filter": lambda s, u, w: saved_filters.save_filter(
        session=s, user=u, dataset_id=w.r, name="mine", flt=ItemFilter(disagree=True)
    ),
    "saved_filters.delete_filter": lambda s, u, w: saved_filters.delete_filter(
        session=s, user=u, dataset_id=w.r, name=_saved(s, w)
    ),
    "queue.count_items": lambda s, u, w: queue.count_items(session=s, user=u, dataset_id=w.r),
    "queue.rank_of": lambda s, u, w: queue.rank_of(session=s, user=u, item=_item(s, w.x2)),
    "queue.selected": lambda s, u, w: queue.selected(session=s, user=u, item=_item(s, w.x2)),
    "queue.rank_after": lambda s, u, w: queue.rank_after(
        session=s, user=u, item=_item(s, w.x2), before=_item(s, w.x2), before_rank=1
    ),
    "queue.neighbour": lambda s, u, w: queue.neighbour(session=s, user=u, dataset_id=w.r, item=None, step=1),
    "queue.following": lambda s, u, w: queue.following(session=s, user=u, dataset_id=w.r, item=None, step=1),
    "queue.next_todo": lambda s, u, w: queue.next_todo(session=s, user=u, dataset_id=w.r),
    "queue.item_at": lambda s, u, w: queue.item_at(session=s, user=u, dataset_id=w.r, rank=1),
    "queue.item_by_external_id": lambda s, u, w: queue.item_by_external_id(
        session=s, user=u, dataset_id=w.r, external_id="x1"
    ),
    "queue.my_status": lambda s, u, w: queue.my_status(session=s, user=u, item_id=w.x1),
    "team.queue.next_in_queue": lambda s, u, w: team_queue.next_in_queue(session=s, user=u, dataset_id=w.r),
    "team.queue.peek_queue": lambda s, u, w: team_queue.peek_queue(session=s, user=u, dataset_id=w.r, after=None),
    "team.queue.queue_counts": lambda s, u, w: team_queue.queue_counts(session=s, user=u, dataset_id=w.r),
    "team.queue.queue_before": lambda s, u, w: team_queue.queue_before(
        session=s, user=u, dataset_id=w.r, item=_item(s, w.x2)
    ),
    "team.queue.skip": lambda s, u, w: team_queue.skip(session=s, user=u, item_id=w.x2),
    "annotations.load_work": lambda s, u, w: annotations.load_work(session=s, user=u, item_id=w.x2),
    "annotations.save_draft": lambda s, u, w: annotations.save_draft(
        session=s, user=u, item_id=w.x2, work=w.work, version=0
    ),
    "annotations.save_annotation": lambda s, u, w: annotations.save_annotation(
        session=s, user=u, item_id=w.x2, work=w.work, version=0, submit=False
    ),
    "annotations.add_active_time": lambda s, u, w: annotations.add_active_time(
        session=s, user=u, item_id=w.x1, seconds=5
    ),
    "comments.list_comments": lambda s, u, w: comments.list_comments(session=s, user=u, item_id=w.x1),
    "comments.add_comment": lambda s, u, w: comments.add_comment(session=s, user=u, item_id=w.x1, text="Yes."),
    "comments.set_resolved": lambda s, u, w: comments.set_resolved(session=s, user=u, comment_id=w.comment),
    "team.history.item_history": lambda s, u, w: history.item_history(session=s, user=u, item_id=w.x1),
    "team.review.review_stream": lambda s, u, w: review.review_stream(session=s, user=u, dataset_id=w.r),
    "team.review.review_count": lambda s, u, w: review.review_count(session=s, user=u, dataset_id=w.r),
    "team.review.get_for_review": lambda s, u, w: review.get_for_review(
        session=s, user=u, annotation_id=w.annotation
    ),
    "team.review.find_annotation": lambda s, u, w: review.find_annotation(
        session=s, user=u, dataset_id=w.r, external_id="x1", annotator="alice"
    ),
    "team.review.accept": lambda s, u, w: review.accept(
        session=s, user=u, annotation_id=w.annotation, version=w.version
    ),
    "team.review.reject": lambda s, u, w: review.reject(
        session=s, user=u, annotation_id=w.annotation, version=w.version, reason="Wrong label"
    ),
    "team.review.fix_and_accept": lambda s, u, w: review.fix_and_accept(
        session=s, user=u, annotation_id=w.annotation, version=w.version, work=w.work
    ),
    "team.adjudicate.get_adjudication": lambda s, u, w: adjudicate.get_adjudication(session=s, user=u, item_id=w.x1),
    "team.adjudicate.items_to_adjudicate": lambda s, u, w: adjudicate.items_to_adjudicate(
        session=s, user=u, dataset_id=w.r
    ),
    "team.adjudicate.finalise": lambda s, u, w: adjudicate.finalise(session=s, user=u, item_id=w.x1, picks={}),
    "team.adjudicate.finalise_agreed": lambda s, u, w: adjudicate.finalise_agreed(session=s, user=u, dataset_id=w.r),
    "export.export_bytes": lambda s, u, w: export.export_bytes(
        dataset_name=R, fmt="native", filters=export_filters.ExportFilters(), as_zip=False, user=u, session=s
    ),
    "report.report_data": lambda s, u, w: report_data(
        session=s, user=u, dataset_id=w.r, filters=ReportFilters()
    ),
    "llm.endpoints.add_model": lambda s, u, w: endpoints.add_model(
        session=s, user=u, name="m2", base_url="http://127.0.0.1:9/v1", model="m"
    ),
    "llm.endpoints.remove_model": lambda s, u, w: endpoints.remove_model(session=s, user=u, name=MODEL),
    "llm.jobs.start_job": lambda s, u, w: jobs.start_job(
        session=s, user=u, dataset_id=w.r, kind="generate", models=[MODEL]
    ),
    "llm.jobs.list_jobs": lambda s, u, w: jobs.list_jobs(session=s, user=u, dataset_id=w.r),
    "llm.jobs.cancel_job": lambda s, u, w: jobs.cancel_job(session=s, user=u, job_id=w.job),
    "llm.jobs.resume_job": lambda s, u, w: jobs.resume_job(session=s, user=u, job_id=w.job),
    # A generator: nothing is sent until it is read, and the test does not read it.
    "llm.draft.draft_reply": lambda s, u, w: draft.draft_reply(session=s, user=u, item_id=w.x1, model=MODEL),
    "users.add_user": lambda s, u, w: users.add_user(
        session=s, actor=u, username="newbie", password="password1", role="annotator"
    ),
    "users.set_role": lambda s, u, w: users.set_role(session=s, actor=u, user_id=w.users["oscar"], role="reviewer"),
    "users.set_active": lambda s, u, w: users.set_active(
        session=s, actor=u, user_id=w.users["oscar"], active=False
    ),
    "users.reset_password": lambda s, u, w: users.reset_password(
        session=s, actor=u, user_id=w.users["oscar"], password="password2"
    ),
}  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, World]]:
    """One world per database for the whole module: every cell runs in a transaction rolled back after it."""
    from sqlmodel import SQLModel

    from store.db import make_engine

    if request.param == "sqlite":
        # A file, not memory: import_source opens connections of its own.
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('authz')}/parley.db")
        SQLModel.metadata.create_all(engine)
    else:
        engine = make_engine(request.getfixturevalue("pg_server").new_database())
    with Session(engine, expire_on_commit=False) as s:
        built = build(s)
    yield engine, built
    engine.dispose()


def outcome(engine: Engine, w: World, row: str, role: str) -> str:
    """What `role` gets from the store row: the user comes from the role's session cookie, as on every page
    run; the call runs in a transaction rolled back afterwards (the store's commits only release a
    savepoint), so each role meets the same world."""
    with engine.connect() as conn, conn.begin() as outer:
        s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            found = verify_session(session=s, token=w.tokens[role])
            if found is None:
                return D  # signed out, or deactivated: no user, so no store call
            CALLS[row](s, found[0], w)
            return A
        except (Forbidden, NotFound):
            return D
        finally:
            s.close()
            outer.rollback()


def import_outcome(engine: Engine, w: World, role: str, tmp: Path) -> str:
    """import_source writes through its own engine (and commits): the admin's import adds an item to R."""
    with Session(engine, expire_on_commit=False) as s:
        found = verify_session(session=s, token=w.tokens[role])
        if found is None:
            return D
        try:
            _import(s, found[0], w, tmp)
            return A
        except (Forbidden, NotFound):
            return D


@pytest.mark.parametrize("row", STORE, ids=[r.resource for r in STORE])
def test_store_row(world, row, tmp_path):
    engine, w = world
    if row.resource == "importer.import_source":
        got = {role: import_outcome(engine, w, role, tmp_path) for role in ROLES}
    else:
        got = {role: outcome(engine, w, row.resource, role) for role in ROLES}
    assert got == dict(zip(ROLES, row.cells, strict=True))


# ---------------------------------------------------------------- the table covers the store, and is shown

DATASET_PARAMS = {
    "dataset", "dataset_id", "dataset_name", "from_dataset_id", "to_dataset_id", "item", "item_id", "items",
    "annotation", "annotation_id", "ann", "class_id", "classification_id", "comment_id", "job", "job_id",
}  # fmt: skip
SKIP_MODULES = ("store.cli", "store.migrations", "store.__main__")


def _store_functions() -> dict[str, list[str]]:
    """Every public function defined in a store module: its name (as the matrix writes it) → its parameters."""
    found = {}
    for info in pkgutil.walk_packages(store.__path__, "store."):
        if info.name.startswith(SKIP_MODULES):
            continue
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__:
                key = f"{module.__name__.removeprefix('store.')}.{name}".replace(
                    "report.__init__.", "report."
                )
                found[key] = list(inspect.signature(fn).parameters)
    return found


def test_every_store_function_that_takes_a_dataset_has_a_row():
    functions = _store_functions()
    rows = {r.resource for r in STORE}
    assert rows <= functions.keys(), (
        f"rows for functions that do not exist: {sorted(rows - functions.keys())}"
    )
    named = set(NO_USER) | set(INSIDE)
    assert named <= functions.keys(), f"named but not found: {sorted(named - functions.keys())}"
    takes_dataset = {n for n, params in functions.items() if DATASET_PARAMS & set(params)}
    missing = sorted(takes_dataset - rows - named)
    assert not missing, (
        f"store functions that take a dataset, item, annotation or job and are not in tests/authz_matrix.py: "
        f"{missing}. One that takes a signed-in user needs a row in STORE (and a call in CALLS here); one "
        "that takes none, a line in NO_USER saying which checked step always comes before it (INSIDE: a "
        "step of checked functions that takes the user along)."
    )
    with_user = sorted(n for n in NO_USER if {"user", "actor"} & set(functions[n]))
    assert not with_user, f"these take a user: give them a row, or move them to INSIDE: {with_user}"
    without = sorted(n for n in INSIDE if not {"user", "actor"} & set(functions[n]))
    assert not without, f"these take no user: move them to NO_USER: {without}"
    assert set(CALLS) == rows


def test_security_md_shows_the_matrix():
    text = (ROOT / "SECURITY.md").read_text()
    assert render() in text, (
        "SECURITY.md's table differs from tests/authz_matrix.py: python -m tests.authz_matrix"
    )
    cells, allows, denies = counts()
    assert f"{cells} cells ({allows} allow, {denies} deny)" in " ".join(text.split())
