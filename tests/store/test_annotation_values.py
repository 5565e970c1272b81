"""The values the class and answer filters look up (store/annotation_values.py), on SQLite and PostgreSQL:
every answer shape is found, the rows follow saves, a reviewer's fix, a final answer, a round trip and a
dataset's deletion, and migration 0007 writes them for work saved before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, func, inspect, select
from sqlmodel import Session

from core.filters import ItemFilter
from store import annotation_values
from store.annotations import save_annotation
from store.db import alembic_config, make_engine, upgrade
from store.items import delete_dataset, list_items
from store.models import Annotation, AnnotationValue, Classification, Item, OntologyClass, User
from store.ontology import create_class, create_classification
from store.team.adjudicate import finalise_agreed
from store.team.review import fix_and_accept
from tests.store.test_filters import World, _found, world  # noqa: F401  (the fixture)
from tests.utils import make_dataset


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """A SQLite file (not memory, as elsewhere) or a PostgreSQL database: the migration test opens its own."""
    eng = make_engine(url)
    yield eng
    eng.dispose()


def named_values(session, dataset_id: int) -> set[tuple]:
    """The dataset's AnnotationValue rows as (item, annotator, final, key with class/question names, value)."""
    names = {f"c{i}": n for i, n in session.execute(select(OntologyClass.id, OntologyClass.name)
                                                 .where(OntologyClass.dataset_id == dataset_id))}  # fmt: skip
    names |= {f"q{i}": n for i, n in session.execute(select(Classification.id, Classification.name)
                                                  .where(Classification.dataset_id == dataset_id))}  # fmt: skip
    rows = session.execute(
        select(Item.external_id, User.username, Annotation.final, AnnotationValue.key, AnnotationValue.value)
        .join(Annotation, Annotation.id == AnnotationValue.annotation_id)
        .join(Item, Item.id == Annotation.item_id)
        .join(User, User.id == Annotation.annotator_id)
        .where(AnnotationValue.dataset_id == dataset_id)
    )
    out = set()
    for item, user, final, key, value in rows:
        head, _, attribute = key.partition(".")
        out.add((item, user, final, names[head] + ("." + attribute if attribute else ""), value))
    return out


def test_every_answer_shape_is_found(session):
    admin = User(username="boss", role="admin")
    ann1, ann2 = User(username="ann1", role="annotator"), User(username="ann2", role="annotator")
    session.add_all([admin, ann1, ann2])
    session.commit()
    ds = make_dataset(session, "shapes").id
    session.add_all(
        Item(dataset_id=ds, external_id=f"x{i}", name="", position=i, meta={},
             messages=[{"role": "user", "text": "q"}], candidates=[{"text": "a"}, {"text": "b"}, {"text": "c"}])
        for i in (1, 2)
    )  # fmt: skip
    session.commit()
    ids = dict(session.execute(select(Item.external_id, Item.id).where(Item.dataset_id == ds)).all())
    rate = create_class(session=session, user=admin, dataset_id=ds, data={
        "name": "rate", "tool": "dialog_evaluation", "targets": ["bot"],
        "attributes": [{"name": "n", "type": "number", "min": 0, "max": 10},
                       {"name": "stars", "type": "rating", "scale": 5},
                       {"name": "flags", "type": "checkbox", "options": ["rude", "long", "长"]},
                       {"name": "note", "type": "text"}]}).id  # fmt: skip
    q = {
        name: str(create_classification(session=session, user=admin, dataset_id=ds, data=data).id)
        for name, data in (
            ("tags", {"name": "tags", "type": "checkbox", "options": ["a", "b", "c"]}),
            ("why", {"name": "why", "type": "text"}),
            ("order", {"name": "order", "type": "ranking", "allow_ties": True}),
        )
    }
    session.commit()
    long = "a reason " * 40 + "end"  # 363 characters: stored cut, with a hash of the whole
    save_annotation(session=session, user=ann1, item_id=ids["x1"], version=0, submit=True, work={
        "classifications": {q["tags"]: ["a", "c"], q["why"]: long, q["order"]: [1, 0, 2]},
        "results": [{"class_id": rate, "candidate": 0, "values": {"n": 4, "stars": 5, "flags": ["长"], "note": ""}}],
    })  # fmt: skip
    save_annotation(session=session, user=ann2, item_id=ids["x2"], version=0, submit=True, work={
        "classifications": {q["tags"]: ["b"], q["why"]: long + "!", q["order"]: [[0, 2], 1]},
        "results": [{"class_id": rate, "candidate": 1, "values": {"n": 4.5, "note": "x" * 300}}],
    })  # fmt: skip

    def found(**spec: object) -> list[str]:
        page, total = list_items(session=session, user=admin, dataset_id=ds, flt=ItemFilter.from_dict(spec))
        assert total == len(page)
        return sorted(i.external_id for i in page)

    assert found(question="tags", answer="c") == ["x1"]
    assert found(question="tags", answer="b") == ["x2"]
    assert found(question="why", answer=long) == ["x1"]  # the whole text, not its stored start
    assert found(question="why", answer=long + "!") == ["x2"]
    assert found(question="why", answer=long[:200]) == []
    assert found(question="order", answer="B") == ["x1"]  # ranked first
    assert found(question="order", answer="A") == ["x2"]  # tied first with C
    assert found(question="order", answer="C") == ["x2"]
    assert found(label="rate", attribute="n", value="4") == ["x1"]
    assert found(label="rate", attribute="n", value="4.5") == ["x2"]
    assert found(label="rate", attribute="stars", value="5") == ["x1"]
    assert found(label="rate", attribute="flags", value="长") == ["x1"]
    assert found(label="rate", attribute="note", value="x" * 300) == ["x2"]
    assert found(label="rate", attribute="stars") == ["x1"]  # set at all
    assert found(label="rate", attribute="note") == ["x2"]  # "" is not set
    assert found(label="rate") == ["x1", "x2"]
    # the keys and values stay within the index's columns however long the text
    longest = session.execute(select(func.max(func.length(AnnotationValue.value)))).scalar_one()
    assert longest == annotation_values.CHARS


