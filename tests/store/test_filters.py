"""Item filters (core/filters.py, store/filters.py, store/saved_filters.py) on SQLite and PostgreSQL: each filter alone and combined,
saved filters, roles, and the filter on the tool pages' navigation, Export and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlmodel import Session

from core.filters import ItemFilter
from store import filters, queue, saved_filters
from store.annotations import save_annotation, save_draft
from store.comments import add_comment
from store.errors import Forbidden, InputError, NotFound
from store.export_filters import ExportFilters, count_selection, dataset_annotators
from store.items import list_items
from store.models import Annotation, AuditEvent, Item, User
from store.ontology import create_class, create_classification
from store.search import rebuild_index
from tests.utils import cli_env, make_dataset, statements, store_cli


@dataclass
class World:
    ds: int
    ids: dict[str, int]  # external id → item id
    admin: User
    ann1: User
    ann2: User
    rv: User


def _models(i: int) -> list[dict]:
    return [{"text": f"reply {i} a", "model": "m-large" if i % 2 else "m-small"}, {"text": f"reply {i} b"}]


@pytest.fixture
def world(session) -> World:
    # (Users without a password: hashing four would cost more than the rest of the world.)
    people = {name: User(username=name, role=role) for name, role in
              (("admin", "admin"), ("ann1", "annotator"), ("ann2", "annotator"), ("rv", "reviewer"))}  # fmt: skip
    session.add_all(people.values())
    session.commit()
    admin, ann1, ann2, rv = people.values()
    ds = make_dataset(session, "f").id
    old, new = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {"dataset_id": ds, "external_id": f"x{i}", "name": "", "position": i, "meta": {},
         "messages": [{"role": "user", "text": f"question {i}" + (" refund" if i in (1, 5) else "")}],
         "candidates": _models(i), "created_at": old if i == 8 else new}
        for i in range(1, 9)
    ]  # fmt: skip
    session.execute(insert(Item), rows)
    rebuild_index(session.connection(), ds)
    session.commit()
    ids = {
        e: i for i, e in session.execute(Item.__table__.select().with_only_columns(Item.id, Item.external_id))
    }
    helpful = create_class(session=session, user=admin, dataset_id=ds, data={
        "name": "helpfulness", "tool": "dialog_evaluation", "targets": ["bot"],
        "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]},
                       {"name": "flags", "type": "checkbox", "options": ["rude", "long"]}]}).id  # fmt: skip
    topic = create_classification(session=session, user=admin, dataset_id=ds,
                                  data={"name": "topic", "type": "radio", "options": ["code", "chat"]}).id  # fmt: skip
    pref = create_classification(session=session, user=admin, dataset_id=ds, data={"name": "preference", "type": "pairwise"}).id  # fmt: skip
    session.commit()

    def work(score: str, answers: dict, flags: list[str] | None = None, validity: str = "valid") -> dict:
        values = {"score": score} | ({"flags": flags} if flags else {})
        return {"validity": validity, "invalid_reason": "bad" if validity == "invalid" else "",
                "classifications": answers,
                "results": [{"class_id": helpful, "candidate": 0, "values": values}]}  # fmt: skip

    def save(user: User, ext: str, w: dict, submit: bool = True) -> None:
        save_annotation(session=session, user=user, item_id=ids[ext], work=w, version=0, submit=submit)

    # x1: both submitted, they disagree (score and preference).
    save(ann1, "x1", work("5", {str(topic): "code", str(pref): {"chosen": 0, "rejected": 1}}, ["rude"]))
    save(ann2, "x1", work("3", {str(topic): "code", str(pref): {"chosen": 1, "rejected": 0}}))
    # x2: both submitted, the same answers (given in another order).
    save(ann1, "x2", work("4", {str(topic): "chat", str(pref): {"tie": True}}))
    save(ann2, "x2", work("4", {str(pref): {"tie": True}, str(topic): "chat"}))
    save(ann1, "x3", work("2", {}, validity="invalid"), submit=False)  # saved, invalid
    save_draft(session=session, user=ann1, item_id=ids["x4"], work=work("1", {}), version=0)
    save(ann2, "x5", work("5", {str(topic): "chat"}))
    save(ann2, "x6", work("1", {}))
    save(ann1, "x7", work("3", {}))
    session.commit()
    set_status = update(Annotation).where(Annotation.annotator_id == ann2.id)
    session.execute(set_status.where(Annotation.item_id == ids["x5"]).values(status="accepted"))
    session.execute(set_status.where(Annotation.item_id == ids["x6"]).values(status="rejected"))
    session.execute(
        insert(Annotation).values(
            item_id=ids["x7"],
            dataset_id=ds,
            annotator_id=rv.id,
            status="submitted",
            final=True,
            classifications={},
        )  # fmt: skip
    )
    add_comment(session=session, user=ann1, item_id=ids["x6"], text="odd reply")
    session.commit()
    return World(ds, ids, admin, ann1, ann2, rv)


def _found(session, w: World, user: User | None = None, **spec) -> list[str]:
    flt = ItemFilter.from_dict(spec)
    page, total = list_items(session=session, user=user or w.admin, dataset_id=w.ds, flt=flt, limit=100)
    names = [i.external_id for i in page]
    assert total == len(names)
    return sorted(names, key=lambda e: int(e[1:]))


CASES = [
    ({}, "x1 x2 x3 x4 x5 x6 x7 x8"),
    ({"status": ["untouched"]}, "x8"),
    ({"status": ["draft"]}, "x3 x4"),
    ({"status": ["submitted"]}, "x1 x2 x7"),
    ({"status": ["accepted"]}, "x5"),
    ({"status": ["rejected"]}, "x6"),
    ({"status": ["final"]}, "x7"),
    ({"status": ["accepted", "rejected"]}, "x5 x6"),
    ({"status": ["untouched", "draft"]}, "x3 x4 x8"),
    ({"annotators": ["ann2"]}, "x1 x2 x5 x6"),
    ({"annotators": ["ann1"], "status": ["draft"]}, "x3 x4"),
    ({"annotators": ["ann2"], "status": ["draft"]}, ""),  # the same annotation: ann2 has no draft
    ({"annotators": ["ann2"], "status": ["untouched"]}, "x3 x4 x7 x8"),
    ({"label": "helpfulness"}, "x1 x2 x3 x5 x6 x7"),  # x4 is a draft
    ({"label": "helpfulness", "attribute": "score", "value": "5"}, "x1 x5"),
    ({"label": "helpfulness", "attribute": "flags", "value": "rude"}, "x1"),
    ({"label": "helpfulness", "attribute": "score", "value": "5", "annotators": ["ann2"]}, "x5"),
    ({"question": "topic", "answer": "chat"}, "x2 x5"),
    ({"question": "preference", "answer": "B"}, "x1"),
    ({"question": "preference", "answer": "tie"}, "x2"),
    ({"validity": "invalid"}, "x3"),
    ({"validity": "valid", "status": ["accepted", "rejected"]}, "x5 x6"),
    ({"comments": True}, "x6"),
    ({"comments": False}, "x1 x2 x3 x4 x5 x7 x8"),
    # "has comments" beside conditions on an annotation (checked inside their subquery: x6 alone has a comment)
    ({"comments": True, "status": ["rejected"]}, "x6"),
    ({"comments": True, "status": ["submitted"]}, ""),
    ({"comments": True, "annotators": ["ann2"], "label": "helpfulness"}, "x6"),
    ({"comments": True, "label": "helpfulness", "attribute": "score", "value": "1"}, "x6"),
    ({"comments": True, "question": "topic", "answer": "chat"}, ""),
    ({"comments": True, "status": ["untouched", "rejected"]}, "x6"),
    ({"comments": False, "status": ["rejected", "accepted"]}, "x5"),
    ({"disagree": True}, "x1"),
    ({"models": ["m-small"]}, "x2 x4 x6 x8"),
    ({"models": ["m-large"], "status": ["submitted"]}, "x1 x7"),
    ({"imported_to": "2025-12-31"}, "x8"),
    ({"imported_from": "2026-03-01", "imported_to": "2026-03-01", "status": ["untouched"]}, ""),
    ({"search": "refund"}, "x1 x5"),
    ({"search": "refund", "status": ["accepted"], "models": ["m-large"]}, "x5"),
    ({"search": "question", "status": ["untouched", "draft"]}, "x3 x4 x8"),
    ({"search": "question", "annotators": ["ann2"]}, "x1 x2 x5 x6"),
    ({"search": "question", "status": ["rejected"], "comments": True}, "x6"),
    ({"search": "question", "status": ["submitted"], "comments": True}, ""),
]


def test_each_filter_alone_and_combined(session, world):
    for spec, expected in CASES:
        assert _found(session, world, **spec) == expected.split(), spec
        # navigation's correlated EXISTS form selects the same items (the IN form above counts), also beside
        # the queue's join of the annotator's own annotation ("todo")
        flt = ItemFilter.from_dict(spec)
        walked = queue.following(session=session, user=world.admin, dataset_id=world.ds, item=None, step=1,
                                 limit=100, flt=flt)  # fmt: skip
        assert sorted((i.external_id for i in walked), key=lambda e: int(e[1:])) == expected.split(), spec
        kw = {"session": session, "user": world.ann1, "dataset_id": world.ds, "status": "todo", "flt": flt}
        assert len(queue.following(**kw, item=None, step=1, limit=100)) == queue.count_items(**kw), spec
        assert queue.count_items(**{**kw, "status": "all"}) == len(expected.split()), spec
        # page by page, as the Datasets list reads it (walking the dataset or sorting the selection)
        pages = [list_items(session=session, user=world.admin, dataset_id=world.ds, flt=flt, offset=o, limit=3)
                 for o in range(0, 9, 3)]  # fmt: skip
        listed = [i.external_id for page, _ in pages for i in page]
        if flt.search:  # best match first: the pages read in turn give the whole list's order
            whole, _ = list_items(session=session, user=world.admin, dataset_id=world.ds, flt=flt, limit=100)
            assert listed == [i.external_id for i in whole] and sorted(listed) == sorted(expected.split()), (
                spec
            )
        else:
            assert listed == expected.split(), spec
        assert {total for _, total in pages} == {len(expected.split())}, spec
    # Names the filter uses must exist in the dataset.
    with pytest.raises(InputError, match="no class named 'nope'"):
        _found(session, world, label="nope")
    with pytest.raises(InputError, match="no classification named 'nope'"):
        _found(session, world, question="nope", answer="x")
    with pytest.raises(InputError, match="not a candidate label"):
        _found(session, world, question="preference", answer="first")


def test_a_search_in_navigation_checked_per_item_walks_the_same_items(session, world, monkeypatch):
    """Navigation checks a search per item when the index finds many matches (store.search.item_matches),
    else reads the matches as a set: both walk the items the list shows, comments' words included."""
    from store import search

    cases = [(spec, expected) for spec, expected in CASES if "search" in spec]
    cases += [({"search": "odd reply"}, "x6"), ({"search": "reply", "status": ["rejected"]}, "x6")]
    for threshold in (0, 1_000):
        monkeypatch.setattr(search, "CHECKED_PER_ITEM_FROM", threshold)
        for spec, expected in cases:
            flt = ItemFilter.from_dict(spec)
            assert _found(session, world, **spec) == expected.split(), spec
            for step in (1, -1):
                walked = queue.following(session=session, user=world.admin, dataset_id=world.ds, item=None,
                                         step=step, limit=100, flt=flt)  # fmt: skip
                assert (
                    sorted((i.external_id for i in walked), key=lambda e: int(e[1:])) == expected.split()
                ), spec


