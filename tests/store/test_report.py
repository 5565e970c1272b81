"""store/report.py on both databases: a hand-made dataset whose answers give known progress counts, pair
table, leaderboard order, agreement and annotator figures; the filters; who may see the report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session

from core.report.html import progress_note
from store.errors import Forbidden, InputError, NotFound
from store.models import Annotation, Item, Result, User
from store.ontology import import_ontology, list_classes, list_classifications
from store.report import ReportFilters, last_change, report_data
from store.team.settings import configure_dataset
from tests.utils import make_dataset, make_user

ONTOLOGY: dict[str, Any] = {
    "classes": [{"name": "quality", "alias": "Quality", "tool": "dialog_evaluation", "targets": ["bot"],
                 "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]}]}],
    "classifications": [{"name": "preference", "type": "pairwise"},
                        {"name": "topic", "type": "radio", "options": ["code", "chat"]}],
}  # fmt: skip
TODAY = date(2026, 1, 7)
KEYS = {"progress", "agreement", "models", "annotators"}


def build(session: Session) -> dict[str, Any]:
    """Admin boss, reviewer rv, annotators alice, bob, carol (password1); dataset "pilot", overlap 2, six
    items with candidates [X, Y]:
    i1 alice X>Y (scores 5/3), bob X>Y (4/4), topic code · i2 alice (accepted) X>Y, bob Y>X, topic chat ·
    i3 alice X>Y and rv's final X>Y · i4 bob saved · i5 carol rejected · i6 untouched."""
    users = {n: make_user(session, n) for n in ("alice", "bob", "carol")}
    users["boss"] = make_user(session, "boss", role="admin")
    users["rv"] = make_user(session, "rv", role="reviewer")
    ds = make_dataset(session, "pilot")
    import_ontology(session=session, user=users["boss"], dataset_id=ds.id, data=ONTOLOGY)
    configure_dataset(session=session, user=users["boss"], dataset_id=ds.id, overlap=2)
    session.commit()
    cls = list_classes(session=session, dataset_id=ds.id)[0].id
    q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
    items = {}
    for i in range(1, 7):
        item = Item(dataset_id=ds.id, external_id=f"i{i}", position=i, messages=[{"role": "user", "text": "hi"}],
                    candidates=[{"text": "a", "model": "X"}, {"text": "b", "model": "Y"}])  # fmt: skip
        session.add(item)
        session.flush()
        items[f"i{i}"] = item.id

    def add(ext: str, who: str, status: str, chosen: int | None, topic: str | None = None,
            scores: tuple[int, int] | None = None, seconds: float = 60.0, day: int = 5,
            final: bool = False) -> None:  # fmt: skip
        answers: dict[str, Any] = {}
        if chosen is not None:
            answers[q["preference"]] = {"chosen": chosen, "rejected": 1 - chosen, "strength": 1}
        if topic:
            answers[q["topic"]] = topic
        when = datetime(2026, 1, day, 12, tzinfo=UTC)
        submitted = status in ("submitted", "accepted", "rejected")
        ann = Annotation(item_id=items[ext], dataset_id=ds.id, annotator_id=users[who].id, status=status,
                         classifications=answers, updated_at=when, submitted_at=when if submitted else None,
                         active_seconds=seconds, final=final)  # fmt: skip
        session.add(ann)
        session.flush()
        for k, s in enumerate(scores or ()):
            session.add(Result(annotation_id=ann.id, class_id=cls, slot=f"c{k}", candidate_index=k,
                               values={"score": str(s)}))  # fmt: skip

    add("i1", "alice", "submitted", 0, "code", (5, 3), seconds=60)
    add("i1", "bob", "submitted", 0, "code", (4, 4), seconds=100, day=6)
    add("i2", "alice", "accepted", 0, "chat", seconds=120)
    add("i2", "bob", "submitted", 1, "chat", seconds=80, day=6)
    add("i3", "alice", "submitted", 0, seconds=30, day=6)
    add("i3", "rv", "accepted", 0, final=True, day=6)
    add("i4", "bob", "saved", 1)
    add("i5", "carol", "rejected", 1, seconds=90, day=6)
    session.commit()
    return {"users": users, "dataset": ds, "items": items}


