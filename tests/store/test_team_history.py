"""Annotation history (store/team/history.py): every change appears with who, when and what changed, and
the database refuses to change or remove an entry (migration 0002's triggers)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from store.annotations import load_work, save_annotation, save_draft
from store.db import make_engine, upgrade
from store.models import Lease, utcnow
from store.team.adjudicate import finalise
from store.team.history import item_history
from store.team.queue import skip
from store.team.review import accept, fix_and_accept, reject
from tests.store.test_team_queue import add_user, pick, submit, team


def work(answer: str) -> dict:
    return {"validity": "valid", "invalid_reason": "", "classifications": {"1": answer}, "results": []}


def _version(session, user, item) -> int:  # type: ignore[no-untyped-def]
    return load_work(session=session, user=user, item_id=item.id).version


def _ann_id(session, user, item) -> int:  # type: ignore[no-untyped-def]
    return session.execute(
        text("SELECT id FROM annotation WHERE item_id = :i AND annotator_id = :u AND NOT final"),
        {"i": item.id, "u": user.id},
    ).scalar_one()


@pytest.fixture
def lived(session):  # type: ignore[no-untyped-def]
    """Item x1 through the whole workflow (overlap 2, review all)."""
    ds, items, _ = team(session, n=2, overlap=2, review="all")
    x1 = items[0]
    alice, bob, carol, dave = (add_user(session, n) for n in ("alice", "bob", "carol", "dave"))
    rita = add_user(session, "rita", "reviewer")
    assert pick(session, alice, ds).id == x1.id
    save_draft(session=session, user=alice, item_id=x1.id, work=work("a"), version=0)
    save_annotation(
        session=session, user=alice, item_id=x1.id, work=work("a"), version=_version(session, alice, x1)
    )
    submit(session, alice, x1, work("b"))
    ann = _ann_id(session, alice, x1)
    reject(
        session=session,
        user=rita,
        annotation_id=ann,
        version=_version(session, alice, x1),
        reason="Wrong label",
    )
    submit(session, alice, x1, work("c"))
    fix_and_accept(
        session=session, user=rita, annotation_id=ann, version=_version(session, alice, x1), work=work("d")
    )
    assert pick(session, carol, ds).id == x1.id
    session.execute(
        update(Lease).where(Lease.user_id == carol.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert pick(session, bob, ds).id == x1.id  # the sweep ends carol's lease first
    submit(session, bob, x1, work("d"))
    accept(
        session=session,
        user=rita,
        annotation_id=_ann_id(session, bob, x1),
        version=_version(session, bob, x1),
    )
    skip(session=session, user=dave, item_id=x1.id)
    session.commit()
    finalise(session=session, user=rita, item_id=x1.id, picks={})
    return x1, alice, rita


def test_history_has_every_step_with_who_and_when(session, lived):
    x1, alice, rita = lived
    entries = item_history(session=session, user=rita, item_id=x1.id)
    assert [(e.action, e.by, e.annotator) for e in entries] == [
        ("lease.taken", "alice", "alice"),
        ("draft", "alice", "alice"),
        ("saved", "alice", "alice"),
        ("submitted", "alice", "alice"),
        ("rejected", "rita", "alice"),
        ("submitted", "alice", "alice"),
        ("fixed", "rita", "alice"),
        ("lease.taken", "carol", "carol"),
        ("lease.expired", "", "carol"),  # the queue ended it, nobody in particular
        ("lease.taken", "bob", "bob"),
        ("submitted", "bob", "bob"),
        ("accepted", "rita", "bob"),
        ("skipped", "dave", "dave"),
        ("finalised", "rita", "rita"),
    ]
    assert [e.label for e in entries][:2] == ["lease taken", "draft kept"]
    assert all(isinstance(e.at, datetime) for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[4].detail["reason"] == "Wrong label"


def test_history_keeps_before_and_after_where_the_work_changed(session, lived):
    x1, alice, rita = lived
    entries = item_history(session=session, user=rita, item_id=x1.id)
    answer = {
        e.action + ":" + e.annotator: (
            e.detail.get("before", {}).get("classifications"),
            e.detail.get("after", {}).get("classifications"),
        )
        for e in entries
        if e.action in ("saved", "fixed", "finalised") or (e.action == "submitted" and e.annotator == "bob")
    }
    assert answer == {
        "saved:alice": (None, {"1": "a"}),  # the first save: nothing before it
        "fixed:alice": ({"1": "c"}, {"1": "d"}),
        "submitted:bob": (None, {"1": "d"}),
        "finalised:rita": (None, {"1": "d"}),
    }
    submitted = [e for e in entries if e.action == "submitted" and e.annotator == "alice"]
    assert [(e.detail.get("before", {}).get("classifications"), e.detail["after"]["classifications"])
            for e in submitted] == [({"1": "a"}, {"1": "b"}), ({"1": "b"}, {"1": "c"})]  # fmt: skip
    unchanged = [
        e for e in entries if e.action in ("draft", "rejected", "accepted", "skipped", "lease.taken")
    ]
    assert not any("before" in e.detail or "after" in e.detail for e in unchanged)


def test_an_annotator_sees_only_their_own_history(session, lived):
    x1, alice, rita = lived
    mine = item_history(session=session, user=alice, item_id=x1.id)
    assert {e.annotator for e in mine} == {"alice"}
    assert [e.action for e in mine] == [
        "lease.taken", "draft", "saved", "submitted", "rejected", "submitted", "fixed",
    ]  # fmt: skip


def test_history_counts_review_rounds_from_one(session, lived):
    x1, alice, rita = lived
    entries = item_history(session=session, user=rita, item_id=x1.id)
    rounds = {e.action + ":" + e.annotator: e.detail.get("rounds") for e in entries if "rounds" in e.detail}
    assert rounds == {"rejected:alice": 1, "accepted:bob": 1}


# ---------------------------------------------------------------- append-only, in the database itself


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request, tmp_path):  # type: ignore[no-untyped-def]
    """A migrated database (the triggers come with migration 0002; create_all has none)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/h.db"
        upgrade(url)
        from store.db import get_engine

        get_engine(url).dispose()
    else:
        url = request.getfixturevalue("pg_server").new_database()
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        ds, items, _ = team(s, n=1)
        dave = add_user(s, "dave")
        skip(session=s, user=dave, item_id=items[0].id)
        s.commit()
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE auditevent SET action = 'saved' WHERE action = 'skipped'",
        "UPDATE auditevent SET detail = NULL WHERE action = 'skipped'",
        "UPDATE auditevent SET item_id = item_id + 1",
        "DELETE FROM auditevent WHERE action = 'skipped'",
        "DELETE FROM auditevent",
    ],
)
def test_history_rows_cannot_be_changed_or_removed(migrated, statement):
    with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
        conn.execute(text(statement))
    with migrated.connect() as conn:
        rows = conn.execute(text("SELECT action, item_id FROM auditevent WHERE action = 'skipped'")).all()
    assert rows == [("skipped", 1)]


def test_removing_a_user_keeps_their_history(migrated):
    with migrated.begin() as conn:
        conn.execute(text("DELETE FROM \"user\" WHERE username = 'dave'"))
    with migrated.connect() as conn:
        rows = conn.execute(
            text("SELECT action, user_id, detail FROM auditevent WHERE action = 'skipped'")
        ).all()
    assert len(rows) == 1 and rows[0][1] is None