def test_the_values_follow_saves_a_fix_a_final_answer_and_the_dataset(session, world):  # noqa: F811
    w: World = world
    topic = {q: str(i) for q, i in _questions(session, w.ds).items()}["topic"]
    chat = ItemFilter.from_dict({"question": "topic", "answer": "chat"})
    assert _found(session, w, question="topic", answer="code") == ["x1"]
    own = session.execute(
        select(Annotation).where(Annotation.item_id == w.ids["x1"], Annotation.annotator_id == w.ann1.id)
    ).scalar_one()
    work = {"classifications": {topic: "chat"}, "results": []}
    save_annotation(
        session=session, user=w.ann1, item_id=w.ids["x1"], work=work, version=own.version, submit=True
    )
    assert _found(session, w, question="topic", answer="chat") == ["x1", "x2", "x5"]
    assert _found(session, w, question="topic", answer="code", annotators=["ann1"]) == []
    assert _found(session, w, label="helpfulness", annotators=["ann1"]) == [
        "x2",
        "x3",
        "x7",
    ]  # x1's result gone

    # x2: both annotators answered alike, so its final answer is theirs
    assert finalise_agreed(session=session, user=w.rv, dataset_id=w.ds) == 1
    assert _found(session, w, status=["final"], question="topic", answer="chat") == ["x2"]
    assert _found(session, w, status=["final"], label="helpfulness", attribute="score", value="4") == ["x2"]

    # a reviewer's fix of ann2's x2 replaces what the filters find there
    theirs = session.execute(
        select(Annotation).where(Annotation.item_id == w.ids["x2"], Annotation.annotator_id == w.ann2.id)
    ).scalar_one()
    fixed = {"classifications": {topic: "code"},
             "results": [{"class_id": _class_id(session, w.ds), "candidate": 1, "values": {"score": "2"}}]}  # fmt: skip
    fix_and_accept(session=session, user=w.rv, annotation_id=theirs.id, version=theirs.version, work=fixed)
    assert _found(session, w, label="helpfulness", attribute="score", value="2", annotators=["ann2"]) == [
        "x2"
    ]
    assert _found(session, w, label="helpfulness", attribute="score", value="4", annotators=["ann2"]) == []
    assert _found(session, w, question="topic", answer="code") == ["x1", "x2"]  # ann2's x1, and now x2
    assert list_items(session=session, user=w.admin, dataset_id=w.ds, flt=chat)[1] == 3  # x1, x2 (final), x5

    delete_dataset(session=session, user=w.admin, dataset_id=w.ds)
    session.commit()
    assert session.execute(select(func.count()).select_from(AnnotationValue)).scalar_one() == 0


def _questions(session: Session, dataset_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Classification.name, Classification.id).where(Classification.dataset_id == dataset_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_migration_0007_writes_the_values_of_work_saved_before_it(engine, session, world):  # noqa: F811
    w: World = world
    before = named_values(session, w.ds)
    assert ("x1", "ann1", False, "helpfulness.flags", "rude") in before
    assert not any(annotator == "ann1" and item == "x4" for item, annotator, *_ in before)  # a draft has none
    session.close()
    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0006_filter_indexes")
    with make_engine(url).connect() as conn:
        assert "annotation_value" not in inspect(conn).get_table_names()
    upgrade(url)
    with Session(make_engine(url)) as fresh:
        assert named_values(fresh, w.ds) == before
        assert _found(fresh, w, label="helpfulness", attribute="score", value="5") == ["x1", "x5"]


def _class_id(session: Session, dataset_id: int) -> int:
    return session.execute(
        select(OntologyClass.id).where(OntologyClass.dataset_id == dataset_id)
    ).scalar_one()