def report(session: Session, data: dict, who: str = "boss", **filters: Any) -> dict[str, Any]:
    return report_data(session=session, user=data["users"][who], dataset_id=data["dataset"].id,
                       filters=ReportFilters(**filters), today=TODAY)  # fmt: skip


@pytest.fixture
def data(session: Session) -> dict[str, Any]:
    return build(session)


def test_progress_counts_needed_submissions_and_finish(session, data):
    got = report(session, data)
    assert set(got) >= KEYS
    p = got["progress"]
    assert {k: p[k] for k in ("items", "untouched", "in progress", "submitted", "accepted", "final")} == {
        "items": 6, "untouched": 1, "in progress": 2, "submitted": 1, "accepted": 1, "final": 1,
    }  # fmt: skip
    # overlap 2: i3 needs 1 more, i4 and i5 (saved, rejected) 2 each, the untouched i6 2
    assert p["submissions_needed"] == 7
    assert p["per_day"] == {"2026-01-05": 2, "2026-01-06": 4}
    assert p["pace_per_day"] == 3.0 and p["finish"] == "2026-01-10"  # 7 / 3 per day → 3 days


def test_pairs_and_leaderboard(session, data):
    models = report(session, data)["models"]
    # pairwise: X wins 4 (i1 ×2, i2 alice, i3 alice), loses 1 (i2 bob); scores: alice 5>3, bob 4=4
    [pair] = models["pairs"]
    assert (pair["a"], pair["b"], pair["wins"], pair["ties"], pair["losses"]) == ("X", "Y", 5, 1, 1)
    assert pair["ci"][0] < pair["win_rate"] < pair["ci"][1]
    board = models["leaderboard"]
    assert [r["model"] for r in board] == ["X", "Y"] and board[0]["comparisons"] == 7
    assert board[0]["ci"][0] <= board[0]["strength"] <= board[0]["ci"][1]
    scores = {r["model"]: (r["mean"], r["n"]) for r in models["scores"]}
    assert scores == {"X": (4.5, 2), "Y": (3.5, 2)}
    assert set(models["by"]["topic"]) == {"code", "chat", "(none)"}  # i3 has no topic


def test_agreement(session, data):
    rows = {r["criterion"]: r for r in report(session, data)["agreement"]}
    assert rows["preference"]["items"] == 2 and rows["preference"]["percent"] == 0.5
    assert (
        rows["topic"]["items"] == 2
        and rows["topic"]["percent"] == 1.0
        and rows["topic"]["level"] == "nominal"
    )
    assert rows["Quality · score"]["items"] == 2 and rows["Quality · score"]["level"] == "ordinal"
    assert set(rows["preference"]) >= {"criterion", "level", "alpha", "ci", "items", "percent", "tau"}


def test_annotators(session, data):
    people = {a["annotator"]: a for a in report(session, data)["annotators"]}
    assert set(people) == {"alice", "bob", "carol"}  # rv's final answer is not annotator work
    alice = people["alice"]
    assert alice["submitted"] == 3 and alice["accepted"] == pytest.approx(1 / 3) and alice["rejected"] == 0
    assert alice["median_seconds"] == 60 and alice["items_per_hour"] == pytest.approx(3 / (210 / 3600))
    assert alice["per_day"] == 1.5 and alice["days"] == {"2026-01-05": 2, "2026-01-06": 1}
    assert people["carol"]["rejected"] == 1.0 and people["bob"]["submitted"] == 2
    assert people["alice"]["agreement"] is not None


