"""Ontology store: import/export/copy, and changes made while results exist (SQLite and PostgreSQL)."""

import copy

import pytest
from sqlmodel import select

from store.annotations import load_work, save_annotation
from store.errors import Forbidden, InputError
from store.models import Annotation, AuditEvent, Item, OntologyClass, User
from store.ontology import (
    copy_ontology,
    create_class,
    create_classification,
    delete_class,
    delete_classification,
    export_ontology,
    has_candidates,
    import_ontology,
    list_classes,
    list_classifications,
    restore_class,
    set_guidelines,
    update_class,
    update_classification,
)
from store.ontology_usage import (
    answer_counts,
    import_losses,
    removed_answer_usage,
    removed_usage,
    result_counts,
)
from tests.unit.test_ontology import EXAMPLE
from tests.utils import make_dataset, make_user


@pytest.fixture
def setup(session):
    admin = make_user(session, "root", role="admin")
    ds = make_dataset(session, "d1")
    item = Item(
        dataset_id=ds.id,
        external_id="1",
        messages=[{"role": "user", "text": "hi"}, {"role": "bot", "text": "hello"}],
        candidates=[{"text": "a"}, {"text": "b"}],
    )
    session.add(item)
    session.commit()
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=copy.deepcopy(EXAMPLE))
    return admin, ds, item


def annotate(session, item, cls_by_name, q_by_name, who="alice", score="4"):
    user = make_user(session, who)
    work = {
        "classifications": {str(q_by_name["topic"].id): "code", str(q_by_name["ranking"].id): [1, 0]},
        "results": [
            {
                "class_id": cls_by_name["helpfulness"].id,
                "message": 1,
                "values": {"score": score, "why": "ok"},
            },
            {"class_id": cls_by_name["ideal_reply"].id, "role": "bot", "text": "a better reply"},
        ],
    }
    save_annotation(session=session, user=user, item_id=item.id, work=work, version=0, submit=True)
    return user


def by_name(session, ds):
    classes = {c.name: c for c in list_classes(session=session, dataset_id=ds.id, include_deleted=True)}
    questions = {
        q.name: q for q in list_classifications(session=session, dataset_id=ds.id, include_deleted=True)
    }
    return classes, questions


def test_import_then_export_gives_the_design_example(session, setup):
    admin, ds, _ = setup
    out = export_ontology(session=session, dataset_id=ds.id)
    assert out["guidelines"] == EXAMPLE["guidelines"]
    assert [c["name"] for c in out["classes"]] == ["helpfulness", "ideal_reply"]
    assert out["classes"][0]["attributes"][0] == EXAMPLE["classes"][0]["attributes"][0]
    assert out["classes"][1] | {} == {**EXAMPLE["classes"][1], "tags": [], "instruction": ""}
    assert [q["name"] for q in out["classifications"]] == ["preference", "ranking", "topic"]
    # Exporting and importing again changes nothing.
    summary = import_ontology(session=session, user=admin, dataset_id=ds.id, data=out)
    assert summary["created"] == 0 and summary["updated"] == 2 and summary["deleted"] == 0
    assert export_ontology(session=session, dataset_id=ds.id) == out


def test_broken_import_changes_nothing(session, setup):
    admin, ds, _ = setup
    before = export_ontology(session=session, dataset_id=ds.id)
    bad = copy.deepcopy(EXAMPLE)
    bad["classes"].append({"name": "extra", "tool": "dialog_evaluation"})
    bad["classes"][1]["max_chars"] = 1
    with pytest.raises(InputError, match="class 'ideal_reply', field min_chars"):
        import_ontology(session=session, user=admin, dataset_id=ds.id, data=bad)
    session.rollback()
    assert export_ontology(session=session, dataset_id=ds.id) == before


def test_only_admins_change_the_ontology(session, setup):
    _, ds, _ = setup
    alice = make_user(session, "alice")
    with pytest.raises(Forbidden):
        import_ontology(session=session, user=alice, dataset_id=ds.id, data=EXAMPLE)
    with pytest.raises(Forbidden):
        create_class(
            session=session, user=alice, dataset_id=ds.id, data={"name": "x", "tool": "dialog_evaluation"}
        )


