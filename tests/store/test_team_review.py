"""Review and adjudication (store/team/review.py, store/team/adjudicate.py): accept, reject with a reason,
fix & accept, the version guard, the review stream under off / all / sample:P, and final answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update
from sqlmodel import Session, select

from store.annotations import load_work, save_annotation
from store.errors import Conflict, InputError
from store.models import Annotation, Item, OntologyClass
from store.team.adjudicate import finalise, finalise_agreed, get_adjudication, items_to_adjudicate
from store.team.review import accept, fix_and_accept, get_for_review, reject, review_stream
from store.team.settings import wants_review
from tests.store.test_team_queue import add_user, submit, team
from tests.utils import statements


def work(answer: str, *results: dict) -> dict:
    return {
        "validity": "valid",
        "invalid_reason": "",
        "classifications": {"1": answer},
        "results": list(results),
    }


def annotation(session, user, item) -> Annotation:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.exec(
        select(Annotation).where(
            Annotation.item_id == item.id,
            Annotation.annotator_id == user.id,
            Annotation.final == False,  # noqa: E712
        )
    ).one()


def waiting(session, reviewer, ds) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    rows = review_stream(session=session, user=reviewer, dataset_id=ds.id)
    return [(r.external_id, r.annotator, r.rounds) for r in rows]


@pytest.fixture
def submitted(session):  # type: ignore[no-untyped-def]
    """Review "all": alice has submitted x1 (answer "yes"); rita reviews."""
    ds, items, admin = team(session, n=3, overlap=2, review="all")
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    version = submit(session, alice, items[0], work("yes"))
    return ds, items, alice, rita, version


# ---------------------------------------------------------------- accept / reject / fix


def test_accept_takes_it_off_the_stream_and_closes_it_to_its_author(session, submitted):
    ds, items, alice, rita, version = submitted
    assert waiting(session, rita, ds) == [("x1", "alice", 0)]
    accept(session=session, user=rita, annotation_id=annotation(session, alice, items[0]).id, version=version)
    assert waiting(session, rita, ds) == []
    loaded = load_work(session=session, user=alice, item_id=items[0].id)
    assert (loaded.status, loaded.version, loaded.review_rounds) == ("accepted", version + 1, 1)
    with pytest.raises(Conflict):
        save_annotation(
            session=session, user=alice, item_id=items[0].id, work=work("no"), version=loaded.version
        )


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_needs_a_reason(session, submitted, reason):
    ds, items, alice, rita, version = submitted
    ann = annotation(session, alice, items[0])
    with pytest.raises(InputError):
        reject(session=session, user=rita, annotation_id=ann.id, version=version, reason=reason)
    session.rollback()
    assert annotation(session, alice, items[0]).status == "submitted"
    assert waiting(session, rita, ds) == [("x1", "alice", 0)]


def test_reject_sends_it_back_with_the_reason(session, submitted):
    ds, items, alice, rita, version = submitted
    ann = annotation(session, alice, items[0])
    reject(session=session, user=rita, annotation_id=ann.id, version=version, reason="Wrong label")
    assert waiting(session, rita, ds) == []
    loaded = load_work(session=session, user=alice, item_id=items[0].id)
    assert (loaded.status, loaded.review_reason, loaded.review_rounds) == ("rejected", "Wrong label", 1)
    every = review_stream(session=session, user=rita, dataset_id=ds.id, waiting=False)
    assert [(r.external_id, r.status) for r in every] == [("x1", "rejected")]


def test_fix_and_accept_keeps_the_authors_original(session, submitted):
    ds, items, alice, rita, version = submitted
    cls = OntologyClass(dataset_id=ds.id, name="quality", tool="dialog_evaluation", number=1)
    session.add(cls)
    session.commit()
    mine = work("yes", {"class_id": cls.id, "message": 0, "values": {"score": 2}})
    version = save_annotation(session=session, user=alice, item_id=items[0].id, work=mine, version=version)
    ann = annotation(session, alice, items[0])
    fixed = work("no", {"class_id": cls.id, "message": 0, "values": {"score": 4}})
    fix_and_accept(session=session, user=rita, annotation_id=ann.id, version=version, work=fixed, reason="x")
    seen = get_for_review(session=session, user=rita, annotation_id=ann.id)
    assert seen.annotation.status == "accepted" and seen.reviewer == "rita"
    assert seen.work["classifications"] == {"1": "no"}
    assert seen.work["results"][0]["values"] == {"score": 4}
    assert seen.original["classifications"] == {"1": "yes"}
    assert seen.original["results"][0]["values"] == {"score": 2}
    assert load_work(session=session, user=alice, item_id=items[0].id).work["classifications"] == {"1": "no"}
    # A second fix does not overwrite the author's version with the first fix.
    v2 = annotation(session, alice, items[0]).version  # the reviewer reopens it
    fix_and_accept(session=session, user=rita, annotation_id=ann.id, version=v2, work=work("maybe"))
    again = get_for_review(session=session, user=rita, annotation_id=ann.id)
    assert again.work["classifications"] == {"1": "maybe"}
    assert again.original["classifications"] == {"1": "yes"}


@pytest.mark.parametrize("verdict", ["accept", "reject", "fix"])
def test_a_stale_version_is_a_conflict(session, submitted, verdict):
    ds, items, alice, rita, version = submitted
    # Alice saves again after the reviewer opened the annotation.
    save_annotation(session=session, user=alice, item_id=items[0].id, work=work("no"), version=version)
    ann_id = annotation(session, alice, items[0]).id
    call = {
        "accept": lambda: accept(session=session, user=rita, annotation_id=ann_id, version=version),
        "reject": lambda: reject(session=session, user=rita, annotation_id=ann_id, version=version, reason="r"),
        "fix": lambda: fix_and_accept(session=session, user=rita, annotation_id=ann_id, version=version,
                                      work=work("maybe")),
    }[verdict]  # fmt: skip
    with pytest.raises(Conflict):
        call()
    session.rollback()
    ann = annotation(session, alice, items[0])
    assert (ann.status, ann.version, ann.classifications) == ("submitted", version + 1, {"1": "no"})


@pytest.mark.parametrize("verdict", ["accept", "reject", "fix"])
def test_a_verdict_returns_the_version_now_stored(session, submitted, verdict):
    ds, items, alice, rita, version = submitted
    ann_id = annotation(session, alice, items[0]).id
    returned = {
        "accept": lambda: accept(session=session, user=rita, annotation_id=ann_id, version=version),
        "reject": lambda: reject(session=session, user=rita, annotation_id=ann_id, version=version, reason="r"),
        "fix": lambda: fix_and_accept(session=session, user=rita, annotation_id=ann_id, version=version,
                                      work=work("maybe")),
    }[verdict]()  # fmt: skip
    assert returned == annotation(session, alice, items[0]).version == version + 1


# ---------------------------------------------------------------- the review stream


def test_a_resubmitted_rejection_returns_to_review_with_its_rounds(session, submitted):
    ds, items, alice, rita, version = submitted
    ann_id = annotation(session, alice, items[0]).id
    reject(session=session, user=rita, annotation_id=ann_id, version=version, reason="Wrong label")
    version = submit(session, alice, items[0], work("no"))  # alice reopens it from her queue and resubmits
    assert waiting(session, rita, ds) == [("x1", "alice", 1)]
    accept(session=session, user=rita, annotation_id=ann_id, version=version)
    assert annotation(session, alice, items[0]).review_rounds == 2


def test_with_review_off_a_resubmitted_rejection_still_returns_to_review(session):
    ds, items, _ = team(session, n=2, overlap=1, review="off")
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    version = submit(session, alice, items[0], work("yes"))
    assert waiting(session, rita, ds) == []
    ann_id = annotation(session, alice, items[0]).id
    reject(session=session, user=rita, annotation_id=ann_id, version=version, reason="Wrong label")
    submit(session, alice, items[0], work("no"))
    assert waiting(session, rita, ds) == [("x1", "alice", 1)]


def test_review_sample_sends_about_that_share_and_always_the_same_ones(session):
    ds, items, _ = team(session, n=200, overlap=1, review="sample:25")
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    for item in items:
        submit(session, alice, item)
    sent = review_stream(session=session, user=rita, dataset_id=ds.id, limit=1000)
    assert 30 <= len(sent) <= 70  # 25 % of 200 is 50; binomial sd ≈ 6
    session.expire_all()
    anns = session.exec(select(Annotation).where(Annotation.dataset_id == ds.id)).all()
    assert {a.id for a in anns if wants_review(session, a)} == {r.annotation_id for r in sent}


def test_review_off_sends_none(session):
    ds, items, _ = team(session, n=20, overlap=1, review="off")
    alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
    for item in items:
        submit(session, alice, item)
    assert waiting(session, rita, ds) == []
    assert len(review_stream(session=session, user=rita, dataset_id=ds.id, waiting=False)) == 20


def test_the_review_stream_reads_a_page_in_submission_order_from_an_index(tmp_path):
    """The waiting annotations, and with "show reviewed" every submitted, accepted or rejected one, are read
    oldest submission first straight from an index (migration 0010), never by sorting the dataset's
    annotations (at 1M items 150-900 ms). SQLite has no statistics for the waiting annotations' partial index
    while none wait; it still reads that one rather than walking every annotation in order."""
    from store import db

    url = f"sqlite:///{tmp_path}/review.db"
    db.upgrade(url)
    engine = db.get_engine(url)
    with Session(engine) as session:
        ds, items, _ = team(session, n=40)
        alice, rita = add_user(session, "alice"), add_user(session, "rita", "reviewer")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        statuses = ("submitted", "accepted", "rejected", "saved")
        session.execute(insert(Annotation), [
            {"item_id": item.id, "dataset_id": ds.id, "annotator_id": alice.id, "status": statuses[k % 4],
             "classifications": {}, "submitted_at": start + timedelta(minutes=(k * 7) % 40)}
            for k, item in enumerate(items)
        ])  # fmt: skip
        session.commit()
        db.analyze(engine)  # as each server start does
        session.commit()

        def read(waiting: bool) -> tuple[str, list[str]]:
            params: list = []
            with statements(engine, params) as seen:
                rows = review_stream(session=session, user=rita, dataset_id=ds.id, waiting=waiting, limit=5)
            sql, values = next((s, p) for s, p in zip(seen, params, strict=True) if "order by" in s)
            plan = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, values)
            return " / ".join(r[3] for r in plan), [r.external_id for r in rows]

        def oldest(anns: list[Annotation]) -> list[str]:
            anns = sorted(anns, key=lambda a: (a.submitted_at, a.id))[:5]
            return [session.get(Item, a.item_id).external_id for a in anns]

        anns = list(session.exec(select(Annotation).where(Annotation.dataset_id == ds.id)).all())
        plan, listed = read(waiting=True)
        assert "ix_annotation_waiting" in plan and "TEMP B-TREE" not in plan and listed == [], plan
        plan, listed = read(waiting=False)
        assert "ix_annotation_submitted_at" in plan and "TEMP B-TREE" not in plan, plan
        assert listed == oldest([a for a in anns if a.status != "saved"])
        session.execute(update(Annotation).where(Annotation.status == "submitted").values(needs_review=True))
        session.commit()
        plan, listed = read(waiting=True)
        assert "ix_annotation_waiting" in plan and "TEMP B-TREE" not in plan, plan
        assert listed == oldest([a for a in anns if a.status == "submitted"])


# ---------------------------------------------------------------- adjudication


@pytest.fixture
def answered(session):  # type: ignore[no-untyped-def]
    """Overlap 2: alice and bob agree on x1, disagree on x2; only alice answered x3."""
    ds, items, admin = team(session, n=3, overlap=2)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    rita = add_user(session, "rita", "reviewer")
    for item, (a, b) in zip(items[:2], [("yes", "yes"), ("yes", "no")], strict=True):
        submit(session, alice, item, work(a))
        submit(session, bob, item, work(b))
    submit(session, alice, items[2], work("yes"))
    return ds, items, alice, bob, rita


def test_disagreements_only_lists_what_adjudication_finds_differing(session, monkeypatch):
    """ "Disagreements only" (the review stream, the adjudication list) lists the items whose submitted answers
    differ as adjudication compares them: validity too, not an empty answer beside none. It checks only items
    the filters flag as disagreeing (Item.disagree) or with an invalid submission, a page at a time."""
    from store.team import review

    ds, items, _ = team(session, n=5, overlap=2)
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    rita = add_user(session, "rita", "reviewer")
    invalid = {**work("yes"), "validity": "invalid", "invalid_reason": "off topic"}
    empty = {**work("yes"), "classifications": {"1": "yes", "2": ""}}
    pairs = [
        (work("yes"), work("yes")),
        (work("yes"), work("no")),
        (work("yes"), invalid),
        (empty, work("yes")),
    ]
    for item, (a, b) in zip(items[:4], pairs, strict=True):
        submit(session, alice, item, a)
        submit(session, bob, item, b)
    submit(session, alice, items[4], work("no"))
    session.expire_all()
    flagged = {i.external_id for i in items if session.get(Item, i.id).disagree}
    assert flagged == {"x2", "x4"}  # the filters' notion: x4's empty answer differs, x3's validity does not

    def listed(limit: int = 200) -> list[tuple[str, str]]:
        rows = review_stream(session=session, user=rita, dataset_id=ds.id, waiting=False, disagreements=True,
                             limit=limit)  # fmt: skip
        return [(r.external_id, r.annotator) for r in rows]

    whole = listed()
    assert sorted(whole) == [("x2", "alice"), ("x2", "bob"), ("x3", "alice"), ("x3", "bob")]
    everyone = [(r.external_id, r.annotator) for r in review_stream(session=session, user=rita, dataset_id=ds.id,
                                                                     waiting=False)]  # fmt: skip
    assert whole == [row for row in everyone if row[0] in ("x2", "x3")]  # oldest submission first
    monkeypatch.setattr(review, "WALKED", 1)
    assert listed() == whole and listed(limit=3) == whole[:3]
    rows = items_to_adjudicate(session=session, user=rita, dataset_id=ds.id)
    assert [(r.external_id, r.agree) for r in rows] == [
        ("x1", True),
        ("x2", False),
        ("x3", False),
        ("x4", True),
    ]
    only = items_to_adjudicate(session=session, user=rita, dataset_id=ds.id, disagreements_only=True)
    assert [r.external_id for r in only] == ["x2", "x3"]
    one = items_to_adjudicate(session=session, user=rita, dataset_id=ds.id, disagreements_only=True, limit=1)
    assert [r.external_id for r in one] == ["x2"]
    assert items_to_adjudicate(session=session, user=rita, dataset_id=ds.id, limit=0) == []


def finals(session, item) -> list[Annotation]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(
        session.exec(select(Annotation).where(Annotation.item_id == item.id, Annotation.final == True)).all()  # noqa: E712
    )


def test_finalise_builds_the_final_from_the_picks_and_a_second_one_replaces_it(session, answered):
    ds, items, alice, bob, rita = answered
    seen = get_adjudication(session=session, user=rita, item_id=items[1].id)
    assert sorted(seen.works) == ["alice", "bob"] and seen.final is None
    assert [c.key for c in seen.criteria if c.differs] == ["q:1"]
    finalise(session=session, user=rita, item_id=items[1].id, picks={"q:1": "bob"})
    done = get_adjudication(session=session, user=rita, item_id=items[1].id)
    assert done.final["classifications"] == {"1": "no"} and done.final_by == "rita"
    # Another reviewer's finalise replaces it: still one final answer for the item.
    rob = add_user(session, "rob", "reviewer")
    finalise(session=session, user=rob, item_id=items[1].id, picks={"q:1": "alice"})
    rows = finals(session, items[1])
    assert len(rows) == 1 and rows[0].annotator_id == rob.id and rows[0].classifications == {"1": "yes"}
    # The annotators' own answers are untouched.
    assert annotation(session, bob, items[1]).classifications == {"1": "no"}


def test_finalise_without_a_pick_where_answers_differ_is_refused(session, answered):
    ds, items, alice, bob, rita = answered
    with pytest.raises(InputError):
        finalise(session=session, user=rita, item_id=items[1].id, picks={})
    session.rollback()
    with pytest.raises(InputError):  # one answer only: nothing to adjudicate
        finalise(session=session, user=rita, item_id=items[2].id, picks={})
    session.rollback()
    assert finals(session, items[1]) == [] and finals(session, items[2]) == []


def test_finalise_agreed_finalises_only_the_items_that_agree(session, answered):
    ds, items, alice, bob, rita = answered
    assert finalise_agreed(session=session, user=rita, dataset_id=ds.id) == 1
    assert [len(finals(session, i)) for i in items] == [1, 0, 0]
    assert finals(session, items[0])[0].classifications == {"1": "yes"}
    rows = items_to_adjudicate(session=session, user=rita, dataset_id=ds.id)
    assert [(r.external_id, r.agree, r.final) for r in rows] == [("x1", True, True), ("x2", False, False)]
    assert finalise_agreed(session=session, user=rita, dataset_id=ds.id) == 0  # already final