def test_filters(session, data):
    bob = report(session, data, annotators=("bob",))
    [pair] = bob["models"]["pairs"]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (1, 1, 1)
    assert [a["annotator"] for a in bob["annotators"]] == ["bob"]
    # progress counts bob's work only: i1 and i2 submitted, i4 saved, the rest untouched by him
    progress = {k: bob["progress"][k] for k in ("untouched", "in progress", "submitted", "accepted", "final")}
    assert progress == {"untouched": 3, "in progress": 1, "submitted": 2, "accepted": 0, "final": 0}
    assert bob["progress"]["submissions_needed"] == 1 + 1 + 2 + 3 * 2
    assert "selected annotators" in progress_note(bob) and progress_note(report(session, data)) is None
    final = report(session, data, status="final")
    [pair] = final["models"]["pairs"]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (1, 0, 0) and final["agreement"] == []
    accepted = report(session, data, status="accepted")
    assert accepted["models"]["pairs"][0]["wins"] == 1  # alice's accepted i2
    late = report(session, data, since=date(2026, 1, 6))
    assert late["models"]["pairs"][0]["wins"] == 2  # bob i1, alice i3 (+ bob's score tie)
    with pytest.raises(InputError):
        report(session, data, status="saved")
    with pytest.raises(InputError):
        report(session, data, annotators=("nobody",))


def test_who_may_see_it(session, data):
    assert report(session, data, who="rv")["progress"]["items"] == 6
    with pytest.raises(Forbidden):
        report(session, data, who="alice")
    with pytest.raises(NotFound):
        report_data(session=session, user=data["users"]["boss"], dataset_id=999, filters=ReportFilters())


def test_last_change_moves_with_every_recorded_change(session, data):
    from store.team import history

    ds = data["dataset"].id
    before = last_change(session=session, dataset_id=ds)
    assert last_change(session=session, dataset_id=ds) == before
    # a save, a review, an adjudication: each appends a history entry in its transaction
    history.record(session, action="saved", user_id=data["users"]["bob"].id, dataset_id=ds,
                   item_id=data["items"]["i4"], annotator="bob")  # fmt: skip
    session.commit()
    after = last_change(session=session, dataset_id=ds)
    assert after != before
    session.add(
        Annotation(item_id=data["items"]["i6"], dataset_id=ds, annotator_id=data["users"]["carol"].id)
    )
    session.commit()
    assert last_change(session=session, dataset_id=ds) != after
    assert isinstance(data["users"]["boss"], User)


def test_columnar_figures_equal_core_reports(session, data):
    """store/report's columns (read from the database) and tally against core/report's own functions on
    the same answers."""
    from core.report import models as core
    from core.report.agreement import agreement, criteria_from_works
    from store.export_filters import ExportFilters
    from store.report import _ontology, _works
    from store.report.read import item_models, read_columns
    from store.report.tally import by_answer, cells, tally

    ds = data["dataset"].id
    names = {u.id: u.username for u in data["users"].values()}
    cols = read_columns(session, ds, ExportFilters(), names)
    classes, questions = _ontology(session, ds)
    models = item_models(session, ds, set(cols.ann_item.tolist()))
    works = _works(cols)
    items = [(i, models[i], works[i]) for i in sorted(models)]
    t = tally(cols, models, classes, questions)
    comps = core.comparisons(items, classes, questions)
    assert core.pair_table_of_cells(cells(t)) == core.pair_table(comps)
    mine = core.leaderboard_of_cells(cells(t), bootstrap=0)
    theirs = core.leaderboard(comps, bootstrap=0)
    assert [(r["model"], r["comparisons"]) for r in mine] == [(r["model"], r["comparisons"]) for r in theirs]
    assert [r["strength"] for r in mine] == pytest.approx([r["strength"] for r in theirs])
    want_scores = core.mean_scores(items, classes)
    assert [{**r, "ci": None} for r in t.scores] == [{**r, "ci": None} for r in want_scores]
    assert [r["ci"] for r in t.scores] == [pytest.approx(r["ci"]) for r in want_scores]
    topic = next(q for q in questions if q["name"] == "topic")
    split = by_answer(t, bootstrap=0)["topic"]
    core_split = core.by_classification(items, classes, questions, topic["id"], bootstrap=0)
    assert list(split) == list(core_split)
    for answer, board in split.items():
        assert [r["strength"] for r in board] == pytest.approx([r["strength"] for r in core_split[answer]])
    got = {c.key: agreement(c, bootstrap=0) for c in t.criteria}
    wanted = criteria_from_works(works, classes, questions)
    assert sorted(got) == sorted(c.key for c in wanted)
    for c in wanted:
        want = agreement(c, bootstrap=0)
        assert (got[c.key].alpha, got[c.key].percent, got[c.key].items) == (
            pytest.approx(want.alpha),
            pytest.approx(want.percent),
            want.items,
        )
        assert got[c.key].per_annotator.keys() == want.per_annotator.keys()
        for who, figures in want.per_annotator.items():
            assert got[c.key].per_annotator[who] == pytest.approx(figures)