def test_merge_keeps_others_and_checks_numbers(session, setup):
    admin, ds, _ = setup
    extra = {"classes": [{"name": "safety", "tool": "dialog_evaluation", "targets": ["bot"]}]}
    summary = import_ontology(session=session, user=admin, dataset_id=ds.id, data=extra, mode="merge")
    assert summary["created"] == 1
    names = {c.name: c.number for c in list_classes(session=session, dataset_id=ds.id)}
    assert names == {"helpfulness": 1, "ideal_reply": 2, "safety": 3}
    clash = {"classes": [{"name": "tox", "number": 1, "tool": "dialog_evaluation"}]}
    with pytest.raises(InputError, match="number 1 is also class"):
        import_ontology(session=session, user=admin, dataset_id=ds.id, data=clash, mode="merge")


def test_copy_ontology(session, setup):
    admin, ds, _ = setup
    other = make_dataset(session, "d2")
    copy_ontology(session=session, user=admin, from_dataset_id=ds.id, to_dataset_id=other.id)
    assert export_ontology(session=session, dataset_id=other.id) == export_ontology(
        session=session, dataset_id=ds.id
    )
    with pytest.raises(InputError, match="different dataset"):
        copy_ontology(session=session, user=admin, from_dataset_id=ds.id, to_dataset_id=ds.id)


def test_has_candidates(session, setup):
    _, ds, _ = setup
    assert has_candidates(session=session, dataset_id=ds.id)
    empty = make_dataset(session, "empty")
    session.add(Item(dataset_id=empty.id, external_id="1", messages=[], candidates=[]))
    session.add(Item(dataset_id=empty.id, external_id="2", messages=[], candidates=None))
    session.commit()
    assert not has_candidates(session=session, dataset_id=empty.id)


def test_rename_class_keeps_results(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    alice = annotate(session, item, classes, questions)
    cls = classes["helpfulness"]
    data = {
        **export_ontology(session=session, dataset_id=ds.id)["classes"][0],
        "name": "helpful",
        "alias": "Help",
    }
    update_class(session=session, user=admin, class_id=cls.id, data=data)
    assert result_counts(session=session, dataset_id=ds.id)[cls.id] == 1
    work = load_work(session=session, user=alice, item_id=item.id).work
    assert work["results"][0]["class_id"] == cls.id and work["results"][0]["values"]["score"] == "4"
    assert session.get(OntologyClass, cls.id).name == "helpful"


def test_rename_attribute_carries_values(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    alice = annotate(session, item, classes, questions)
    data = export_ontology(session=session, dataset_id=ds.id)["classes"][0]
    data["attributes"][0]["name"] = "rating"
    update_class(
        session=session,
        user=admin,
        class_id=classes["helpfulness"].id,
        data=data,
        renamed_attributes={"score": "rating"},
    )
    work = load_work(session=session, user=alice, item_id=item.id).work
    assert work["results"][0]["values"] == {"rating": "4", "why": "ok"}


def test_delete_option_keeps_values_and_is_recorded(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    alice = annotate(session, item, classes, questions, score="4")
    cls = classes["helpfulness"]
    data = export_ontology(session=session, dataset_id=ds.id)["classes"][0]
    data["attributes"][0]["options"] = ["1", "2", "3", "5"]
    assert removed_usage(session=session, class_id=cls.id, data=data) == [
        {"attribute": "score", "option": "4", "results": 1}
    ]
    update_class(session=session, user=admin, class_id=cls.id, data=data)
    work = load_work(session=session, user=alice, item_id=item.id).work
    assert work["results"][0]["values"]["score"] == "4"  # kept as it was
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "ontology.option_deleted")).one()
    assert event.detail["option"] == "4" and event.detail["results"] == 1 and event.user_id == admin.id


def test_delete_class_soft_keeps_results_and_audits(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    annotate(session, item, classes, questions)
    cls = classes["helpfulness"]
    assert delete_class(session=session, user=admin, class_id=cls.id) == 1
    assert [c.name for c in list_classes(session=session, dataset_id=ds.id)] == ["ideal_reply"]
    assert result_counts(session=session, dataset_id=ds.id)[cls.id] == 1  # results kept
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "ontology.class_deleted")).one()
    assert event.detail["class"]["name"] == "helpfulness" and event.detail["results"] == 1
    # Exported with include_deleted for native round trips, under its old name.
    full = export_ontology(session=session, dataset_id=ds.id, include_deleted=True)
    assert {"name": "helpfulness", "deleted": True}.items() <= full["classes"][0].items()
    # The name stays taken; the number is free.
    with pytest.raises(InputError, match="field name: a deleted class has this name"):
        create_class(
            session=session,
            user=admin,
            dataset_id=ds.id,
            data={"name": "helpfulness", "tool": "dialog_evaluation"},
        )
    new = create_class(
        session=session, user=admin, dataset_id=ds.id, data={"name": "fresh", "tool": "dialog_evaluation"}
    )
    assert new.number == 1
    restored = restore_class(session=session, user=admin, class_id=cls.id)
    assert restored.deleted_at is None and restored.number == 3