def test_navigation_counts_a_search_s_matches_once_a_while(session, world, monkeypatch):
    """Whether a search has many matches (store.search.item_matches' choice of form) is counted on the first
    press and kept for MANY_KEPT_S: the next presses walk the same items without counting; after that, counted
    again."""
    from store import search

    monkeypatch.setattr(search, "_many", {})

    def walk() -> list[str]:
        found = queue.following(session=session, user=world.admin, dataset_id=world.ds, item=None, step=1,
                                limit=100, flt=ItemFilter(search="refund"))  # fmt: skip
        return [i.external_id for i in found]

    def counts() -> int:
        return sum(1 for s in seen if s.startswith("select count(*) from (select"))

    with statements(session.get_bind()) as seen:
        assert walk() == ["x1", "x5"] and counts() == 1
        assert walk() == ["x1", "x5"] and counts() == 1
        monkeypatch.setattr(search, "MANY_KEPT_S", 0.0)
        assert walk() == ["x1", "x5"] and counts() == 2


def test_a_page_of_items_selected_far_from_the_start_is_found(session):
    """The list walks the dataset in order for a page when the selection is dense; a selection lying past
    where the walk looks (here the second half) is sorted instead, and every page is right."""
    admin = User(username="admin", role="admin")
    session.add(admin)
    ds = make_dataset(session, "far").id
    old, new = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    session.execute(insert(Item), [
        {"dataset_id": ds, "external_id": f"x{i}", "name": "", "position": i, "meta": {},
         "messages": [{"role": "user", "text": "q"}], "candidates": _models(i), "created_at": new if i >= 20 else old}
        for i in range(40)
    ])  # fmt: skip
    session.commit()
    for spec, selected in [({"imported_from": "2026-01-01"}, range(20, 40)),
                           ({"imported_from": "2026-01-01", "models": ["m-large"]}, range(21, 40, 2)),
                           ({"models": ["m-small"]}, range(0, 40, 2))]:  # fmt: skip
        flt = ItemFilter.from_dict(spec)
        for limit in (1, 5, 7):
            got = []
            for offset in range(0, 40, limit):
                page, total = list_items(
                    session=session, user=admin, dataset_id=ds, flt=flt, offset=offset, limit=limit
                )
                assert total == len(selected), spec
                got += [i.external_id for i in page]
            assert got == [f"x{i}" for i in selected], (spec, limit)


