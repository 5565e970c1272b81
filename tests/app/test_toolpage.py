"""The tool-page shell under AppTest: queue and position, validity, Save/Submit with checks, deep link, conflict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
from streamlit.testing.v1 import AppTest

from components.toolpage import work
from store.annotations import load_work, save_draft
from store.models import Annotation
from tests.app import open_tool_page
from tests.toolpage_data import seed

APP = str(Path(__file__).resolve().parent.parent / "shellapp" / "toolpage_app.py")


@pytest.fixture
def env(app_engine, tmp_path):  # type: ignore[no-untyped-def]
    return app_engine, seed(app_engine, blobs=str(tmp_path / "blobs"))


def run(data, user="ann", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["auth.user_id"] = data[user].id
    for k, v in params.items():
        at.query_params[k] = v
    return open_tool_page(at)


def wkey(at: AppTest, name: str) -> str:
    item = at.session_state["tool.evaluate.item_id"]
    return f"tool.evaluate.w.{item}.{at.session_state['tool.evaluate.gen']}.{name}"


def markdown_texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_opens_first_item_with_position(env):
    engine, data = env
    at = run(data)
    assert not at.exception, at.exception
    assert "**1 / 5**" in markdown_texts(at)
    assert at.session_state["tool.evaluate.stored"].status == "new"
    at.button(key="tool.evaluate.next").click().run()
    assert "**2 / 5**" in markdown_texts(at)


def test_first_run_paints_the_dialogue_alone_then_the_page(env):
    engine, data = env
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["auth.user_id"] = data["ann"].id
    at.run()
    assert not at.exception, at.exception
    # The first paint: the toolbar's stand-in (the dataset's name, the status line) and the canvas only.
    assert [c.value for c in at.caption][:2] == ["demo", "not started"]
    assert at.session_state["tool.evaluate.painted"] is True
    assert not at.button and not at.radio and not at.selectbox and not at.text_area
    (canvas,) = at.get("bidi_component")
    assert canvas.proto.component_name == "parley_dialogue_canvas"
    assert json.loads(canvas.proto.json)["first_paint"] is True
    assert [m["id"] for m in json.loads(canvas.proto.json)["messages"]][:2] == ["m0", "m1"]
    at.run()  # the rerun the painted canvas asks for
    assert "**1 / 5**" in markdown_texts(at)
    assert at.button(key="tool.evaluate.save") and at.radio(key=wkey(at, "validity"))
    assert json.loads(at.get("bidi_component")[0].proto.json)["first_paint"] is False


def test_deep_link_opens_one_item(env):
    engine, data = env
    at = run(data, dataset="demo", item="4")
    assert "**4 / 5**" in markdown_texts(at)
    assert at.query_params["item"] == ["4"] or at.query_params["item"] == "4"


def test_change_is_kept_as_draft_and_save(env):
    engine, data = env
    at = run(data)
    at.radio(key=wkey(at, "validity")).set_value("invalid").run()
    with Session(engine) as s:
        loaded = load_work(session=s, user=data["ann"], item_id=1)
    assert loaded.has_unsaved_draft and loaded.work["validity"] == "invalid"
    assert any(c.value.startswith("draft · kept ") for c in at.caption)
    at.button(key="tool.evaluate.save").click().run()
    with Session(engine) as s:
        loaded = load_work(session=s, user=data["ann"], item_id=1)
    assert loaded.status == "saved" and loaded.work["validity"] == "invalid"
    assert [t.value for t in at.toast] == ["Saved."]
    assert any(c.value == "saved" for c in at.caption)
    # A change after saving: still saved, the newer work kept as a draft.
    at.radio(key=wkey(at, "validity")).set_value("valid").run()
    assert any(c.value.startswith("saved · newer changes kept as a draft ") for c in at.caption)


def test_submit_refuses_with_problems_then_submits_and_opens_next(env):
    engine, data = env
    at = run(data)
    at.button(key="tool.evaluate.submit").click().run()
    assert any("Pick a score" in e.value for e in at.error)
    assert at.session_state["tool.evaluate.sel"]["id"] == "c0"
    at.radio(key=wkey(at, "score.None")).set_value("4").run()
    at.button(key="tool.evaluate.submit").click().run()
    assert not at.error
    with Session(engine) as s:
        ann = s.query(Annotation).filter_by(item_id=1, annotator_id=data["ann"].id).one()
        assert ann.status == "submitted" and ann.classifications["score"] == "4"
    assert "**2 / 5**" in markdown_texts(at)


def test_invalid_item_can_be_submitted_without_checks(env):
    engine, data = env
    at = run(data)
    at.radio(key=wkey(at, "validity")).set_value("invalid").run()
    at.text_input(key=wkey(at, "reason")).set_value("garbled").run()
    at.button(key="tool.evaluate.submit").click().run()
    assert not at.error
    with Session(engine) as s:
        ann = s.query(Annotation).filter_by(item_id=1, annotator_id=data["ann"].id).one()
        assert ann.status == "submitted" and ann.validity == "invalid" and ann.invalid_reason == "garbled"


def test_view_mode_disables_and_ignores_digit_keys(env):
    engine, data = env
    at = run(data)
    at.session_state["tool.evaluate.mode"] = "View"
    at.run()
    assert at.radio(key=wkey(at, "validity")).disabled
    assert at.button(key="tool.evaluate.save").disabled
    at.session_state["tool.evaluate.key"] = "3"
    at.run()
    assert at.session_state["tool.evaluate.work"]["classifications"].get("score") is None


def test_digit_key_reaches_the_page(env):
    engine, data = env
    at = run(data)
    at.session_state["tool.evaluate.key"] = "3"
    at.run()
    assert at.session_state["tool.evaluate.work"]["classifications"]["score"] == "3"


def test_two_tabs_get_a_conflict_message(env):
    engine, data = env
    at = run(data)
    at.radio(key=wkey(at, "validity")).set_value("invalid").run()
    # The same person saves from another tab.
    with Session(engine) as s:
        version = load_work(session=s, user=data["ann"], item_id=1).version
        save_draft(session=s, user=data["ann"], item_id=1, work={"validity": "valid"}, version=version)
    at.button(key="tool.evaluate.save").click().run()
    assert any("another tab" in e.value for e in at.error)
    at.button(key="tool.evaluate.reload").click().run()
    assert not any("another tab" in e.value for e in at.error)


@pytest.mark.parametrize("write", ["save_draft", "save_annotation"])
def test_a_newer_rerun_during_a_write_is_no_conflict_with_myself(env, write):
    """The user presses on while a draft (or a Save) is being written: Streamlit stops the run at its next
    session-state access, right after the commit. The tab must still know the version it wrote, or its next
    save is refused as "changed in another tab" (seen in the browser under load)."""
    engine, data = env
    at = run(data)
    real = getattr(work, write)
    interrupted = []

    def write_then_user_presses_on(**kw):  # type: ignore[no-untyped-def]
        version = real(**kw)  # committed
        ctx = get_script_run_ctx()
        ctx.script_requests.request_rerun(
            RerunData(query_string=ctx.query_string, page_script_hash=ctx.page_script_hash)
        )
        interrupted.append(version)
        return version

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(work, write, write_then_user_presses_on)
        if write == "save_draft":
            at.radio(key=wkey(at, "validity")).set_value("invalid").run()
        else:
            at.radio(key=wkey(at, "score.None")).set_value("2").run()
            at.button(key="tool.evaluate.save").click().run()
    assert interrupted, "the write did not happen"
    with Session(engine) as s:
        assert load_work(session=s, user=data["ann"], item_id=1).version == interrupted[-1]
    assert at.session_state["tool.evaluate.stored"].version == interrupted[-1]

    at.radio(key=wkey(at, "validity")).set_value("valid").run()  # another draft
    at.button(key="tool.evaluate.save").click().run()
    assert not any("another tab" in e.value for e in at.error), [e.value for e in at.error]
    with Session(engine) as s:
        loaded = load_work(session=s, user=data["ann"], item_id=1)
    assert loaded.status == "saved" and loaded.work["validity"] == "valid"


def test_status_filter_counts(app_engine, tmp_path):
    # The per-annotator filters are for reviewers and admins (annotators work through My queue).
    data = seed(app_engine, blobs=str(tmp_path / "blobs"), role="admin")
    at = run(data)
    at.radio(key=wkey(at, "score.None")).set_value("2").run()
    at.button(key="tool.evaluate.submit").click().run()
    at.selectbox(key="tool.evaluate.filter_pick").set_value("submitted").run()
    assert "**– / 1**" in markdown_texts(at)
    at.selectbox(key="tool.evaluate.filter_pick").set_value("todo").run()
    assert "**1 / 4**" in markdown_texts(at)
    # Submit-and-next under "todo": the submitted item leaves it, the next one is first of three (its place
    # carried from this one's by store.queue.rank_after)
    at.radio(key=wkey(at, "score.None")).set_value("3").run()
    at.button(key="tool.evaluate.submit").click().run()
    assert "**1 / 3**" in markdown_texts(at)
