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