def test_a_model_filter_matches_whole_names_read_from_the_lists_or_from_each_item(session, monkeypatch):
    """The model filter reads the dataset's distinct model lists and selects the items holding a matching
    one; past MODEL_LISTS_UP_TO lists it tests every item's list. Both select the same items: whole names
    only (m-large is not m-large-2), any script, candidates without a model ignored."""
    admin = User(username="admin", role="admin")
    session.add(admin)
    ds = make_dataset(session, "models").id
    lists = [
        ["m-large", None],
        ["m-large-2", "m-small"],
        ["模型", "m-small"],
        [None, None],
        ["m-small", "m-large"],
    ]
    session.execute(insert(Item), [
        {"dataset_id": ds, "external_id": f"x{i}", "name": "", "position": i, "meta": {},
         "messages": [{"role": "user", "text": "q"}],
         "candidates": [{"text": f"r{k}", "model": m} for k, m in enumerate(lists[i % len(lists)])]}
        for i in range(10)
    ])  # fmt: skip
    session.commit()
    cases = [(["m-large"], [0, 4, 5, 9]), (["模型"], [2, 7]), (["m-large-2", "模型"], [1, 2, 6, 7]),
             (["m-small"], [1, 2, 4, 6, 7, 9]), (["m-"], []), (["nobody"], [])]  # fmt: skip
    for up_to in (filters.MODEL_LISTS_UP_TO, 1):
        monkeypatch.setattr(filters, "MODEL_LISTS_UP_TO", up_to)
        for models, selected in cases:
            flt = ItemFilter(models=models)
            page, total = list_items(session=session, user=admin, dataset_id=ds, flt=flt, limit=20)
            assert ([i.external_id for i in page], total) == ([f"x{i}" for i in selected], len(selected)), (
                up_to,
                models,
            )
            walked = queue.following(
                session=session, user=admin, dataset_id=ds, item=None, step=1, limit=20, flt=flt
            )
            assert [i.external_id for i in walked] == [f"x{i}" for i in selected], (up_to, models)


