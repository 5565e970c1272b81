"""Team page (AppTest): admins add users, change roles, deactivate, and restrict datasets; others are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from components.auth import USER_KEY
from store import db
from store.models import AuditEvent, User
from store.users import create_user
from tests.utils import make_dataset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def team_db(app_engine):  # type: ignore[no-untyped-def]
    engine = app_engine
    with db.write_session(engine) as session:
        admin = create_user(session=session, username="boss", password="password1", role="admin")
        ann = create_user(session=session, username="ann", password="password1", role="annotator")
    return engine, admin.id, ann.id


def _open(user_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "team.py"), default_timeout=30)
    at.session_state[USER_KEY] = user_id
    return at.run()


def _users(engine) -> dict[str, User]:  # type: ignore[no-untyped-def]
    with db.read_session(engine) as session:
        return {u.username: u for u in session.exec(select(User)).all()}


def test_annotator_is_refused(team_db):
    engine, _, ann_id = team_db
    at = _open(ann_id)
    assert "Your role does not allow this page." in [e.value for e in at.error]
    assert not at.dataframe


def test_admin_adds_a_user(team_db):
    engine, admin_id, _ = team_db
    at = _open(admin_id)
    at.text_input(key="team.add.username").input("rita")
    at.text_input(key="team.add.display").input("Rita R.")
    at.selectbox(key="team.add.role").select("reviewer")
    at.text_input(key="team.add.password").input("password9")
    at.button[0].click().run()  # the form's "Add user"
    assert "Added rita." in [s.value for s in at.success]
    assert _users(engine)["rita"].role == "reviewer"


def test_role_change_is_audited_and_last_admin_kept(team_db):
    engine, admin_id, ann_id = team_db
    at = _open(admin_id)
    at.selectbox(key="team.change.user").select("ann").run()
    at.selectbox(key=f"team.role.{ann_id}").select("reviewer")
    next(b for b in at.button if b.label == "Change role").click().run()
    assert _users(engine)["ann"].role == "reviewer"
    with db.read_session(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "user.role")).one()
    assert event.detail == {"user": "ann", "old": "annotator", "new": "reviewer"}

    at.selectbox(key="team.change.user").select("boss").run()
    at.selectbox(key=f"team.role.{admin_id}").select("annotator")
    next(b for b in at.button if b.label == "Change role").click().run()
    assert any("last active admin" in e.value for e in at.error)
    next(b for b in at.button if b.label == "Deactivate").click().run()
    assert any("last active admin" in e.value for e in at.error)
    assert _users(engine)["boss"].role == "admin" and _users(engine)["boss"].active


def test_deactivate_and_restrict_dataset(team_db):
    engine, admin_id, ann_id = team_db
    with db.write_session(engine) as session:
        dataset = make_dataset(session, "secret")
    at = _open(admin_id)
    at.selectbox(key="team.change.user").select("ann").run()
    next(b for b in at.button if b.label == "Deactivate").click().run()
    assert not _users(engine)["ann"].active

    at.toggle(key=f"team.r.{dataset.id}").set_value(True)
    at.multiselect(key=f"team.m.{dataset.id}").select("boss")
    next(b for b in at.button if b.label == "Save access").click().run()
    assert "Access to secret saved." in [s.value for s in at.success]
    from store.datasets import dataset_members, get_dataset

    with db.read_session(engine) as session:
        assert get_dataset(session=session, name="secret").restricted
        assert dataset_members(session=session, dataset_id=dataset.id) == ["boss"]
