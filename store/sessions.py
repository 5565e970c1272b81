"""Signed-in browsers (hashed session tokens), sign-in throttling, install settings and the setup code."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, delete, select

from store.errors import InputError
from store.models import LoginAttempt, Setting, User, UserSession, utcnow
from store.users import count_users, create_user, hash_password, verify_password

# The cookie that carries the session token (HttpOnly, SameSite=Lax, set by components.auth's route).
COOKIE = "parley_session"
# A session ends after IDLE without activity (sliding) and in any case ABSOLUTE after sign-in.
IDLE = timedelta(hours=12)
ABSOLUTE = timedelta(days=7)
# The one-time ticket the sign-in form hands the browser, exchanged for the cookie by a route.
TICKET_TTL = timedelta(seconds=60)
# Sliding expiry is written at most this often, so a rerun is normally a read.
TOUCH_EVERY = timedelta(minutes=1)

# Failed sign-ins per username: FREE_FAILURES in WINDOW cost nothing, each further one doubles the wait.
FREE_FAILURES = 3
WINDOW = timedelta(minutes=15)
MAX_DELAY = 300
WRONG = "Wrong username or password."

SETUP_CODE_KEY = "setup_code_sha256"
# Verifying against a real hash when the username is unknown keeps both answers equally slow.
_DUMMY_HASH = hash_password("not a password, only timing")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(dt: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# ---------------------------------------------------------------- sessions


def create_session(*, session: Session, user: User, ticket: bool = False) -> str:
    """A new session for `user`; returns the random token (only its sha256 is stored).

    With `ticket=True` it lives TICKET_TTL: the browser exchanges it once for a full session
    (`redeem_ticket`), which replaces the stored hash so the ticket cannot be used again.
    """
    now = utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen=now,
            expires_at=now + (TICKET_TTL if ticket else IDLE),
        )
    )
    session.flush()
    return token


def redeem_ticket(*, session: Session, ticket: str) -> str | None:
    """Exchange a live ticket for a new session token (the ticket stops working); None if it is not live."""
    row = session.exec(select(UserSession).where(UserSession.token_hash == token_hash(ticket))).first()
    now = utcnow()
    if row is None or aware(row.expires_at) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    purge_expired_sessions(session=session)  # sign-ins are rare enough to tidy up on
    token = secrets.token_urlsafe(32)
    row.token_hash = token_hash(token)
    row.created_at = row.last_seen = now
    row.expires_at = now + IDLE
    session.add(row)
    session.flush()
    return token


def verify_session(*, session: Session, token: str | None) -> tuple[User, UserSession] | None:
    """The active user and session row for `token`, or None when unknown, expired or deactivated."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    found = session.exec(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    user, row = found
    now = utcnow()
    if not user.active or aware(row.expires_at) <= now or aware(row.created_at) + ABSOLUTE <= now:
        return None
    return user, row


def needs_touch(row: UserSession) -> bool:
    return utcnow() - aware(row.last_seen) >= TOUCH_EVERY


def touch_session(*, session: Session, session_id: int) -> None:
    """Slide the idle expiry forward (never past the absolute limit)."""
    row = session.get(UserSession, session_id)
    if row is None:
        return
    now = utcnow()
    row.last_seen = now
    row.expires_at = min(now + IDLE, aware(row.created_at) + ABSOLUTE)
    session.add(row)
    session.flush()


def end_session(*, session: Session, token: str) -> None:
    session.exec(delete(UserSession).where(UserSession.token_hash == token_hash(token)))  # type: ignore[call-overload]


def end_user_sessions(*, session: Session, user_id: int) -> int:
    """Sign `user_id` out everywhere; returns how many sessions ended."""
    result = session.exec(delete(UserSession).where(UserSession.user_id == user_id))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def purge_expired_sessions(*, session: Session) -> None:
    now = utcnow()
    rows = session.exec(select(UserSession.id, UserSession.expires_at, UserSession.created_at)).all()
    stale = [
        sid for sid, expires, created in rows if aware(expires) <= now or aware(created) + ABSOLUTE <= now
    ]
    if stale:
        session.exec(delete(UserSession).where(UserSession.id.in_(stale)))  # type: ignore[call-overload,union-attr]