def test_untouched_is_counted_as_the_items_less_the_annotated_ones(session, world):
    """Status untouched alone (with annotators or not) is counted apart (store.filters.count_selected): the
    count matches the items listed and walked."""
    for spec in ({"status": ["untouched"]}, {"status": ["untouched"], "annotators": ["ann2"]},
                 {"status": ["untouched"], "annotators": ["ann1", "ann2"]}):  # fmt: skip
        flt = ItemFilter.from_dict(spec)
        walked = queue.following(session=session, user=world.admin, dataset_id=world.ds, item=None, step=1,
                                 limit=100, flt=flt)  # fmt: skip
        counted = filters.count_selected(session=session, dataset_id=world.ds, flt=flt)
        assert counted == len(walked) == len(_found(session, world, **spec)) > 0, spec


def test_next_todo_under_a_filter_walks_near_then_reads_the_rest_as_a_set(session, world, monkeypatch):
    """Submit-and-next under a filter: the first item after the current one that the filter selects and the
    annotator has not submitted, wrapping round, never the current one; the same whether it is found by the
    walk over the next WALKED_FIRST positions or in the filter's set (store.queue._next_todo_filtered)."""
    items = [session.get(Item, world.ids[f"x{i}"]) for i in range(1, 9)]
    specs = [spec for spec, _ in CASES if spec] + [{"search": "question"}]
    for spec in specs:
        flt = ItemFilter.from_dict(spec)
        kw = {"session": session, "user": world.ann1, "dataset_id": world.ds, "flt": flt}
        todo = [i.id for i in queue.following(**kw, item=None, step=1, status="todo", limit=100)]
        for after in items:
            k = items.index(after)
            ring = [i.id for i in items[k + 1 :] + items[:k]]
            expected = next((i for i in ring if i in todo), None)
            for walked_first in (0, 1, 1_000):
                monkeypatch.setattr(queue, "WALKED_FIRST", walked_first)
                got = queue.next_todo(**kw, after=after)
                assert (got.id if got else None) == expected, (spec, after.external_id, walked_first)


