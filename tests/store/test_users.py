"""Users: created with a hashed password, names and roles checked, on SQLite and PostgreSQL."""

import pytest

from store.errors import InputError
from store.users import create_user, get_user_by_name, verify_password
from tests.utils import make_user


def test_password_is_hashed_and_verifies(session):
    make_user(session, "alice", password="correct horse")
    user = get_user_by_name(session=session, username="alice")
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert verify_password(user.password_hash, "correct horse")
    assert not verify_password(user.password_hash, "wrong horse")


def test_passwords_are_hashed_at_the_recommended_cost(production_hasher):
    """The app's argon2id cost is RFC 9106's second recommended setting (64 MiB, three passes, four lanes);
    the tests hash at the cheapest (tests/conftest.py)."""
    cost = production_hasher.hash("correct horse").split("$")[3]
    assert cost == "m=65536,t=3,p=4"
    assert verify_password(production_hasher.hash("correct horse"), "correct horse")


def test_duplicate_username_is_refused(session):
    make_user(session, "alice")
    with pytest.raises(InputError, match="already taken"):
        create_user(session=session, username="alice", password="password2")


@pytest.mark.parametrize(
    ("username", "role", "password", "field"),
    [
        ("", "admin", "password1", "username"),
        ("bob", "boss", "password1", "role"),
        ("bob", "admin", "short", "password"),
    ],
)
def test_bad_user_names_the_field(session, username, role, password, field):
    with pytest.raises(InputError, match=field):
        create_user(session=session, username=username, password=password, role=role)


def test_last_active_admin_cannot_be_demoted_or_deactivated(session):
    from store.users import set_active, set_role

    boss = make_user(session, "boss", role="admin")
    with pytest.raises(InputError, match="last active admin"):
        set_role(session=session, actor=boss, user_id=boss.id, role="annotator")
    with pytest.raises(InputError, match="last active admin"):
        set_active(session=session, actor=boss, user_id=boss.id, active=False)
    second = make_user(session, "second", role="admin")
    set_role(session=session, actor=boss, user_id=second.id, role="reviewer")
    session.commit()
    assert get_user_by_name(session=session, username="second").role == "reviewer"


def test_only_admins_manage_users_and_changes_are_audited(session):
    from sqlmodel import select

    from store.errors import Forbidden
    from store.models import AuditEvent
    from store.users import add_user, reset_password, set_role

    boss = make_user(session, "boss", role="admin")
    ann = make_user(session, "ann")
    with pytest.raises(Forbidden):
        set_role(session=session, actor=ann, user_id=ann.id, role="admin")
    with pytest.raises(Forbidden):
        add_user(session=session, actor=ann, username="eve", password="password1", role="admin")
    add_user(session=session, actor=boss, username="rita", password="password1", role="reviewer")
    set_role(session=session, actor=boss, user_id=ann.id, role="reviewer")
    reset_password(session=session, actor=boss, user_id=ann.id, password="new password")
    session.commit()
    assert verify_password(get_user_by_name(session=session, username="ann").password_hash, "new password")
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions == ["user.add", "user.role", "user.password"]


def test_restricted_dataset_is_seen_by_members_only(session):
    from store.datasets import dataset_members, list_datasets, set_dataset_members
    from store.errors import Forbidden
    from tests.utils import make_dataset

    boss = make_user(session, "boss", role="admin")
    ann = make_user(session, "ann")
    bob = make_user(session, "bob")
    secret = make_dataset(session, "secret")
    make_dataset(session, "open")
    with pytest.raises(Forbidden):
        set_dataset_members(
            session=session, user=ann, dataset_id=secret.id, usernames=["ann"], restricted=True
        )
    with pytest.raises(InputError, match="no user named 'zed'"):
        set_dataset_members(
            session=session, user=boss, dataset_id=secret.id, usernames=["zed"], restricted=True
        )
    session.rollback()
    set_dataset_members(session=session, user=boss, dataset_id=secret.id, usernames=["ann"], restricted=True)
    session.commit()
    assert dataset_members(session=session, dataset_id=secret.id) == ["ann"]
    assert [d.name for d in list_datasets(session=session, user=ann)] == ["open", "secret"]
    assert [d.name for d in list_datasets(session=session, user=bob)] == ["open"]
    set_dataset_members(session=session, user=boss, dataset_id=secret.id, usernames=[], restricted=False)
    session.commit()
    assert [d.name for d in list_datasets(session=session, user=bob)] == ["open", "secret"]