# ---------------------------------------------------------------- sign-in with throttling


def _throttle_key(username: str) -> str:
    return username.strip().lower()[:64]


def sign_in_wait(*, session: Session, username: str) -> int:
    """Seconds `username` must still wait before a password is checked again (0: go ahead)."""
    since = utcnow() - WINDOW
    times = [
        aware(at)
        for at in session.exec(
            select(LoginAttempt.at).where(LoginAttempt.username == _throttle_key(username))
        ).all()
    ]
    recent = sorted(t for t in times if t > since)
    if len(recent) < FREE_FAILURES:
        return 0
    delay = timedelta(seconds=min(2 ** (len(recent) - FREE_FAILURES), MAX_DELAY))
    left = (recent[-1] + delay - utcnow()).total_seconds()
    return max(0, int(left + 0.999))


def _forget_old_failures(session: Session, key: str) -> None:
    """Failures older than WINDOW no longer count; drop them so the table stays small."""
    since = utcnow() - WINDOW
    rows = session.exec(select(LoginAttempt).where(LoginAttempt.username == key)).all()
    for row in rows:
        if aware(row.at) <= since:
            session.delete(row)


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The active user with this password; InputError with one message otherwise (and a failure recorded).

    After FREE_FAILURES failures in WINDOW the password is not even checked until the growing wait is over.
    """
    key = _throttle_key(username)
    wait = sign_in_wait(session=session, username=username)
    if wait:
        raise InputError(f"Too many failed sign-ins for this username. Try again in {wait} seconds.")
    user = session.exec(select(User).where(User.username == username.strip())).first()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        _forget_old_failures(session, key)
        session.add(LoginAttempt(username=key, at=utcnow()))
        session.flush()
        raise InputError(WRONG)
    session.exec(delete(LoginAttempt).where(LoginAttempt.username == key))  # type: ignore[call-overload]
    return user


# ---------------------------------------------------------------- settings and the setup code


def get_setting(*, session: Session, key: str) -> str | None:
    row = session.get(Setting, key)
    return None if row is None else row.value


def _upsert_setting(session: Session, key: str, value: str, *, replace: bool) -> None:
    """INSERT … ON CONFLICT in one statement: replicas starting together on a new database each write
    their setting at once (a read-then-insert made the second one's start fail on the primary key)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    statement = insert(Setting.__table__).values(key=key, value=value)  # type: ignore[attr-defined]
    if replace:
        statement = statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
    session.execute(statement)
    cached = session.identity_map.get(session.identity_key(Setting, key))  # type: ignore[arg-type]
    if cached is not None:
        session.expire(cached)
    session.flush()


def set_setting(*, session: Session, key: str, value: str) -> None:
    _upsert_setting(session, key, value, replace=True)


def install_secret(*, session: Session, key: str) -> str:
    """A random secret generated the first time it is asked for and kept (shared by every replica)."""
    existing = get_setting(session=session, key=key)
    if existing:
        return existing
    _upsert_setting(session, key, secrets.token_hex(32), replace=False)
    return get_setting(session=session, key=key) or ""  # another replica's, when it was first


def new_setup_code(*, session: Session) -> str | None:
    """A fresh one-time code for creating the first admin (stored hashed); None once users exist."""
    if count_users(session=session):
        session.exec(delete(Setting).where(Setting.key == SETUP_CODE_KEY))  # type: ignore[call-overload]
        return None
    raw = secrets.token_hex(8).upper()  # 64 bits
    code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    set_setting(session=session, key=SETUP_CODE_KEY, value=token_hash(code))
    return code


def create_first_admin(*, session: Session, username: str, password: str, code: str) -> User:
    """The first admin account, if `code` is the setup code printed by the server; the code is then gone."""
    row = session.exec(select(Setting).where(Setting.key == SETUP_CODE_KEY).with_for_update()).first()
    if count_users(session=session):
        raise InputError("An admin account already exists: sign in instead.")
    given = token_hash(code.strip().upper())
    if row is None or not hmac.compare_digest(row.value, given):
        raise InputError(
            "setup code: wrong. Use the code the server printed in its terminal when it started."
        )
    user = create_user(session=session, username=username.strip(), password=password, role="admin")
    session.delete(row)
    session.flush()
    return user
