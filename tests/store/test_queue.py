"""Item navigation per annotator: position, neighbours under a status filter, next to do, deep link."""

import pytest
from sqlalchemy import insert

from store.annotations import save_annotation, save_draft
from store.errors import InputError, NotFound
from store.models import Annotation, DatasetMember, Item
from store.queue import count_items, item_at, item_by_external_id, my_status, neighbour, next_todo, rank_of
from tests.utils import make_dataset, make_user, statements


@pytest.fixture
def items(session):
    ds = make_dataset(session, "q")
    session.execute(
        insert(Item),
        [
            {"dataset_id": ds.id, "external_id": f"x{i}", "position": i, "messages": [], "candidates": [],
             "meta": {}, "name": ""}
            for i in range(1, 7)
        ],
    )  # fmt: skip
    session.commit()
    rows = session.query(Item).order_by(Item.position).all()
    return ds, rows


def test_a_final_answer_an_annotator_adjudicated_is_not_their_own_work(session, items):
    """The status filters and next_todo read the annotator's own annotation of an item: a final answer they
    wrote as adjudicator (store/team/adjudicate.py: final, status accepted) neither undoes their submitted
    work nor starts work they never did."""
    ds, rows = items
    alice = make_user(session, "alice", role="reviewer")
    save_annotation(session=session, user=alice, item_id=rows[0].id, work={}, version=0, submit=True)
    for item in (rows[0], rows[3]):
        session.add(Annotation(item_id=item.id, dataset_id=ds.id, annotator_id=alice.id, final=True,
                               status="accepted", version=1))  # fmt: skip
    session.commit()
    count = lambda status: count_items(session=session, user=alice, dataset_id=ds.id, status=status)  # noqa: E731
    assert (count("submitted"), count("todo"), count("new"), count("progress")) == (1, 5, 5, 0)
    assert next_todo(session=session, user=alice, dataset_id=ds.id, after=rows[-1]).external_id == "x2"
    assert my_status(session=session, user=alice, item_id=rows[3].id) == "new"


def _three_submitted_then_reviewed(session, rows, user) -> None:  # type: ignore[no-untyped-def]
    """`user` submits the first three items; a reviewer accepts the first and rejects the second (the
    statuses store/team/review.py leaves)."""
    for row in rows[:3]:
        save_annotation(session=session, user=user, item_id=row.id, work={}, version=0, submit=True)
    verdicts = {rows[0].id: "accepted", rows[1].id: "rejected"}
    for ann in session.query(Annotation).filter(Annotation.item_id.in_(verdicts)):
        ann.status = verdicts[ann.item_id]
    session.commit()


def test_work_a_reviewer_accepted_stays_submitted_and_rejected_work_is_to_do_again(session, items):
    ds, rows = items
    alice = make_user(session, "alice")
    _three_submitted_then_reviewed(session, rows, alice)
    count = lambda status: count_items(session=session, user=alice, dataset_id=ds.id, status=status)  # noqa: E731
    assert (count("submitted"), count("todo"), count("progress"), count("new")) == (2, 4, 1, 3)
    assert next_todo(session=session, user=alice, dataset_id=ds.id).external_id == "x2"  # the rejected one
    first = neighbour(session=session, user=alice, dataset_id=ds.id, item=None, step=1, status="submitted")
    assert first.external_id == "x1"


def test_the_datasets_table_counts_reviewed_work_as_handed_in_or_to_redo(session, items):
    """The Datasets page's counts: accepted work is submitted, rejected work is saved (to redo), not new."""
    from store.items import dataset_stats

    ds, rows = items
    alice, boss = make_user(session, "alice"), make_user(session, "boss", role="admin")
    _three_submitted_then_reviewed(session, rows, alice)
    (stats,) = dataset_stats(session=session, user=boss)
    assert (stats.items, stats.submitted, stats.saved, stats.new) == (6, 2, 1, 3)


def test_the_datasets_table_keeps_its_counts_until_something_changes(session, items):
    """dataset_stats given the counts of its last call (the Datasets page's): kept, with no count read, while
    nothing changed; counted again after a submit, a save, new items; a rename shown; a new dataset counted and
    a deleted one gone."""
    from store.items import dataset_stats, delete_dataset, rename_dataset

    ds, rows = items
    alice, bob, boss = (
        make_user(session, "alice"),
        make_user(session, "bob"),
        make_user(session, "boss", role="admin"),
    )
    known: dict = {}

    def table() -> dict[str, tuple[int, int, int, int]]:
        found = dataset_stats(session=session, user=boss, known=known)
        return {s.name: (s.items, s.submitted, s.saved, s.new) for s in found}

    with statements(session.get_bind()) as seen:
        assert table() == {"q": (6, 0, 0, 6)}
        seen.clear()
        assert table() == {"q": (6, 0, 0, 6)}
        assert not [s for s in seen if "group by" in s], "counted again with nothing changed"
        save_annotation(session=session, user=alice, item_id=rows[0].id, work={}, version=0, submit=True)
        assert table() == {"q": (6, 1, 0, 5)}
        save_annotation(session=session, user=bob, item_id=rows[1].id, work={}, version=0)
        assert table() == {"q": (6, 1, 1, 4)}
        session.execute(insert(Item).values(dataset_id=ds.id, external_id="x7", position=7, messages=[],
                                            candidates=[], meta={}, name=""))  # fmt: skip
        session.commit()
        assert table() == {"q": (7, 1, 1, 5)}
        rename_dataset(session=session, user=boss, dataset_id=ds.id, name="q2", description="")
        session.commit()
        other = make_dataset(session, "other")
        assert table() == {"q2": (7, 1, 1, 5), "other": (0, 0, 0, 0)}
        delete_dataset(session=session, user=boss, dataset_id=ds.id)
        session.commit()
        assert table() == {"other": (0, 0, 0, 0)}
        assert known[other.id][1].name == "other"


