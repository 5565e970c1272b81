"""Respond page under AppTest: class buttons and number key, drafts from the box, limits named on Save and
Submit, one result per class, delete with confirmation, start from the model's reply, View is read-only.

The reply box is a custom component (an UnknownElement here): its state is injected as the browser would
send it, through `at.session_state["respond.box"]`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from store.annotations import load_work
from store.models import Item, OntologyClass
from tests.app import open_tool_page
from tests.utils import make_dataset, make_user

PAGE = str(Path(__file__).resolve().parent.parent.parent / "pages" / "respond.py")


@pytest.fixture
def env(app_engine):  # type: ignore[no-untyped-def]
    engine = app_engine
    with Session(engine, expire_on_commit=False) as s:
        user = make_user(s, "ann")
        ds = make_dataset(s, "demo")
        s.execute(
            insert(Item),
            [
                {
                    "dataset_id": ds.id,
                    "external_id": str(i),
                    "position": i,
                    "messages": [
                        {"role": "user", "text": f"Question {i}?"},
                        {"role": "bot", "text": f"The model's answer {i}."},
                    ],
                    "candidates": [],
                    "meta": {},
                }
                for i in (1, 2)
            ],
        )
        ideal = OntologyClass(
            dataset_id=ds.id, name="ideal_reply", alias="Ideal reply", number=1, color="#1565c0",
            tool="dialog_response", role="bot", min_chars=10, max_chars=40, instruction="Write the ideal reply.",
        )  # fmt: skip
        follow = OntologyClass(
            dataset_id=ds.id,
            name="follow_up",
            alias="Follow-up",
            number=2,
            tool="dialog_response",
            role="user",
        )
        s.add_all([ideal, follow])
        s.commit()
        data = {"user": user, "ideal": ideal, "follow": follow, "item": 1}
    return engine, data


def start(data) -> AppTest:  # type: ignore[no-untyped-def]
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["auth.user_id"] = data["user"].id
    at.query_params["dataset"] = "demo"
    at.query_params["item"] = "1"
    return open_tool_page(at)


def type_text(at: AppTest, class_id: int, text: str) -> AppTest:
    """What the box sends after typing: its draft state, tagged with the seed it was given."""
    seed = f"1:{class_id}:{at.session_state['respond.rev']}"
    at.session_state["respond.box"] = {"draft": {"seed": seed, "text": text}}
    return at.run()


def work(engine, data) -> dict:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return load_work(session=s, user=data["user"], item_id=data["item"]).work


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [m.value for m in at.caption]


def test_class_buttons_open_the_box_with_instruction_and_role(env):
    engine, data = env
    at = start(data)
    assert not at.exception, at.exception
    labels = [b.label for b in at.button]
    assert "1 · Ideal reply" in labels and "2 · Follow-up" in labels
    at.button(key=f"respond.open.{data['follow'].id}").click().run()
    assert any("answers as **User**" in t for t in texts(at))
    # The number key (from the canvas, when no text box has focus) opens a class too.
    at.session_state["tool.respond.key"] = "1"
    at.run()
    assert at.session_state["respond.class"] == data["ideal"].id
    assert any("answers as **Bot**" in t and "min 10, max 40" in t for t in texts(at))
    assert [i.value for i in at.info] == ["Write the ideal reply."]


def test_typing_keeps_a_draft_and_one_result_per_class(env):
    engine, data = env
    at = start(data)
    ideal, follow = data["ideal"].id, data["follow"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    type_text(at, ideal, "A first reply that is fine.")
    assert [r["text"] for r in work(engine, data)["results"]] == ["A first reply that is fine."]
    at.button(key=f"respond.open.{follow}").click().run()
    type_text(at, follow, "And then?")
    at.button(key=f"respond.open.{ideal}").click().run()
    type_text(at, ideal, "A first reply, edited.")
    results = work(engine, data)["results"]
    assert sorted((r["class_id"], r["text"], r["role"]) for r in results) == sorted(
        [(ideal, "A first reply, edited.", "bot"), (follow, "And then?", "user")]
    )
    assert "1 · Ideal reply ✓" in [b.label for b in at.button]


def test_save_and_submit_name_the_class_outside_its_limits(env):
    engine, data = env
    at = start(data)
    ideal = data["ideal"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    type_text(at, ideal, "Too short")
    at.button(key="tool.respond.submit").click().run()
    assert any("Ideal reply: 9 characters, at least 10 needed" in w.value for w in at.warning)
    with Session(engine) as s:
        assert load_work(session=s, user=data["user"], item_id=1).status == "draft"  # refused
    at.run()
    assert any(
        "Ideal reply: 9 characters, at least 10 needed" in e.value for e in at.error
    )  # the shell's list
    at.button(key="tool.respond.save").click().run()
    assert any("Ideal reply: 9 characters, at least 10 needed" in w.value for w in at.warning)
    with Session(engine) as s:
        assert load_work(session=s, user=data["user"], item_id=1).status == "saved"  # Save keeps it anyway
    type_text(at, ideal, "Long enough now.")
    at.button(key="tool.respond.submit").click().run()
    with Session(engine) as s:
        loaded = load_work(session=s, user=data["user"], item_id=1)
    assert loaded.status == "submitted"
    assert [r["text"] for r in loaded.work["results"]] == ["Long enough now."]


def test_ctrl_enter_in_the_box_submits_the_exact_text(env):
    engine, data = env
    at = start(data)
    ideal = data["ideal"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    type_text(at, ideal, "Typed so far")
    seed = f"1:{ideal}:{at.session_state['respond.rev']}"
    at.session_state["respond.box"] = {
        "draft": {"seed": seed, "text": "Typed so far"},
        "action": {"action": "submit", "seed": seed, "text": "Typed so far, and more.", "nonce": 1},
    }
    at.run()
    with Session(engine) as s:
        loaded = load_work(session=s, user=data["user"], item_id=1)
    assert loaded.status == "submitted"
    assert [r["text"] for r in loaded.work["results"]] == ["Typed so far, and more."]


def test_delete_needs_a_second_confirmation(env):
    engine, data = env
    at = start(data)
    ideal = data["ideal"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    type_text(at, ideal, "A reply to delete.")
    at.button(key="respond.delete").click().run()
    assert any("Delete the reply for Ideal reply?" in w.value for w in at.warning)
    at.button(key="respond.delete.no").click().run()
    assert len(work(engine, data)["results"]) == 1
    at.button(key="respond.delete").click().run()
    at.button(key="respond.delete.yes").click().run()
    assert work(engine, data)["results"] == []
    # The box's old draft (an older seed) does not bring the deleted reply back.
    at.session_state["respond.box"] = {"draft": {"seed": f"1:{ideal}:0", "text": "A reply to delete."}}
    at.run()
    assert work(engine, data)["results"] == []


def test_start_from_the_models_reply_keeps_the_original(env):
    engine, data = env
    at = start(data)
    ideal = data["ideal"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    at.button(key="respond.start").click().run()
    type_text(at, ideal, "The model's better answer 1.")
    (result,) = work(engine, data)["results"]
    assert result["text"] == "The model's better answer 1."
    assert result["source_text"] == "The model's answer 1."
    at.toggle(key="respond.diff").set_value(True).run()
    assert not at.exception, at.exception


def test_view_mode_is_read_only(env):
    engine, data = env
    at = start(data)
    ideal = data["ideal"].id
    at.button(key=f"respond.open.{ideal}").click().run()
    at.session_state["tool.respond.mode"] = "View"
    at.run()
    type_text(at, ideal, "Typed in View mode")
    assert work(engine, data)["results"] == []
    assert not [b for b in at.button if b.key in ("respond.delete", "respond.start")]