def test_columns_read_chunk_by_chunk_equal_one_read(session, data, monkeypatch):
    """read_columns reads the selected annotations and their results CHUNK annotations at a time (by their ids
    on SQLite, by the filters and an id range on PostgreSQL): any chunk size gives the same columns, under
    each filter."""
    import json

    from store.report import read

    ds = data["dataset"].id
    names = {u.id: u.username for u in data["users"].values()}

    def read_all(**filters: Any) -> tuple[list, list]:
        cols = read.read_columns(session, ds, ReportFilters(**filters).export_filters(), names)
        anns = [
            (int(i), int(item), cols.coders[c], cols.answers[a])
            for i, item, c, a in zip(
                cols.ann_id, cols.ann_item, cols.ann_coder, cols.ann_answers, strict=True
            )
        ]
        results = sorted((int(cols.ann_id[r]), int(k), cols.slots[s], int(c), json.dumps(cols.values[v], sort_keys=True))
                         for r, k, s, c, v in zip(cols.res_ann, cols.res_class, cols.res_slot, cols.res_cand,
                                                  cols.res_values, strict=True))  # fmt: skip
        return anns, results

    for filters in ({}, {"annotators": ("bob",)}, {"status": "final"}, {"since": date(2026, 1, 6)}):
        monkeypatch.setattr(read, "CHUNK", 20_000)
        whole = read_all(**filters)
        assert whole[0] and (whole[1] or filters), filters  # (the final answer has answers, no results)
        for size in (1, 2, 3):
            monkeypatch.setattr(read, "CHUNK", size)
            assert read_all(**filters) == whole, (filters, size)
    assert {coder for _, _, coder, _ in read_all(annotators=("bob",))[0]} == {"bob"}


def test_item_models_are_read_per_distinct_list_or_per_item_alike(session, monkeypatch):
    """The report's item → model names: read per distinct model list, or past MODEL_LISTS_UP_TO lists from
    every item, the same mapping: items naming no model left out, a candidate without a model None, the
    dataset's own items only, and the wanted ones when asked."""
    from store import filters
    from store.report.read import item_models

    ds, other = make_dataset(session, "models").id, make_dataset(session, "other").id
    lists = [["X", "Y"], ["Y", None], [None, None], [], ["模型", "X"]]
    for i in range(10):
        candidates = [{"text": "r", **({"model": m} if m else {})} for m in lists[i % len(lists)]]
        session.add(Item(dataset_id=ds, external_id=f"m{i}", position=i, messages=[], candidates=candidates))
    session.add(Item(dataset_id=other, external_id="o", position=0, messages=[],
                     candidates=[{"text": "r", "model": "X"}, {"text": "r", "model": "Y"}]))  # fmt: skip
    session.commit()
    ids = {i.external_id: i.id for i in session.query(Item).filter(Item.dataset_id == ds)}
    expected = {ids[f"m{i}"]: lists[i % len(lists)] for i in range(10) if i % len(lists) in (0, 1, 4)}
    wanted = {ids["m0"], ids["m2"], ids["m6"], ids["m9"]}
    for up_to in (filters.MODEL_LISTS_UP_TO, 1):
        monkeypatch.setattr(filters, "MODEL_LISTS_UP_TO", up_to)
        assert item_models(session, ds) == expected, up_to
        assert item_models(session, ds, wanted) == {k: v for k, v in expected.items() if k in wanted}, up_to


