"""The team queue (store/team/queue.py): overlap, order, leases, skip, counts, and no over-assignment
under concurrent requests from threads and from processes."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert, text, update
from sqlmodel import Session, select

from store.annotations import load_work, save_annotation, save_draft
from store.db import make_engine, upgrade, write_session
from store.models import AuditEvent, Dataset, Item, Lease, User, utcnow
from store.team.queue import next_in_queue, peek_queue, queue_counts, skip
from store.team.review import reject
from store.team.settings import configure_dataset
from tests.utils import make_dataset

WORK = {"validity": "valid", "invalid_reason": "", "classifications": {"1": "yes"}, "results": []}


# ---------------------------------------------------------------- helpers (the other team tests use them too)


def add_user(session: Session, username: str, role: str = "annotator") -> User:
    """A user without a password (hashing one costs ~50 ms; these tests never sign in)."""
    user = User(username=username, display_name=username, role=role)
    session.add(user)
    session.commit()
    return user


def add_items(session: Session, dataset: Dataset, n: int) -> list[Item]:
    """`n` items at positions 1..n, returned in that order."""
    session.execute(
        insert(Item),
        [
            {"dataset_id": dataset.id, "external_id": f"x{i}", "name": f"x{i}", "position": i,
             "messages": [{"role": "user", "text": f"q{i}"}], "candidates": [], "meta": {}}
            for i in range(1, n + 1)
        ],
    )  # fmt: skip
    session.commit()
    return list(session.exec(select(Item).where(Item.dataset_id == dataset.id).order_by(Item.position)).all())


def team(session: Session, n: int = 4, overlap: str | int | None = None, review: str | None = None):  # type: ignore[no-untyped-def]
    """A dataset of `n` items with its team settings, and an admin."""
    admin = add_user(session, "admin", "admin")
    ds = make_dataset(session, "team")
    if overlap is not None or review is not None:
        configure_dataset(session=session, user=admin, dataset_id=ds.id, overlap=overlap, review=review)
        session.commit()
    return ds, add_items(session, ds, n), admin


def pick(session: Session, user: User, ds: Dataset, after: Item | None = None) -> Item | None:
    """What the queue's → does: the next item, with its lease, committed."""
    item = next_in_queue(session=session, user=user, dataset_id=ds.id, after=after)
    session.commit()
    return item


def submit(session: Session, user: User, item: Item, work: dict | None = None) -> int:
    loaded = load_work(session=session, user=user, item_id=item.id)
    return save_annotation(
        session=session, user=user, item_id=item.id, work=work or WORK, version=loaded.version, submit=True
    )


def names(items: list[Item | None]) -> list[str | None]:
    return [i.external_id if i is not None else None for i in items]


def taken(session: Session, item: Item) -> int:
    session.expire_all()
    return session.get(Item, item.id).taken


