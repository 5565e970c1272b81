"""Users and passwords (argon2id). Sessions, sign-in throttling and roles build on these."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from store.errors import InputError
from store.models import User

ROLES = ("admin", "annotator", "reviewer")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_user(*, username: str, role: str, password: str) -> None:
    """Raise InputError naming the field that is wrong."""
    if not USERNAME.match(username):
        raise InputError(
            f"username {username!r}: use 1-64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    if role not in ROLES:
        raise InputError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")


def create_user(
    *, session: Session, username: str, password: str, role: str = "annotator", display_name: str = ""
) -> User:
    check_new_user(username=username, role=role, password=password)
    if session.exec(select(User).where(User.username == username)).first():
        raise InputError(f"username {username!r}: already taken")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def get_user_by_name(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def count_users(*, session: Session) -> int:
    return len(session.exec(select(User.id)).all())
