"""Models page (AppTest): an admin adds an endpoint by the name of its key's variable and removes it; the page
says whether the variable is set, never its value; annotators are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.auth import USER_KEY
from store import db
from store.llm.endpoints import list_models
from store.models import User

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def users(app_engine):  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        boss, ann = User(username="boss", role="admin"), User(username="ann")
        session.add_all([boss, ann])
        session.flush()
        return app_engine, boss.id, ann.id


def _open(user_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "models.py"), default_timeout=30)
    at.session_state[USER_KEY] = user_id
    return at.run()


def test_annotator_is_refused(users):  # type: ignore[no-untyped-def]
    at = _open(users[2])
    assert "Your role does not allow this page." in [e.value for e in at.error]


def test_admin_adds_and_removes_a_model(users, monkeypatch):  # type: ignore[no-untyped-def]
    engine, boss, _ = users
    secret = "sk-app-test-0123456789abcdef"
    monkeypatch.setenv("PAGE_TEST_KEY", secret)
    at = _open(boss)
    at.text_input[0].input("local-llama")
    at.text_input[1].input("http://127.0.0.1:8000/v1")
    at.text_input[2].input("llama-3")
    at.text_input[3].input("PAGE_TEST_KEY")
    next(b for b in at.button if b.label == "Add model").click().run()
    assert "Added local-llama." in [s.value for s in at.success]
    with db.read_session(engine) as session:
        [row] = list_models(session=session)
    assert (row.name, row.api_key_env, row.concurrency) == ("local-llama", "PAGE_TEST_KEY", 4)
    table = at.dataframe[0].value
    assert table["Key variable"].tolist() == ["PAGE_TEST_KEY"] and table["Key set"].tolist() == ["yes"]
    assert secret not in str(at.get("dataframe")) + str([m.value for m in at.markdown])

    at.text_input[0].input("bad")
    at.text_input[1].input("ftp://nowhere")
    at.text_input[2].input("m")
    next(b for b in at.button if b.label == "Add model").click().run()
    assert any("http(s) URL" in e.value for e in at.error)

    at.selectbox[0].select("local-llama")
    next(b for b in at.button if b.label == "Remove").click().run()
    assert "Removed local-llama." in [s.value for s in at.success]
    with db.read_session(engine) as session:
        assert list_models(session=session) == []
