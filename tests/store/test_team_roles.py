"""Who may call the team workflow's store functions: every function × every role, on a dataset restricted
to its members (an outsider gets NotFound, the same answer as for a missing dataset; a role that may
never do it gets Forbidden)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from store.annotations import load_work
from store.errors import Forbidden, NotFound
from store.models import Annotation, DatasetMember, Item, User
from store.team import adjudicate, history, queue, review
from store.team.settings import configure_dataset
from tests.store.test_team_queue import WORK, add_user, submit, team

ROLES = ["admin", "reviewer", "reviewer outsider", "annotator", "annotator outsider"]
OK = None


@dataclass
class World:
    dataset_id: int
    x1: Item
    x2: Item
    users: dict[str, User]
    annotation_id: int
    version: int


@pytest.fixture
def world(session: Session) -> World:
    """A restricted dataset (overlap 2, review all): alice and bob (annotators) and rita (reviewer) are
    members, oscar (annotator) and rob (reviewer) are not; alice and bob submitted the same answer on x1."""
    ds, items, admin = team(session, n=2, overlap=2, review="all")
    ds.restricted = True
    session.add(ds)
    users = {"admin": admin}
    for role, (name, kind) in {
        "annotator": ("bob", "annotator"),
        "reviewer": ("rita", "reviewer"),
        "annotator outsider": ("oscar", "annotator"),
        "reviewer outsider": ("rob", "reviewer"),
    }.items():
        users[role] = add_user(session, name, kind)
    alice = add_user(session, "alice")
    for member in (alice, users["annotator"], users["reviewer"]):
        session.add(DatasetMember(dataset_id=ds.id, user_id=member.id))
    session.commit()
    version = submit(session, alice, items[0], WORK)
    submit(session, users["annotator"], items[0], WORK)
    ann_id = session.exec(
        select(Annotation.id).where(Annotation.item_id == items[0].id, Annotation.annotator_id == alice.id)
    ).one()
    session.commit()  # ends the read; each role's call then runs on its own connection
    return World(ds.id, items[0], items[1], users, ann_id, version)


CALLS = {
    "next_in_queue": lambda s, u, w: queue.next_in_queue(session=s, user=u, dataset_id=w.dataset_id),
    "peek_queue": lambda s, u, w: queue.peek_queue(session=s, user=u, dataset_id=w.dataset_id, after=None),
    "queue_counts": lambda s, u, w: queue.queue_counts(session=s, user=u, dataset_id=w.dataset_id),
    "skip": lambda s, u, w: queue.skip(session=s, user=u, item_id=w.x2.id),
    "load_work": lambda s, u, w: load_work(session=s, user=u, item_id=w.x2.id),
    "review_stream": lambda s, u, w: review.review_stream(session=s, user=u, dataset_id=w.dataset_id),
    "get_for_review": lambda s, u, w: review.get_for_review(session=s, user=u, annotation_id=w.annotation_id),
    "find_annotation": lambda s, u, w: review.find_annotation(
        session=s, user=u, dataset_id=w.dataset_id, external_id="x1", annotator="alice"
    ),
    "accept": lambda s, u, w: review.accept(
        session=s, user=u, annotation_id=w.annotation_id, version=w.version
    ),
    "reject": lambda s, u, w: review.reject(
        session=s, user=u, annotation_id=w.annotation_id, version=w.version, reason="Wrong label"
    ),
    "fix_and_accept": lambda s, u, w: review.fix_and_accept(
        session=s, user=u, annotation_id=w.annotation_id, version=w.version, work=WORK
    ),
    "get_adjudication": lambda s, u, w: adjudicate.get_adjudication(session=s, user=u, item_id=w.x1.id),
    "items_to_adjudicate": lambda s, u, w: adjudicate.items_to_adjudicate(
        session=s, user=u, dataset_id=w.dataset_id
    ),
    "finalise": lambda s, u, w: adjudicate.finalise(session=s, user=u, item_id=w.x1.id, picks={}),
    "finalise_agreed": lambda s, u, w: adjudicate.finalise_agreed(session=s, user=u, dataset_id=w.dataset_id),
    "item_history": lambda s, u, w: history.item_history(session=s, user=u, item_id=w.x1.id),
    "configure_dataset": lambda s, u, w: configure_dataset(
        session=s, user=u, dataset_id=w.dataset_id, overlap=3
    ),
}

QUEUE = (OK, OK, NotFound, OK, NotFound)
REVIEW = (OK, OK, NotFound, Forbidden, Forbidden)
ADMIN = (OK, Forbidden, Forbidden, Forbidden, Forbidden)
# function: what each of ROLES gets (OK, or the error)
EXPECTED = {
    "next_in_queue": QUEUE,
    "peek_queue": QUEUE,
    "queue_counts": QUEUE,
    "skip": QUEUE,
    "load_work": QUEUE,
    "review_stream": REVIEW,
    "get_for_review": REVIEW,
    "find_annotation": REVIEW,
    "accept": REVIEW,
    "reject": REVIEW,
    "fix_and_accept": REVIEW,
    "get_adjudication": REVIEW,
    "items_to_adjudicate": REVIEW,
    "finalise": REVIEW,
    "finalise_agreed": REVIEW,
    "item_history": QUEUE,  # annotators see their own entries
    "configure_dataset": ADMIN,
}
assert EXPECTED.keys() == CALLS.keys()


def outcome(engine, world: World, fn: str, role: str):  # type: ignore[no-untyped-def]
    """What `role` gets from `fn`: OK or the error's class. The call runs in a transaction that is rolled
    back afterwards (the store's own commits only release a savepoint), so each role meets the same world."""
    with engine.connect() as conn, conn.begin() as outer:
        s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            CALLS[fn](s, s.get(User, world.users[role].id), world)
            return OK
        except (Forbidden, NotFound) as err:
            return type(err)
        finally:
            s.close()
            outer.rollback()


@pytest.mark.parametrize("fn", list(CALLS))
def test_who_may_call_what(engine, world, fn):
    got = {role: outcome(engine, world, fn, role) for role in ROLES}
    assert got == dict(zip(ROLES, EXPECTED[fn], strict=True))