def test_replace_import_deletes_missing_and_revives_by_name(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    annotate(session, item, classes, questions)
    only = {"classes": [EXAMPLE["classes"][1]], "classifications": []}
    summary = import_ontology(session=session, user=admin, dataset_id=ds.id, data=only)
    assert summary["deleted"] == 1 and summary["classifications_deleted"] == 3
    assert [c.name for c in list_classes(session=session, dataset_id=ds.id)] == ["ideal_reply"]
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=copy.deepcopy(EXAMPLE))
    revived = {c.name: c.id for c in list_classes(session=session, dataset_id=ds.id)}
    assert revived["helpfulness"] == classes["helpfulness"].id
    assert result_counts(session=session, dataset_id=ds.id)[revived["helpfulness"]] == 1


def test_classifications_crud_and_option_removal(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    annotate(session, item, classes, questions)
    topic = questions["topic"]
    assert answer_counts(session=session, dataset_id=ds.id) == {topic.id: 1, questions["ranking"].id: 1}
    data = {"name": "topic", "type": "radio", "options": ["chat", "other"], "required": True}
    assert removed_answer_usage(session=session, classification_id=topic.id, data=data) == [
        {"option": "code", "answers": 1}
    ]
    update_classification(session=session, user=admin, classification_id=topic.id, data=data)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "ontology.option_deleted")).one()
    q = create_classification(
        session=session,
        user=admin,
        dataset_id=ds.id,
        data={"name": "tie_ok", "type": "ranking", "allow_ties": True},
    )
    assert q.settings == {"allow_ties": True}
    assert delete_classification(session=session, user=admin, classification_id=topic.id) == 1
    names = [c.name for c in list_classifications(session=session, dataset_id=ds.id)]
    assert names == ["preference", "ranking", "tie_ok"]


def test_answers_are_counted_and_read_in_the_database_as_python_would_count_them(session, setup):
    """answer_counts and removed_answer_usage read the stored JSON in SQL: an answer counts unless it is null,
    "" or [] (0, false and {} count); keys that are not ids, answers in other datasets and annotations with no
    answers (null, a list) count for nothing; a non-ASCII option and one inside a checkbox list are found."""
    admin, ds, item = setup
    _, questions = by_name(session, ds)
    topic, ranking = str(questions["topic"].id), str(questions["ranking"].id)
    options = ["code", "chat", "other", "café"]
    data = {"name": "topic", "type": "radio", "options": options, "required": True}
    update_classification(session=session, user=admin, classification_id=int(topic), data=data)
    other = make_dataset(session, "d2")
    other_item = Item(dataset_id=other.id, external_id="o", messages=[{"role": "user", "text": "x"}])
    session.add(other_item)
    session.commit()
    shapes = [
        {topic: "code", ranking: [1, 0]},
        {topic: "", ranking: []},
        {topic: None, ranking: 0},
        {topic: "café", "note": "not an id", ranking: False},
        {topic: ["code", "café"], ranking: {}},
        {ranking: [[0, 1]]},
        None,
        ["code"],
    ]
    for n, answers in enumerate(shapes):
        user = User(
            username=f"u{n}", role="annotator"
        )  # (no password: hashing eight costs more than the test)
        session.add(user)
        session.flush()
        session.add(Annotation(item_id=item.id, dataset_id=ds.id, annotator_id=user.id, status="submitted",
                               classifications=answers))  # fmt: skip
    session.add(Annotation(item_id=other_item.id, dataset_id=other.id, annotator_id=user.id, status="submitted",
                           classifications={topic: "code"}))  # fmt: skip
    session.commit()
    assert answer_counts(session=session, dataset_id=ds.id) == {int(topic): 3, int(ranking): 5}
    data = {"name": "topic", "type": "radio", "options": ["other"], "required": True}
    removed = removed_answer_usage(session=session, classification_id=int(topic), data=data)
    assert removed == [{"option": "code", "answers": 2}, {"option": "café", "answers": 2}]