def holders_by_sql(conn) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Slot holders per item, counted from the rows themselves (not from Item.taken)."""
    rows = conn.execute(
        text(
            "SELECT item_id, count(DISTINCT user_id) FROM ("
            " SELECT item_id, user_id FROM lease WHERE NOT skipped AND expires_at > :now"
            " UNION SELECT item_id, annotator_id FROM annotation"
            "  WHERE NOT final AND status IN ('submitted', 'accepted', 'rejected')) AS h GROUP BY item_id"
        ),
        {"now": utcnow()},
    ).all()
    return {item_id: n for item_id, n in rows}


# ---------------------------------------------------------------- overlap


def test_overlap_two_hands_the_first_item_to_two_annotators_and_the_next_to_the_third(session):
    ds, items, _ = team(session, overlap=2)
    alice, bob, carol = (add_user(session, n) for n in ("alice", "bob", "carol"))
    assert names([pick(session, u, ds) for u in (alice, bob, carol)]) == ["x1", "x1", "x2"]
    assert taken(session, items[0]) == 2 and session.get(Item, items[0].id).full
    assert taken(session, items[1]) == 1


def test_overlap_all_gives_every_annotator_every_item(session):
    ds, items, _ = team(session, overlap="all")
    people = [add_user(session, n) for n in ("alice", "bob", "carol")]
    assert names([pick(session, u, ds) for u in people]) == ["x1", "x1", "x1"]
    assert not session.get(Item, items[0].id).full
    assert queue_counts(session=session, user=people[0], dataset_id=ds.id).overlap == 3


def test_default_overlap_is_one(session):
    ds, _, _ = team(session)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    assert names([pick(session, alice, ds), pick(session, bob, ds)]) == ["x1", "x2"]


# ---------------------------------------------------------------- order


def test_queue_order_rejected_then_in_progress_then_position_then_skipped(session):
    ds, items, _ = team(session, n=6, overlap=2)
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    skip(session=session, user=alice, item_id=items[0].id)
    session.commit()
    save_draft(session=session, user=alice, item_id=items[3].id, work=WORK, version=0)  # x4 in progress
    version = submit(session, alice, items[4])
    reject(session=session, user=rita, annotation_id=_annotation_id(session, alice, items[4]), version=version,
           reason="Wrong label")  # fmt: skip
    ahead = peek_queue(session=session, user=alice, dataset_id=ds.id, after=None, limit=10)
    assert names(ahead) == ["x5", "x4", "x2", "x3", "x6", "x1"]
    assert names([pick(session, alice, ds)]) == ["x5"]


def test_a_sent_back_item_tops_the_queue_with_its_reason(session):
    ds, items, _ = team(session, n=3, overlap=1)
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    for _ in range(2):
        submit(session, alice, pick(session, alice, ds))
    submit(session, alice, pick(session, alice, ds))
    ann_id = _annotation_id(session, alice, items[1])
    reject(
        session=session,
        user=rita,
        annotation_id=ann_id,
        version=_version(session, ann_id),
        reason="Missed a reply",
    )
    nxt = pick(session, alice, ds)
    assert nxt.external_id == "x2"
    loaded = load_work(session=session, user=alice, item_id=nxt.id)
    assert (loaded.status, loaded.review_reason) == ("rejected", "Missed a reply")


def test_queue_wraps_round_to_an_item_before_the_cursor(session):
    ds, items, _ = team(session, n=4, overlap=1)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    submit(session, alice, pick(session, alice, ds))  # x1
    assert pick(session, bob, ds).external_id == "x2"
    submit(session, alice, pick(session, alice, ds))  # x3
    submit(session, alice, pick(session, alice, ds))  # x4
    assert pick(session, alice, ds) is None  # x2 is bob's
    skip(session=session, user=bob, item_id=items[1].id)
    session.commit()
    assert pick(session, alice, ds).external_id == "x2"  # behind her cursor (x4): wrapped round


def test_next_after_an_item_goes_to_the_following_one(session):
    ds, items, _ = team(session, n=4, overlap=2)
    alice = add_user(session, "alice")
    first = pick(session, alice, ds)
    assert first.external_id == "x1"
    second = pick(session, alice, ds, after=first)
    assert second.external_id == "x2"
    assert pick(session, alice, ds, after=second).external_id == "x3"
    assert pick(session, alice, ds, after=items[3]).external_id == "x1"  # from the last: wraps round


def test_queue_counts_left_and_done(session):
    ds, items, _ = team(session, n=4, overlap=2)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    counts = queue_counts(session=session, user=alice, dataset_id=ds.id)
    assert (counts.left, counts.items, counts.done, counts.needed) == (4, 4, 0, 8)
    submit(session, alice, pick(session, alice, ds))  # x1
    assert queue_counts(session=session, user=alice, dataset_id=ds.id).left == 3
    assert queue_counts(session=session, user=bob, dataset_id=ds.id).done == 1
    submit(session, bob, pick(session, bob, ds))  # x1 again: x1 has its two
    pick(session, alice, ds)  # alice opens x2: still in her queue
    counts = queue_counts(session=session, user=alice, dataset_id=ds.id)
    assert (counts.left, counts.done) == (3, 2)
    assert queue_counts(session=session, user=bob, dataset_id=ds.id).left == 3
    skip(session=session, user=alice, item_id=items[1].id)  # a skipped item stays in her queue, last
    session.commit()
    assert queue_counts(session=session, user=alice, dataset_id=ds.id).left == 3


# ---------------------------------------------------------------- leases and skip


def test_an_expired_lease_hands_the_slot_to_another_annotator(session):
    ds, items, _ = team(session, n=2, overlap=1)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    assert pick(session, alice, ds).external_id == "x1"
    assert pick(session, bob, ds).external_id == "x2"
    assert pick(session, add_user(session, "carol"), ds) is None  # everything is taken
    session.execute(
        update(Lease).where(Lease.user_id == alice.id).values(expires_at=utcnow() - timedelta(minutes=1))
    )  # 30 minutes have passed
    session.commit()
    assert pick(session, bob, ds, after=items[1]).external_id == "x1"
    expired = session.exec(select(AuditEvent).where(AuditEvent.action == "lease.expired")).all()
    assert [(e.item_id, e.detail["annotator"]) for e in expired] == [(items[0].id, "alice")]
    assert taken(session, items[0]) == 1


def test_skip_releases_the_slot_and_is_recorded(session):
    ds, items, _ = team(session, n=2, overlap=1)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    first = pick(session, alice, ds)
    skip(session=session, user=alice, item_id=first.id)
    session.commit()
    assert taken(session, first) == 0
    assert pick(session, bob, ds).external_id == "x1"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "skipped")).one()
    assert (event.user_id, event.item_id, event.detail["annotator"]) == (alice.id, first.id, "alice")


def test_skipped_items_come_back_last(session):
    ds, items, _ = team(session, n=3, overlap=2)
    alice = add_user(session, "alice")
    skip(session=session, user=alice, item_id=pick(session, alice, ds).id)  # x1
    session.commit()
    order = []
    while (item := pick(session, alice, ds)) is not None and item.external_id not in order:
        order.append(item.external_id)
        submit(session, alice, item)
    assert order == ["x2", "x3", "x1"]
    assert queue_counts(session=session, user=alice, dataset_id=ds.id).left == 0


# ---------------------------------------------------------------- concurrency


def _annotation_id(session: Session, user: User, item: Item) -> int:
    return session.execute(
        text("SELECT id FROM annotation WHERE item_id = :i AND annotator_id = :u AND NOT final"),
        {"i": item.id, "u": user.id},
    ).scalar_one()


def _version(session: Session, annotation_id: int) -> int:
    return session.execute(
        text("SELECT version FROM annotation WHERE id = :a"), {"a": annotation_id}
    ).scalar_one()


WORKERS = 20


def _database(request: pytest.FixtureRequest, backend: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/q.db"
        upgrade(url)
        from store.db import get_engine

        get_engine(url).dispose()
        return url
    return request.getfixturevalue("pg_server").new_database()


def _setup(url: str, overlap: int, items: int) -> tuple[int, list[int]]:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        ds, _, _ = team(s, n=items, overlap=overlap)
        users = [add_user(s, f"a{k:02d}").id for k in range(WORKERS)]
    engine.dispose()
    return ds.id, users


def work_through_queue(engine: Engine, user_id: int, dataset_id: int) -> list[int]:
    """One annotator: take the next item, submit it, until the queue is empty; the items it was handed."""
    got = []
    while True:
        with write_session(engine) as s:
            user = s.get(User, user_id)
            item = next_in_queue(session=s, user=user, dataset_id=dataset_id)
            item_id = item.id if item is not None else None
        if item_id is None:
            return got
        got.append(item_id)
        with write_session(engine) as s:
            user = s.get(User, user_id)
            save_annotation(session=s, user=user, item_id=item_id, work=WORK, version=0, submit=True)


def _process_worker(url: str, user_id: int, dataset_id: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        barrier.wait(60)
        results.put((user_id, work_through_queue(engine, user_id, dataset_id)))
    except BaseException as err:  # noqa: BLE001 (reported to the test, which fails on it)
        results.put((user_id, repr(err)))
    finally:
        engine.dispose()


def _check_no_over_assignment(url: str, overlap: int, items: int, handed: dict[int, list[int] | str]) -> None:
    errors = {u: h for u, h in handed.items() if isinstance(h, str)}
    assert not errors
    for user_id, got in handed.items():
        assert len(got) == len(set(got)), f"annotator {user_id} was handed an item twice: {got}"
    per_item = Counter(i for got in handed.values() for i in got)
    assert max(per_item.values()) <= overlap
    # Every slot is taken once all queues are empty (slots are never given back here).
    assert sum(per_item.values()) == items * overlap
    engine = make_engine(url)
    with engine.connect() as conn:
        by_rows = holders_by_sql(conn)
        by_column = dict(conn.execute(text("SELECT id, taken FROM item")).all())
        full = dict(conn.execute(text('SELECT id, "full" FROM item')).all())
    engine.dispose()
    assert max(by_rows.values()) <= overlap
    assert by_rows == dict(per_item)
    assert by_column == {i: by_rows.get(i, 0) for i in by_column}
    assert all(full.values())


@pytest.mark.parametrize("overlap", [2, 3])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_twenty_threads_at_once_never_exceed_the_overlap(request, tmp_path, backend, overlap):
    url = _database(request, backend, tmp_path)
    items = 12
    dataset_id, users = _setup(url, overlap, items)
    engine = make_engine(url)
    barrier = threading.Barrier(WORKERS)
    handed: dict[int, list[int] | str] = {}

    def run(user_id: int) -> None:
        try:
            barrier.wait(30)
            handed[user_id] = work_through_queue(engine, user_id, dataset_id)
        except BaseException as err:  # noqa: BLE001
            handed[user_id] = repr(err)

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    engine.dispose()
    assert len(handed) == WORKERS
    _check_no_over_assignment(url, overlap, items, handed)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_twenty_processes_at_once_never_exceed_the_overlap(request, tmp_path, backend):
    # Overlap 2 only (the threads try 2 and 3). Each worker is its own process forked from a fork server
    # that imported the store once: 20 spawned interpreters importing it each cost 15-40 s on 2 cores.
    overlap = 2
    url = _database(request, backend, tmp_path)
    items = 12
    dataset_id, users = _setup(url, overlap, items)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(url, u, dataset_id, barrier, results)) for u in users]
    for p in procs:
        p.start()
    handed = dict(results.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    _check_no_over_assignment(url, overlap, items, handed)