def test_columnar_rankings_ties_and_unknown_models_equal_core():
    from core.report import models as core
    from store.report.tally import Columns, cells, tally

    classes = [{"id": 1, "name": "q", "tool": "dialog_evaluation",
                "attributes": [{"name": "score", "type": "rating"}]}]  # fmt: skip
    questions = [{"id": 7, "name": "pref", "type": "pairwise"}, {"id": 8, "name": "rank", "type": "ranking"}]
    models = {1: ["A", "B", "C"], 2: ["B", None, "A"], 3: ["C", "A"]}
    answers = {
        1: {"x": {"8": [2, 0, 1], "7": {"chosen": 2, "rejected": 1}}, "y": {"8": [[0, 1], 2]}},
        2: {"x": {"8": [1, 0, 2], "7": {"tie": True}}, "y": {"7": {"chosen": 0, "rejected": 2}}},
        3: {"x": {"7": {"tie": True}}, "y": {"8": [1, 0]}},
    }
    annotations, results, aid = [], [], 0
    for item, by in answers.items():
        for who, answer in by.items():
            aid += 1
            annotations.append((aid, item, who, answer))
            results += [(aid, 1, f"c{k}", k, {"score": 5 - k}) for k in range(len(models[item]))]
    works: dict = {}
    for aid, item, who, answer in annotations:
        works.setdefault(item, {})[who] = {"classifications": answer, "results": [
            {"class_id": 1, "candidate": k, "values": v} for a, _, _, k, v in results if a == aid]}  # fmt: skip
    items = [(i, models[i], works[i]) for i in sorted(models)]
    t = tally(Columns.from_rows(annotations, results), models, classes, questions)
    assert core.pair_table_of_cells(cells(t)) == core.pair_table(core.comparisons(items, classes, questions))
    assert [{**r, "ci": None} for r in t.scores] == [
        {**r, "ci": None} for r in core.mean_scores(items, classes)
    ]


def test_judge_suggestions_are_compared_with_the_humans(session, data):
    """A judge's suggestions as core/llm/judge.py stores them: classifications on the item (the pairwise one
    under "preference"), a class's values on a candidate's bubble (kind = the class name)."""
    from store.models import Suggestion

    items = data["items"]
    for item, kind, target, value in [
        ("i1", "topic", None, "code"),  # humans: code, code → agrees
        ("i2", "topic", None, "code"),  # humans: chat, chat → disagrees
        ("i1", "preference", None, {"chosen": 0, "rejected": 1}),  # humans both chose 0 → agrees
        ("i2", "preference", None, {"chosen": 0, "rejected": 1}),  # humans split: left out
        ("i1", "quality", "c0", {"score": "4"}),  # humans 5, 4: lower median 4 → agrees
        ("i1", "quality", "c1", {"score": "4"}),  # humans 3, 4: lower median 3 → disagrees
    ]:
        session.add(Suggestion(item_id=items[item], kind=kind, target=target, value=value, agent="gpt-judge"))
    session.commit()
    rows = {r["criterion"]: r for r in report(session, data)["models"]["judge"]}
    assert {r["judge"] for r in rows.values()} == {"gpt-judge"}
    assert (rows["topic"]["items"], rows["topic"]["percent"]) == (2, 0.5)
    assert (rows["preference"]["items"], rows["preference"]["percent"]) == (1, 1.0)
    assert (rows["Quality · score"]["items"], rows["Quality · score"]["percent"]) == (2, 0.5)
