"""The Export page under AppTest: preview and counts per format, filters, the clear message for bad input."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from tests.conftest import ROOT
from tests.store.export_data import build
from tests.utils import make_dataset, make_user

PAGE = str(ROOT / "pages" / "export.py")


@pytest.fixture
def env(app_engine):  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        data = build(session)
        make_dataset(session, "empty")
        annotator = make_user(session, "ann")
    return data, annotator


def page(user) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["auth.user_id"] = user.id
    return at.run()


def code_text(at: AppTest) -> str:
    return "\n".join(c.value for c in at.code)


def test_preview_and_counts_for_sft_and_dpo(env):
    data, _ = env
    at = page(data["admin"])
    assert not at.exception
    at.selectbox(key="export.dataset").set_value("handmade").run()
    at.selectbox(key="export.format").set_value("sft").run()
    assert "A better answer." in code_text(at)
    assert [m.value for m in at.metric] == ["6", "6", "7"]
    at.radio(key="export.status").set_value("saved").run()
    assert "Bob's draft" in code_text(at)
    at.selectbox(key="export.format").set_value("dpo").run()
    assert '"source":"ranking"' in code_text(at) and at.radio(key="export.pairs").value == "all"
    at.multiselect(key="export.annotators").set_value(["bob"]).run()
    assert '"annotator":"alice"' not in code_text(at) and '"annotator":"bob"' in code_text(at)


def test_bad_selection_gets_a_clear_message(env):
    data, _ = env
    at = page(data["admin"])
    at.selectbox(key="export.dataset").set_value("empty").run()
    at.selectbox(key="export.format").set_value("sft").run()
    assert "no Dialog Response classes" in at.warning[0].value
    at.selectbox(key="export.dataset").set_value("handmade").run()
    at.selectbox(key="export.format").set_value("dpo").run()
    at.selectbox(key="export.validity").set_value("invalid").run()
    assert "No records" in at.warning[0].value


def test_annotators_may_not_export(env):
    _, annotator = env
    at = page(annotator)
    assert not at.code and not at.metric


def test_a_saved_filter_narrows_the_items(env, app_engine):
    from core.filters import ItemFilter
    from store.saved_filters import save_filter

    data, _ = env
    with db.write_session(app_engine) as session:
        save_filter(session=session, user=data["admin"], dataset_id=data["dataset"].id, name="bob's",
                    flt=ItemFilter(annotators=["bob"]))  # fmt: skip
    at = page(data["admin"])
    at.selectbox(key="export.dataset").set_value("handmade").run()
    at.radio(key="export.status").set_value("saved").run()
    assert [m.value for m in at.metric] == ["6", "6", "8"]
    at.selectbox(key=f"export.items.{data['dataset'].id}").set_value("bob's").run()
    assert not at.exception and [m.value for m in at.metric] == [
        "2",
        "2",
        "4",
    ]  # items r3 and sft, both by alice and bob
