"""The Ontology page under AppTest: create classes with every attribute type, and every classification type."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from store.models import Item
from store.ontology import export_ontology
from store.ontology_usage import result_counts
from tests.conftest import ROOT
from tests.utils import make_dataset, make_user

PAGE = str(ROOT / "pages" / "ontology.py")
K = "ontology."


@pytest.fixture
def env(app_engine):  # type: ignore[no-untyped-def]
    engine = app_engine
    with db.write_session(engine) as session:
        admin = make_user(session, "root", role="admin")
        ds = make_dataset(session, "d1")
        make_dataset(session, "d2")
        session.add(
            Item(dataset_id=ds.id, external_id="1", messages=[], candidates=[{"text": "a"}, {"text": "b"}])
        )
    return engine, admin, ds


def page(admin) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["auth.user_id"] = admin.id
    return at.run()


def ontology(engine, ds):
    with db.read_session(engine) as session:
        return export_ontology(session=session, dataset_id=ds.id)


def attr_keys(at):
    return at.session_state[K + "attrs"]


def test_create_evaluation_class_with_every_attribute_type(env):
    engine, admin, ds = env
    at = page(admin)
    assert not at.exception
    at.button(key=K + "new").click().run()
    at.text_input(key=K + "c.name").set_value("quality")
    at.text_input(key=K + "c.alias").set_value("Quality")
    at.text_input(key=K + "c.tags").set_value("core, rlhf")
    at.color_picker(key=f"{K}color.{at.session_state[K + 'gen']}").set_value("#2e7d32")
    at.radio(key=K + "c.targets").set_value("both").run()
    specs = [
        ("score", "radio", {"options": "1\n2\n3", "default": "2", "required": True}),
        ("flags", "checkbox", {"options": "rude\nwrong"}),
        ("why", "text", {"max_length": "200"}),
        ("confidence", "number", {"min": "0", "max": "1", "step": "0.1"}),
        ("stars", "rating", {"scale": 7}),
    ]
    for name, kind, settings in specs:
        at.button(key=K + "attr.add").click().run()
        p = f"{K}a.{attr_keys(at)[-1]}."
        at.text_input(key=p + "name").set_value(name)
        at.selectbox(key=p + "type").set_value(kind).run()
        for field, value in settings.items():
            if field == "required":
                at.checkbox(key=p + field).check()
            elif field == "options":
                at.text_area(key=p + field).set_value(value)
            elif field == "scale":
                at.number_input(key=p + field).set_value(value)
            else:
                at.text_input(key=p + field).set_value(value)
        at.run()
    # Move "why" above "flags".
    at.button(key=f"{K}a.{attr_keys(at)[2]}.up").click().run()
    at.button(key=K + "save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Saved class quality." in [s.value for s in at.success]
    cls = ontology(engine, ds)["classes"][0]
    assert cls["name"] == "quality" and cls["alias"] == "Quality" and cls["number"] == 1
    assert cls["targets"] == ["user", "bot"] and cls["tags"] == ["core", "rlhf"] and cls["color"] == "#2e7d32"
    assert [a["name"] for a in cls["attributes"]] == ["score", "why", "flags", "confidence", "stars"]
    assert cls["attributes"][0] == {"name": "score", "type": "radio", "required": True, "options": ["1", "2", "3"],
                                    "default": "2"}  # fmt: skip
    assert cls["attributes"][1] == {"name": "why", "type": "text", "required": False, "max_length": 200}
    assert cls["attributes"][3] == {"name": "confidence", "type": "number", "required": False, "min": 0, "max": 1,
                                    "step": 0.1}  # fmt: skip
    assert cls["attributes"][4]["scale"] == 7
    # The class list shows it with its results count.
    assert "quality" in [t.value for t in at.text]


def test_create_response_class_and_errors_name_the_field(env):
    engine, admin, ds = env
    at = page(admin)
    at.button(key=K + "new").click().run()
    at.text_input(key=K + "c.name").set_value("ideal")
    at.radio(key=K + "c.tool").set_value("dialog_response").run()
    at.radio(key=K + "c.role").set_value("user")
    at.text_input(key=K + "c.min_chars").set_value("50")
    at.text_input(key=K + "c.max_chars").set_value("10")
    at.text_area(key=K + "c.instruction").set_value("Write as the user would.")
    at.button(key=K + "save").click().run()
    assert [e.value for e in at.error] == [
        "class 'ideal', field min_chars: min_chars 50 is greater than max_chars 10"
    ]
    assert ontology(engine, ds)["classes"] == []
    at.text_input(key=K + "c.max_chars").set_value("500")
    at.button(key=K + "save").click().run()
    assert not at.error
    assert ontology(engine, ds)["classes"] == [
        {"name": "ideal", "alias": "", "number": 1, "color": "#2e7d32", "tags": [], "tool": "dialog_response",
         "role": "user", "min_chars": 50, "max_chars": 500, "instruction": "Write as the user would."}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kind,fields,expected",
    [
        ("radio", {"options": "code\nchat"}, {"options": ["code", "chat"]}),
        ("checkbox", {"options": "a\nb"}, {"options": ["a", "b"]}),
        ("text", {}, {}),
        ("ranking", {"allow_ties": True}, {"allow_ties": True}),
        (
            "pairwise",
            {"allow_tie": False},
            {"allow_tie": False, "strengths": ["slightly better", "better", "much better"]},
        ),
    ],
)
def test_create_each_classification_type(env, kind, fields, expected):
    engine, admin, ds = env
    at = page(admin)
    at.button(key=K + "qnew").click().run()
    at.text_input(key=K + "q.name").set_value("q1")
    at.text_input(key=K + "q.title").set_value("Which?")
    at.selectbox(key=K + "q.type").set_value(kind).run()
    at.checkbox(key=K + "q.required").check()
    for field, value in fields.items():
        if field == "options":
            at.text_area(key=K + "q." + field).set_value(value)
        else:
            at.checkbox(key=K + "q." + field).set_value(value)
    at.button(key=K + "qsave").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert ontology(engine, ds)["classifications"] == [
        {"name": "q1", "title": "Which?", "type": kind, "required": True, **expected}
    ]


def test_delete_class_in_use_asks_with_the_count(env):
    from store.annotations import save_annotation
    from store.ontology import create_class, list_classes

    engine, admin, ds = env
    with db.write_session(engine) as session:
        cls = create_class(
            session=session, user=admin, dataset_id=ds.id, data={"name": "q", "tool": "dialog_evaluation"}
        )
        alice = make_user(session, "alice")
        item = session.exec(__import__("sqlmodel").select(Item)).first()
        work = {"results": [{"class_id": cls.id, "message": 0, "values": {}}]}
        save_annotation(session=session, user=alice, item_id=item.id, work=work, version=0)
    at = page(admin)
    at.button(key=f"{K}del.{cls.id}").click().run()
    assert "1 results use it" in at.warning[0].value
    at.button(key=K + "del.yes").click().run()
    with db.read_session(engine) as session:
        assert list_classes(session=session, dataset_id=ds.id) == []
        assert result_counts(session=session, dataset_id=ds.id) == {cls.id: 1}
    assert "Deleted class q (1 results kept)." in [s.value for s in at.success]


def test_the_usage_counts_are_kept_until_the_dataset_changes(env):
    """The Results and Answers columns are counted once and kept while the dataset's change key stands
    (answers are read from every annotation's JSON: seconds at 1M items); a saved annotation shows at once."""
    from sqlmodel import select

    from store.annotations import save_annotation
    from store.ontology import create_class, create_classification
    from tests.utils import statements

    engine, admin, ds = env
    with db.write_session(engine) as session:
        cls = create_class(
            session=session, user=admin, dataset_id=ds.id, data={"name": "q", "tool": "dialog_evaluation"}
        )
        topic = create_classification(
            session=session, user=admin, dataset_id=ds.id,
            data={"name": "topic", "type": "radio", "options": ["a", "b"]},
        )  # fmt: skip
        alice, bob = make_user(session, "alice"), make_user(session, "bob")
        item = session.exec(select(Item).where(Item.dataset_id == ds.id)).first()
    work = {
        "results": [{"class_id": cls.id, "message": 0, "values": {}}],
        "classifications": {str(topic.id): "a"},
    }

    def save(user) -> None:  # type: ignore[no-untyped-def]
        with db.write_session(engine) as session:
            save_annotation(session=session, user=user, item_id=item.id, work=work, version=0)

    def shown(at: AppTest) -> list[str]:
        return [t.value for t in at.text]

    def answers_read(seen: list[str]) -> int:
        return sum("json_each" in s and "group by j.key" in s for s in seen)

    save(alice)
    at = page(admin)
    assert shown(at).count("1") >= 2, shown(at)  # one result of q, one answer to topic
    with statements(engine) as seen:
        at.run()
        assert answers_read(seen) == 0 and shown(at).count("1") >= 2
        save(bob)
        at.run()
        assert answers_read(seen) == 1 and shown(at).count("2") >= 2, shown(at)


def test_guidelines_and_copy(env):
    engine, admin, ds = env
    at = page(admin)
    at.text_area(key=f"{K}guidelines.{ds.id}").set_value("# Rules")
    at.button(key=K + "guidelines.save").click().run()
    assert ontology(engine, ds)["guidelines"] == "# Rules"
    at.selectbox(key=K + "dataset").set_value("d2").run()
    at.button(key=K + "copy").click().run()
    assert not at.error, [e.value for e in at.error]
    with db.read_session(engine) as session:
        from store.datasets import get_dataset

        d2 = get_dataset(session=session, name="d2")
    assert ontology(engine, d2)["guidelines"] == "# Rules"


def test_upload_that_deletes_a_class_in_use_asks_first(env):
    import json

    from store.annotations import save_annotation
    from store.ontology import import_ontology, list_classes
    from tests.unit.test_ontology import EXAMPLE

    engine, admin, ds = env
    with db.write_session(engine) as session:
        import_ontology(session=session, user=admin, dataset_id=ds.id, data=EXAMPLE)
        cls = list_classes(session=session, dataset_id=ds.id)[1]
        alice = make_user(session, "alice")
        item = session.exec(__import__("sqlmodel").select(Item)).first()
        work = {"results": [{"class_id": cls.id, "role": "bot", "text": "x"}]}
        save_annotation(session=session, user=alice, item_id=item.id, work=work, version=0)
    smaller = {"classes": [EXAMPLE["classes"][0]], "classifications": EXAMPLE["classifications"]}
    at = page(admin)
    # AppTest has no file uploader, so the pending upload is put where the page keeps it.
    at.session_state[K + "pending"] = {
        "label": "small.json",
        "data": smaller,
        "mode": "replace",
        "losses": ["x"],
    }
    at.run()
    assert "This would take away" in at.warning[0].value
    at.button(key=K + "import.no").click().run()
    with db.read_session(engine) as session:
        assert len(list_classes(session=session, dataset_id=ds.id)) == 2
    at.session_state[K + "pending"] = {
        "label": "small.json",
        "data": smaller,
        "mode": "replace",
        "losses": ["x"],
    }
    at.run()
    at.button(key=K + "import.yes").click().run()
    with db.read_session(engine) as session:
        assert [c.name for c in list_classes(session=session, dataset_id=ds.id)] == ["helpfulness"]
    assert "Imported small.json: 0 classes created, 1 updated, 1 deleted." in at.success[0].value
    assert json.dumps(smaller)  # the file shape is the DESIGN.md one


def test_removing_an_option_in_use_asks_then_keeps_the_values(env):
    from sqlmodel import select

    from store.annotations import load_work, save_annotation
    from store.models import AuditEvent
    from store.ontology import import_ontology, list_classes
    from tests.unit.test_ontology import EXAMPLE

    engine, admin, ds = env
    with db.write_session(engine) as session:
        import_ontology(session=session, user=admin, dataset_id=ds.id, data=EXAMPLE)
        cls = list_classes(session=session, dataset_id=ds.id)[0]
        alice = make_user(session, "alice")
        item = session.exec(select(Item)).first()
        work = {"results": [{"class_id": cls.id, "message": 0, "values": {"score": "4"}}]}
        save_annotation(session=session, user=alice, item_id=item.id, work=work, version=0)
    at = page(admin)
    at.button(key=f"{K}edit.{cls.id}").click().run()
    uid = at.session_state[K + "attrs"][0]
    at.text_area(key=f"{K}a.{uid}.options").set_value("1\n2\n3\n5")
    at.button(key=K + "save").click().run()
    assert [w.value for w in at.warning] == [
        "1 results use option '4' of score; their values are kept as they are."
    ]
    assert ontology(engine, ds)["classes"][0]["attributes"][0]["options"] == ["1", "2", "3", "4", "5"]
    at.button(key=K + "save.yes").click().run()
    assert not at.error, [e.value for e in at.error]
    assert ontology(engine, ds)["classes"][0]["attributes"][0]["options"] == ["1", "2", "3", "5"]
    with db.read_session(engine) as session:
        assert load_work(session=session, user=alice, item_id=item.id).work["results"][0]["values"] == {
            "score": "4"
        }
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "ontology.option_deleted")).one()
        assert event.detail["option"] == "4" and event.detail["results"] == 1
