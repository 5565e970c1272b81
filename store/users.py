"""Users and passwords (argon2id). Sessions, sign-in throttling and roles build on these."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, delete, select

from store.errors import Forbidden, InputError, NotFound
from store.models import AuditEvent, User, UserSession

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


# ---------------------------------------------------------------- the Team page (admins)


def list_users(*, session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.username)).all())


def _other_active_admins(*, session: Session, user_id: int) -> int:
    rows = session.exec(
        select(User.id).where(User.role == "admin", User.active == True, User.id != user_id)  # noqa: E712
    ).all()
    return len(rows)


def _target(*, session: Session, actor: User, user_id: int) -> User:
    if actor.role != "admin":
        raise Forbidden("only admins manage users")
    target = session.get(User, user_id)
    if target is None:
        raise NotFound(f"user {user_id}: not found")
    return target


def _audit(*, session: Session, actor: User, action: str, target: User, **detail: object) -> None:
    session.add(
        AuditEvent(user_id=actor.id, action=action, detail={"user": target.username, **detail})  # type: ignore[arg-type]
    )


def add_user(
    *, session: Session, actor: User, username: str, password: str, role: str, display_name: str = ""
) -> User:
    """An admin adds a user (recorded in AuditEvent)."""
    if actor.role != "admin":
        raise Forbidden("only admins manage users")
    user = create_user(
        session=session, username=username.strip(), password=password, role=role, display_name=display_name
    )
    _audit(session=session, actor=actor, action="user.add", target=user, role=role)
    session.flush()
    return user


def set_role(*, session: Session, actor: User, user_id: int, role: str) -> User:
    """Change a user's role; the last active admin cannot stop being one."""
    target = _target(session=session, actor=actor, user_id=user_id)
    if role not in ROLES:
        raise InputError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if target.role == role:
        return target
    if (
        target.role == "admin"
        and target.active
        and not _other_active_admins(session=session, user_id=target.id)
    ):  # type: ignore[arg-type]
        raise InputError(f"{target.username} is the last active admin: make another admin first")
    _audit(session=session, actor=actor, action="user.role", target=target, old=target.role, new=role)
    target.role = role
    session.add(target)
    session.flush()
    return target


def set_active(*, session: Session, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (signs them out everywhere) or reactivate a user; never the last active admin."""
    target = _target(session=session, actor=actor, user_id=user_id)
    if target.active == active:
        return target
    if not active and target.role == "admin" and not _other_active_admins(session=session, user_id=target.id):  # type: ignore[arg-type]
        raise InputError(f"{target.username} is the last active admin: make another admin first")
    _audit(
        session=session, actor=actor, action="user.activate" if active else "user.deactivate", target=target
    )
    target.active = active
    session.add(target)
    if not active:
        session.exec(delete(UserSession).where(UserSession.user_id == target.id))  # type: ignore[call-overload]
    session.flush()
    return target


def reset_password(*, session: Session, actor: User, user_id: int, password: str) -> User:
    """Set a new password; the user's existing sessions end."""
    target = _target(session=session, actor=actor, user_id=user_id)
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    target.password_hash = hash_password(password)
    session.add(target)
    session.exec(delete(UserSession).where(UserSession.user_id == target.id))  # type: ignore[call-overload]
    _audit(session=session, actor=actor, action="user.password", target=target)
    session.flush()
    return target
