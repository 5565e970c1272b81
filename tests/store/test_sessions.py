"""Sessions (hashed tokens, idle and absolute expiry, sign-out everywhere), throttled sign-in, the setup code."""

from datetime import timedelta

import pytest
from sqlmodel import select

from store import sessions as S
from store.errors import InputError
from store.models import Setting, UserSession, utcnow
from store.users import set_active
from tests.utils import make_user


def _row(session, token):  # type: ignore[no-untyped-def]
    return session.exec(select(UserSession).where(UserSession.token_hash == S.token_hash(token))).one()


def test_session_token_is_random_and_stored_only_hashed(session):
    user = make_user(session, "alice")
    token = S.create_session(session=session, user=user)
    other = S.create_session(session=session, user=user)
    session.commit()
    assert token != other and len(token) >= 40
    stored = [r.token_hash for r in session.exec(select(UserSession)).all()]
    assert token not in stored and S.token_hash(token) in stored
    found = S.verify_session(session=session, token=token)
    assert found is not None and found[0].username == "alice"
    assert S.verify_session(session=session, token=token + "x") is None
    assert S.verify_session(session=session, token=None) is None


def test_idle_and_absolute_expiry(session):
    user = make_user(session, "alice")
    token = S.create_session(session=session, user=user)
    row = _row(session, token)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert S.verify_session(session=session, token=token) is None

    token = S.create_session(session=session, user=user)
    row = _row(session, token)
    row.created_at = utcnow() - S.ABSOLUTE - timedelta(minutes=1)
    session.commit()
    assert S.verify_session(session=session, token=token) is None


def test_touch_slides_idle_expiry_but_not_past_absolute(session):
    user = make_user(session, "alice")
    token = S.create_session(session=session, user=user)
    row = _row(session, token)
    row.created_at = utcnow() - S.ABSOLUTE + timedelta(hours=1)
    row.last_seen = utcnow() - timedelta(hours=2)
    session.commit()
    assert S.needs_touch(row)
    S.touch_session(session=session, session_id=row.id)
    session.commit()
    row = _row(session, token)
    left = S.aware(row.expires_at) - utcnow()
    assert timedelta(minutes=55) < left <= timedelta(hours=1)


def test_sign_out_everywhere_and_deactivation_end_sessions(session):
    admin = make_user(session, "boss", role="admin")
    user = make_user(session, "alice")
    tokens = [S.create_session(session=session, user=user) for _ in range(3)]
    session.commit()
    assert S.end_user_sessions(session=session, user_id=user.id) == 3
    session.commit()
    assert all(S.verify_session(session=session, token=t) is None for t in tokens)

    token = S.create_session(session=session, user=user)
    session.commit()
    set_active(session=session, actor=admin, user_id=user.id, active=False)
    session.commit()
    assert S.verify_session(session=session, token=token) is None


def test_ticket_is_short_lived_and_works_once(session):
    user = make_user(session, "alice")
    ticket = S.create_session(session=session, user=user, ticket=True)
    session.commit()
    assert S.aware(_row(session, ticket).expires_at) - utcnow() <= S.TICKET_TTL
    token = S.redeem_ticket(session=session, ticket=ticket)
    session.commit()
    assert token and token != ticket
    assert S.verify_session(session=session, token=token)[0].username == "alice"
    assert S.redeem_ticket(session=session, ticket=ticket) is None
    assert S.verify_session(session=session, token=ticket) is None


def test_wrong_password_one_message_and_growing_wait(session, monkeypatch):
    clock = [utcnow()]
    monkeypatch.setattr(S, "utcnow", lambda: clock[0])  # a frozen clock: the test does not race the delay

    def tick(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    def fail(username: str = "alice") -> None:
        with pytest.raises(InputError, match="^Wrong username or password.$"):
            S.authenticate(session=session, username=username, password="nope")
        session.commit()

    make_user(session, "alice", password="password1")
    for _ in range(S.FREE_FAILURES):
        fail()
        tick(0.1)
    fail("nobody")  # an unknown name gets the same message
    # The third failure starts the wait: even the right password is not checked until it is over.
    with pytest.raises(InputError, match="Too many failed sign-ins"):
        S.authenticate(session=session, username="alice", password="password1")
    first_wait = S.sign_in_wait(session=session, username="alice")
    assert first_wait >= 1
    tick(first_wait)
    fail()
    second_wait = S.sign_in_wait(session=session, username="alice")
    assert second_wait > first_wait
    tick(second_wait)
    assert S.sign_in_wait(session=session, username="alice") == 0
    assert S.authenticate(session=session, username="alice", password="password1").username == "alice"
    session.commit()
    assert session.exec(select(S.LoginAttempt).where(S.LoginAttempt.username == "alice")).first() is None


def test_inactive_user_cannot_sign_in(session):
    admin = make_user(session, "boss", role="admin")
    user = make_user(session, "alice", password="password1")
    set_active(session=session, actor=admin, user_id=user.id, active=False)
    session.commit()
    with pytest.raises(InputError, match="^Wrong username or password.$"):
        S.authenticate(session=session, username="alice", password="password1")


def test_setup_code_creates_the_first_admin_once(session):
    code = S.new_setup_code(session=session)
    session.commit()
    assert code and code not in session.get(Setting, S.SETUP_CODE_KEY).value
    with pytest.raises(InputError, match="setup code"):
        S.create_first_admin(session=session, username="boss", password="password1", code="WRONG")
    session.rollback()
    user = S.create_first_admin(session=session, username="boss", password="password1", code=code.lower())
    session.commit()
    assert user.role == "admin"
    assert session.get(Setting, S.SETUP_CODE_KEY) is None
    with pytest.raises(InputError, match="already exists"):
        S.create_first_admin(session=session, username="eve", password="password1", code=code)
    session.rollback()
    assert S.new_setup_code(session=session) is None


def test_expired_sessions_and_old_failures_are_tidied_away(session, monkeypatch):
    user = make_user(session, "alice")
    old = S.create_session(session=session, user=user)
    _row(session, old).expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    ticket = S.create_session(session=session, user=user, ticket=True)
    assert S.redeem_ticket(session=session, ticket=ticket)
    session.commit()
    assert len(session.exec(select(UserSession)).all()) == 1

    clock = [utcnow()]
    monkeypatch.setattr(S, "utcnow", lambda: clock[0])
    for _ in range(2):
        with pytest.raises(InputError):
            S.authenticate(session=session, username="alice", password="nope")
        session.commit()
    clock[0] += S.WINDOW + timedelta(seconds=1)
    with pytest.raises(InputError):
        S.authenticate(session=session, username="alice", password="nope")
    session.commit()
    assert len(session.exec(select(S.LoginAttempt)).all()) == 1