def test_result_counts_are_each_dataset_s_own_and_keep_deleted_classes(session, setup):
    """Two datasets with the same ontology (copied): each counts the results on its own classes, and a
    deleted class keeps its count (its results stay)."""
    admin, ds, item = setup
    other = make_dataset(session, "d2")
    copy_ontology(session=session, user=admin, from_dataset_id=ds.id, to_dataset_id=other.id)
    other_item = Item(
        dataset_id=other.id, external_id="1", messages=item.messages, candidates=item.candidates
    )
    session.add(other_item)
    session.commit()
    classes, questions = by_name(session, ds)
    other_classes, other_questions = by_name(session, other)
    annotate(session, item, classes, questions, who="alice")
    annotate(session, other_item, other_classes, other_questions, who="bob", score="2")
    annotate(session, other_item, other_classes, other_questions, who="carol")
    mine = {classes["helpfulness"].id: 1, classes["ideal_reply"].id: 1}
    assert result_counts(session=session, dataset_id=ds.id) == mine
    theirs = {other_classes["helpfulness"].id: 2, other_classes["ideal_reply"].id: 2}
    assert result_counts(session=session, dataset_id=other.id) == theirs
    delete_class(session=session, user=admin, class_id=classes["helpfulness"].id)
    assert result_counts(session=session, dataset_id=ds.id) == mine


def test_update_class_validates_against_the_others(session, setup):
    admin, ds, _ = setup
    classes, _ = by_name(session, ds)
    data = export_ontology(session=session, dataset_id=ds.id)["classes"][1]
    data["number"] = 1
    with pytest.raises(
        InputError, match="class 'ideal_reply', field number: number 1 is also class 'helpfulness'"
    ):
        update_class(session=session, user=admin, class_id=classes["ideal_reply"].id, data=data)


def test_guidelines(session, setup):
    admin, ds, _ = setup
    set_guidelines(session=session, user=admin, dataset_id=ds.id, text="# Be kind")
    assert export_ontology(session=session, dataset_id=ds.id)["guidelines"] == "# Be kind"


def test_import_losses_lists_what_results_use(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    annotate(session, item, classes, questions, score="4")
    data = copy.deepcopy(EXAMPLE)
    data["classes"][0]["attributes"][0]["options"] = ["1", "2", "3", "5"]
    del data["classes"][1]
    data["classifications"] = [q for q in data["classifications"] if q["name"] != "topic"]
    lines = import_losses(session=session, dataset_id=ds.id, data=data)
    assert lines == [
        "class 'helpfulness': option '4' of attribute 'score' is removed; 1 results use it (kept)",
        "class 'ideal_reply' is deleted; 1 results use it (kept)",
        "classification 'topic' is deleted; 1 annotations answer it (kept)",
    ]
    assert import_losses(session=session, dataset_id=ds.id, data=data, mode="merge") == lines[:1]
    assert import_losses(session=session, dataset_id=ds.id, data={"classes": 3}) == []


def test_deleted_entries_in_a_file_never_delete_live_classes(session, setup):
    admin, ds, item = setup
    classes, questions = by_name(session, ds)
    annotate(session, item, classes, questions)
    other = make_dataset(session, "d2")
    copy_ontology(session=session, user=admin, from_dataset_id=ds.id, to_dataset_id=other.id)
    delete_class(session=session, user=admin, class_id=classes["helpfulness"].id)
    create_class(
        session=session, user=admin, dataset_id=ds.id, data={"name": "gone", "tool": "dialog_evaluation"}
    )
    delete_class(session=session, user=admin, class_id=by_name(session, ds)[0]["gone"].id)
    native = export_ontology(session=session, dataset_id=ds.id, include_deleted=True)
    assert {c["name"]: c.get("deleted", False) for c in native["classes"]} == {
        "helpfulness": True, "ideal_reply": False, "gone": True,
    }  # fmt: skip
    # A native export's ontology merged into d2: its live helpfulness stays live, "gone" arrives deleted.
    import_ontology(session=session, user=admin, dataset_id=other.id, data=native, mode="merge")
    live = [c.name for c in list_classes(session=session, dataset_id=other.id)]
    every = {
        c.name: c.deleted_at is not None
        for c in list_classes(session=session, dataset_id=other.id, include_deleted=True)
    }
    assert live == ["helpfulness", "ideal_reply"] and every["gone"] is True