def test_a_place_carried_from_an_earlier_item_equals_the_place_counted(session, world, monkeypatch):
    """rank_after (Submit-and-next's "12 / 300") gives what rank_of counts: for every filter, status and pair
    of selected items, near (counted between them) or far and backwards (counted whole); 0 for an item the
    filter leaves out; and after a submit that takes the earlier item out of the annotator's "todo"."""
    items = [session.get(Item, world.ids[f"x{i}"]) for i in range(1, 9)]
    specs = [spec for spec, _ in CASES] + [{"search": "question"}]
    for spec, status, near in [(spec, status, queue.RANK_CARRIED_UP_TO) for spec in specs for status in ("all", "todo")] + [
        (spec, "all", 0) for spec in specs[:4]
    ]:  # fmt: skip
        monkeypatch.setattr(queue, "RANK_CARRIED_UP_TO", near)
        flt = ItemFilter.from_dict(spec) if spec else None
        kw = {"session": session, "user": world.ann1, "status": status, "flt": flt}
        places = {i.id: queue.rank_of(**kw, item=i) for i in items}
        for k, before in enumerate(items):
            if not places[before.id]:
                continue
            for item in items[k + 1 :] if near else items:
                got = queue.rank_after(**kw, item=item, before=before, before_rank=places[before.id])
                assert got == places[item.id], (spec, status, near, before.external_id, item.external_id)
    # ann1 submits x3 (saved so far) under "todo": it leaves the list, and x4 takes its place
    x3, x4 = items[2], items[3]
    kw = {"session": session, "user": world.ann1, "status": "todo"}
    before_rank = queue.rank_of(**kw, item=x3)
    assert before_rank > 0
    ann = session.execute(
        select(Annotation).where(Annotation.item_id == x3.id, Annotation.annotator_id == world.ann1.id)
    ).scalar_one()
    work = {"validity": "valid", "invalid_reason": "", "classifications": {}, "results": []}
    save_annotation(
        session=session, user=world.ann1, item_id=x3.id, work=work, version=ann.version, submit=True
    )
    assert queue.rank_of(**kw, item=x4) == before_rank
    assert queue.rank_after(**kw, item=x4, before=x3, before_rank=before_rank) == before_rank