def test_position_and_neighbours(session, items):
    ds, rows = items
    alice = make_user(session, "alice")
    assert count_items(session=session, user=alice, dataset_id=ds.id) == 6
    assert rank_of(session=session, user=alice, item=rows[2]) == 3
    nxt = neighbour(session=session, user=alice, dataset_id=ds.id, item=rows[2], step=1)
    prev = neighbour(session=session, user=alice, dataset_id=ds.id, item=rows[2], step=-1)
    assert (nxt.external_id, prev.external_id) == ("x4", "x2")
    assert neighbour(session=session, user=alice, dataset_id=ds.id, item=rows[-1], step=1) is None
    assert neighbour(session=session, user=alice, dataset_id=ds.id, item=None, step=-1).external_id == "x6"
    assert item_at(session=session, user=alice, dataset_id=ds.id, rank=5).external_id == "x5"


def test_filters_are_per_annotator(session, items):
    ds, rows = items
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    save_annotation(session=session, user=alice, item_id=rows[0].id, work={}, version=0, submit=True)
    save_annotation(session=session, user=alice, item_id=rows[1].id, work={}, version=0)
    save_draft(session=session, user=alice, item_id=rows[2].id, work={}, version=0)
    count = lambda user, status: count_items(session=session, user=user, dataset_id=ds.id, status=status)  # noqa: E731
    assert count(alice, "submitted") == 1
    assert count(alice, "todo") == 5
    assert count(alice, "progress") == 2
    assert count(alice, "new") == 3
    assert count(bob, "todo") == 6 and count(bob, "submitted") == 0
    assert rank_of(session=session, user=alice, item=rows[0], status="todo") == 0  # filtered out
    assert rank_of(session=session, user=alice, item=rows[3], status="todo") == 3
    # → under "todo" skips the submitted item.
    first = neighbour(session=session, user=alice, dataset_id=ds.id, item=None, step=1, status="todo")
    assert first.external_id == "x2"
    assert my_status(session=session, user=alice, item_id=rows[0].id) == "submitted"
    assert my_status(session=session, user=bob, item_id=rows[0].id) == "new"
    with pytest.raises(InputError):
        count(alice, "bogus")


def test_next_todo_wraps_and_ends(session, items):
    ds, rows = items
    alice = make_user(session, "alice")
    for row in rows[3:]:
        save_annotation(session=session, user=alice, item_id=row.id, work={}, version=0, submit=True)
    nxt = next_todo(session=session, user=alice, dataset_id=ds.id, after=rows[2])
    assert nxt.external_id == "x1"  # wrapped round
    for row in rows[:2]:
        save_annotation(session=session, user=alice, item_id=row.id, work={}, version=0, submit=True)
    assert next_todo(session=session, user=alice, dataset_id=ds.id, after=rows[-1]).id == rows[2].id
    assert next_todo(session=session, user=alice, dataset_id=ds.id, after=rows[2]) is None  # only itself left
    for row in rows[2:3]:
        save_annotation(session=session, user=alice, item_id=row.id, work={}, version=0, submit=True)
    assert next_todo(session=session, user=alice, dataset_id=ds.id, after=rows[2]) is None


def test_deep_link_lookup_respects_access(session, items):
    ds, rows = items
    alice = make_user(session, "alice")
    assert (
        item_by_external_id(session=session, user=alice, dataset_id=ds.id, external_id="x4").id == rows[3].id
    )
    with pytest.raises(NotFound):
        item_by_external_id(session=session, user=alice, dataset_id=ds.id, external_id="nope")
    ds.restricted = True
    session.add(ds)
    session.commit()
    with pytest.raises(NotFound):
        item_by_external_id(session=session, user=alice, dataset_id=ds.id, external_id="x4")
    session.add(DatasetMember(dataset_id=ds.id, user_id=alice.id))
    session.commit()
    assert item_by_external_id(session=session, user=alice, dataset_id=ds.id, external_id="x4")