def test_the_annotator_choices_are_everyone_with_work_in_the_dataset_once(session, world):
    """The filter's Annotator list: each user with an annotation (draft, final …) in this dataset, by name;
    not someone whose work is in another dataset only, nor the admin who has none."""
    other = make_dataset(session, "other").id
    session.execute(insert(Item).values(dataset_id=other, external_id="o1", name="", position=0, meta={},
                                        messages=[{"role": "user", "text": "hi"}], candidates=[]))  # fmt: skip
    item = session.execute(select(Item.id).where(Item.dataset_id == other)).scalar_one()
    session.execute(insert(Annotation).values(item_id=item, dataset_id=other, annotator_id=world.admin.id,
                                              status="draft", final=False, classifications={}))  # fmt: skip
    session.commit()
    assert dataset_annotators(session=session, dataset_id=world.ds) == ["ann1", "ann2", "rv"]
    assert dataset_annotators(session=session, dataset_id=other) == ["admin"]


def test_navigation_and_saved_filters(session, world):
    flt = ItemFilter(status=["submitted", "accepted"])
    kw = {"session": session, "user": world.rv, "dataset_id": world.ds, "flt": flt}
    assert queue.count_items(**kw) == 4
    walked, item = [], None
    while (item := queue.neighbour(**kw, item=item, step=1)) is not None:
        walked.append(item.external_id)
    assert walked == ["x1", "x2", "x5", "x7"]
    x5 = session.get(Item, world.ids["x5"])
    assert queue.rank_of(session=session, user=world.rv, item=x5, flt=flt) == 3
    x3 = session.get(Item, world.ids["x3"])  # not selected: no place in the filtered list
    assert queue.rank_of(session=session, user=world.rv, item=x3, flt=flt) == 0
    assert queue.rank_of(session=session, user=world.rv, item=x3) == 3
    assert queue.item_at(**kw, rank=4).external_id == "x7"
    assert queue.following(**kw, item=x5, step=-1, limit=5)[0].external_id == "x2"
    # Submit-and-next: the next item under both the filter and "not submitted by me".
    x1 = session.get(Item, world.ids["x1"])
    assert queue.next_todo(session=session, user=world.ann1, dataset_id=world.ds, after=x1, flt=flt).external_id == "x5"  # fmt: skip

    # Saved filters: reviewers and admins save and delete, everyone who sees the dataset uses them.
    flt = ItemFilter(status=["submitted"], models=["m-large"])
    saved_filters.save_filter(session=session, user=world.rv, dataset_id=world.ds, name="large done", flt=flt)
    session.commit()
    again = saved_filters.get_filter(session=session, user=world.ann1, dataset_id=world.ds, name="large done")
    assert again == flt
    assert [
        f.name for f in saved_filters.list_filters(session=session, user=world.ann1, dataset_id=world.ds)
    ] == ["large done"]
    flt2 = ItemFilter(disagree=True)
    saved_filters.save_filter(
        session=session, user=world.admin, dataset_id=world.ds, name="large done", flt=flt2
    )
    session.commit()
    assert (
        saved_filters.get_filter(session=session, user=world.admin, dataset_id=world.ds, name="large done")
        == flt2
    )
    actions = session.exec(AuditEvent.__table__.select().with_only_columns(AuditEvent.action)).scalars().all()
    assert actions.count("filter.save") == 2
    with pytest.raises(Forbidden):
        saved_filters.save_filter(session=session, user=world.ann1, dataset_id=world.ds, name="mine", flt=flt)
    with pytest.raises(Forbidden):
        saved_filters.delete_filter(session=session, user=world.ann1, dataset_id=world.ds, name="large done")
    with pytest.raises(InputError, match="unknown field 'colour'"):
        filters.parse({"colour": "red"})
    saved_filters.delete_filter(session=session, user=world.rv, dataset_id=world.ds, name="large done")
    session.commit()
    with pytest.raises(NotFound, match="saved: none"):
        saved_filters.get_filter(session=session, user=world.admin, dataset_id=world.ds, name="large done")


def test_export_and_report_follow_the_filter(session, world):
    from store.report import ReportFilters, report_data

    plain = count_selection(session=session, dataset_id=world.ds, filters=ExportFilters())
    assert plain["annotated_items"] == 4  # x1 x2 x5 x7 (submitted or accepted)
    spec = ItemFilter(models=["m-large"]).to_dict()
    narrowed = count_selection(session=session, dataset_id=world.ds, filters=ExportFilters(items=spec))
    assert narrowed["annotated_items"] == 3  # x1, x5, x7
    report = report_data(session=session, user=world.admin, dataset_id=world.ds,
                         filters=ReportFilters(items=ItemFilter(disagree=True).to_json()), today=date(2026, 3, 2))  # fmt: skip
    assert report["progress"]["items"] == 1


def test_cli_export_takes_a_saved_filter(tmp_path):
    """(`report --filter` reads the saved filter the same way: store/cli/export.saved_filter_spec.)"""

    def build(session) -> None:
        admin = User(username="admin", role="admin")
        session.add(admin)
        session.flush()
        ds = make_dataset(session, "cli").id
        session.execute(insert(Item), [
            {"dataset_id": ds, "external_id": f"x{i}", "position": i, "name": "", "meta": {},
             "messages": [{"role": "user", "text": "q"}], "candidates": _models(i)}
            for i in range(1, 5)
        ])  # fmt: skip
        saved_filters.save_filter(session=session, user=admin, dataset_id=ds, name="large", flt=ItemFilter(models=["m-large"]))  # fmt: skip
        session.commit()

    env = cli_env(tmp_path, build)
    out = tmp_path / "out.jsonl"
    done = store_cli(env, "export", "cli", "--format", "native", "--out", str(out), "--filter", "large")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()[1:]] == ["x1", "x3"]
    bad = store_cli(env, "export", "cli", "--format", "native", "--out", str(out), "--filter", "nope")
    assert (
        bad.returncode == 2
        and "saved filter 'nope': not found in this dataset (saved: 'large')" in bad.stderr
    )


def test_disagree_is_kept_as_the_work_changes(session, world):
    from store.annotations import saved_work
    from store.team.review import reject

    ann = session.execute(
        select(Annotation).where(
            Annotation.item_id == world.ids["x1"], Annotation.annotator_id == world.ann2.id
        )
    ).scalar_one()
    own = saved_work(session, ann)
    assert _found(session, world, disagree=True) == ["x1"]
    reject(session=session, user=world.rv, annotation_id=ann.id, version=ann.version, reason="redo")
    assert _found(session, world, disagree=True) == []  # one finished annotation left
    session.refresh(ann)
    save_annotation(session=session, user=world.ann2, item_id=world.ids["x1"], work=own, version=ann.version,
                    submit=True)  # fmt: skip
    assert _found(session, world, disagree=True) == ["x1"]


def test_a_per_item_check_looks_annotations_up_by_item_with_or_without_statistics(tmp_path):
    """Navigation checks a filter per item (correlated EXISTS). On SQLite with no statistics the planner
    took the covering (dataset, status, final, item) index for it and read every annotation of the dataset
    per item (minutes at 1M items): the check names no dataset, and the server start writes statistics
    (store.db.analyze)."""
    from sqlalchemy import text
    from sqlmodel import Session

    from store import db

    url = f"sqlite:///{tmp_path}/plan.db"
    db.upgrade(url)
    engine = db.get_engine(url)
    with Session(engine) as session:
        ds = make_dataset(session, "plan").id
        session.add(User(username="ann1", role="annotator"))
        session.execute(insert(Item), [
            {"dataset_id": ds, "external_id": f"x{i}", "name": "", "position": i, "meta": {},
             "messages": [{"role": "user", "text": "q"}], "candidates": []} for i in range(3)
        ])  # fmt: skip
        session.commit()
        for stats in (False, True):
            if stats:
                db.analyze(engine)
                session.commit()  # (a new read: this session's snapshot predates the statistics)
            else:  # (a new database has none: nothing has run ANALYZE yet)
                assert not session.execute(
                    text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                ).first()
            for spec in ({"status": ["final"]}, {"status": ["submitted"], "annotators": ["ann1"]},
                         {"status": ["untouched"]}, {"validity": "invalid"}):  # fmt: skip
                where = filters.conditions(session=session, dataset_id=ds, flt=ItemFilter.from_dict(spec),
                                           correlated=True)  # fmt: skip
                query = select(Item.id).where(Item.dataset_id == ds, *where).order_by(Item.position).limit(3)
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = " / ".join(
                    r[3] for r in session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
                )
                assert "ix_annotation_dataset_status" not in plan and "flt_annotation USING" in plan, (
                    stats,
                    spec,
                    plan,
                )
        assert session.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'item'")).scalar()


def test_not_among_items_is_an_anti_join_on_postgresql(session, world):
    """ "untouched" and "no comments" outside navigation: NOT EXISTS on PostgreSQL, which it plans as a hashed
    anti-join at any size (a NOT IN list past work_mem was checked item by item: rank_of under "untouched"
    ran for over 18 minutes at 1M items), NOT IN on SQLite (one list, looked up per item)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    for spec in (
        {"status": ["untouched"]},
        {"comments": False},
        {"status": ["untouched"], "annotators": ["ann2"]},
    ):
        where = filters.conditions(session=session, dataset_id=world.ds, flt=ItemFilter.from_dict(spec))
        query = select(func.count()).select_from(Item).where(Item.dataset_id == world.ds, *where)
        sql = str(query.compile(session.get_bind()))
        assert ("NOT (EXISTS" in sql) == postgres and ("NOT IN" in sql) != postgres, (spec, sql)
        if postgres:
            plan = "\n".join(session.execute(text("EXPLAIN " + str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})))).scalars())  # fmt: skip
            assert "Anti Join" in plan, (spec, plan)


def test_a_filter_run_again_and_again_on_postgresql_is_planned_for_its_values_each_time(pg_server):
    """PostgreSQL plans a statement prepared on the server once for any values after a few runs, and the
    filters' best plans depend on their values (at 1M items a search with a status and an answer took 1.3 s
    instead of 0.2 s from its 11th run on a connection): the store's engine prepares nothing there."""
    from store.db import make_engine
    from tests.utils import make_user

    engine = make_engine(pg_server.new_database())
    try:
        with Session(engine) as session:
            admin = make_user(session, "boss", role="admin")
            ds = make_dataset(session, "d").id
            for spec in ({"status": ["submitted"]}, {"comments": True}, {"annotators": ["boss"]}):
                for _ in range(12):
                    list_items(session=session, user=admin, dataset_id=ds, flt=ItemFilter.from_dict(spec))
            prepared = session.execute(text("SELECT name, statement FROM pg_prepared_statements")).all()
    finally:
        engine.dispose()
    assert prepared == []
