"""Sign-in, the first-admin form, the session cookie and the role checks every page makes on the server side.

How a browser stays signed in: the sign-in form (a Streamlit form) checks the password, stores a one-time
ticket (hashed) and hands it to a tiny script in the page, which POSTs it to `/auth/session`; that route
swaps it for a random session token and sets it as an HttpOnly, SameSite=Lax cookie, then the page
reloads where the user was going. Each rerun reads the cookie (`st.context.cookies`) and checks the
token's sha256 against UserSession, so signing out (which deletes the user's sessions) ends every tab.

Tests with AppTest have no browser cookie: they put a user id in `st.session_state["auth.user_id"]`
(USER_KEY). That key is honoured only where no HTTP request is behind the session (AppTest); the app
itself never sets it.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from store import db
from store.errors import InputError
from store.models import User
from store.sessions import (
    ABSOLUTE,
    COOKIE,
    authenticate,
    create_first_admin,
    create_session,
    end_session,
    end_user_sessions,
    install_secret,
    needs_touch,
    new_setup_code,
    redeem_ticket,
    touch_session,
    verify_session,
)
from store.users import count_users

USER_KEY = "auth.user_id"
_GO_KEY = "auth.go"  # {"ticket"?: str, "signout"?: bool, "next": str} for the browser script, one run


def current_user() -> User | None:
    """The signed-in user, re-checked against the database on every rerun (sign-out and deactivation bite at once)."""
    token = st.context.cookies.get(COOKIE)
    if isinstance(token, str) and token:  # AppTest's context has no real cookies
        with db.read_session() as session:
            found = verify_session(session=session, token=token)
        if found is None:
            return None
        user, row = found
        if needs_touch(row):
            with db.write_session() as session:
                touch_session(session=session, session_id=row.id)  # type: ignore[arg-type]
        return user
    user_id = st.session_state.get(USER_KEY)
    if user_id is None or _served():
        return None  # a browser is signed in by its cookie only
    with db.read_session() as session:
        user = session.get(User, user_id)
    if user is None or not user.active:
        st.session_state.pop(USER_KEY, None)
        return None
    return user


def _served() -> bool:
    """True when a real HTTP client is behind this session (AppTest has no request headers)."""
    try:
        return bool(st.context.headers.get("host"))
    except Exception:
        return False


def require_role(*roles: str) -> User:
    """The signed-in user if their role is one of `roles` (any role when none given); otherwise stop the page."""
    user = current_user()
    if user is None:
        st.error("Please sign in.")
        st.stop()
    if roles and user.role not in roles:
        refuse_ui()
    return user  # type: ignore[return-value]


def refuse_ui() -> None:
    """What a page shows when the signed-in user's role does not allow it (nothing of the page's data)."""
    st.error("Your role does not allow this page.")
    st.stop()


# ---------------------------------------------------------------- the browser side: cookie and navigation

_GO_JS = """
export default function ({ data }) {
  if (!data || data.done) return;
  const go = () => window.location.replace(data.next || "/");
  const post = (url, body) => fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Parley": "1" },
    body: JSON.stringify(body || {}),
  });
  if (data.ticket) post("/auth/session", { ticket: data.ticket }).then(go, go);
  else if (data.signout) post("/auth/signout").then(go, go);
}
"""
_go = st.components.v2.component("parley_auth_go", js=_GO_JS)


def _browser_go(**data: Any) -> None:
    _go(data=data, key="auth-go")


def next_path(url_path: str) -> str:
    """Where the browser goes after sign-in: the page and query it was opened with (same origin only)."""
    query = urlencode(st.query_params.to_dict())
    path = "/" + url_path.strip("/")
    return path + ("?" + query if query else "")


def _sign_in_with_ticket(user: User, next_url: str) -> None:
    with db.write_session() as session:
        ticket = create_session(session=session, user=user, ticket=True)
    st.session_state[_GO_KEY] = {"ticket": ticket, "next": next_url}


def sign_in_ui(next_url: str = "/") -> None:
    """The sign-in page (or the first-admin form while there are no users), in a narrow middle column."""
    _, middle, _ = st.columns([1, 1.3, 1])
    with middle:
        _sign_in_body(next_url)


def _sign_in_body(next_url: str) -> None:
    st.title("Parley")
    go = st.session_state.pop(_GO_KEY, None)
    if go:
        _browser_go(**go)
    # While the browser swaps the ticket for its cookie the form stays (disabled), so "the Sign in
    # button is gone" means the page has reloaded signed in.
    busy = bool(go and go.get("ticket"))
    if not go:
        with db.read_session() as session:
            if count_users(session=session) == 0:
                _setup_ui(next_url)
                return
    with st.form("sign-in"):
        username = st.text_input("Username", autocomplete="username", disabled=busy)
        password = st.text_input("Password", type="password", autocomplete="current-password", disabled=busy)
        submitted = st.form_submit_button("Sign in", type="primary", disabled=busy)
    if busy:
        st.info("Signing in…")
    elif submitted:
        try:
            with db.write_session() as session:
                user = authenticate(session=session, username=username, password=password)
        except InputError as exc:
            st.error(str(exc))
            return
        _sign_in_with_ticket(user, next_url)
        st.rerun()


def _setup_ui(next_url: str) -> None:
    st.subheader("Create the admin account")
    st.caption(
        "Nobody has an account yet. The setup code was printed in the terminal where the server was "
        "started (restarting the server prints a new one)."
    )
    with st.form("setup"):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="new-password")
        code = st.text_input("Setup code", type="password")
        submitted = st.form_submit_button("Create the admin account", type="primary")
    if submitted:
        try:
            with db.write_session() as session:
                user = create_first_admin(session=session, username=username, password=password, code=code)
        except InputError as exc:
            st.error(str(exc))
            return
        _sign_in_with_ticket(user, next_url)
        st.rerun()


def _sign_out(user_id: int) -> None:
    with db.write_session() as session:
        end_user_sessions(session=session, user_id=user_id)
    st.session_state.pop(USER_KEY, None)
    st.session_state[_GO_KEY] = {"signout": True, "next": "/"}


def sidebar_ui(user: User) -> None:
    """Who is signed in, and the Sign out button (ends this user's sessions in every browser)."""
    with st.sidebar:
        st.caption(f"Signed in as **{user.display_name or user.username}** · {user.role}")
        st.button("Sign out", key="auth.sign_out", on_click=_sign_out, args=(user.id,))


# ---------------------------------------------------------------- the routes (Starlette, under st.App)


def same_origin(request: Request) -> bool:
    """A POST from our own page: the custom header forces a CORS preflight cross-site, and Origin must match."""
    if request.headers.get("x-parley") != "1":
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _redeem(ticket: str) -> str | None:
    with db.write_session() as session:
        return redeem_ticket(session=session, ticket=ticket)


def _end(token: str) -> None:
    with db.write_session() as session:
        end_session(session=session, token=token)


async def _session_route(request: Request) -> Response:
    if not same_origin(request):
        return Response("forbidden", status_code=403, media_type="text/plain")
    try:
        body = json.loads(await request.body() or b"{}")
        ticket = str(body.get("ticket", ""))[:200]
    except (ValueError, AttributeError):
        return Response("bad request", status_code=400, media_type="text/plain")
    token = await run_in_threadpool(_redeem, ticket) if ticket else None
    if token is None:
        return Response("forbidden", status_code=403, media_type="text/plain")
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(ABSOLUTE.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


async def _signout_route(request: Request) -> Response:
    if not same_origin(request):
        return Response("forbidden", status_code=403, media_type="text/plain")
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(_end, token)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response


def auth_routes() -> list[Route]:
    return [
        Route("/auth/session", _session_route, methods=["POST"]),
        Route("/auth/signout", _signout_route, methods=["POST"]),
    ]


def install_cookie_secret() -> None:
    """Streamlit signs its XSRF and session cookies with server.cookieSecret. Unless the operator set one,
    use a secret generated on first start and kept in the database, so every replica shares it and a
    restart does not invalidate open pages' XSRF tokens."""
    from sqlalchemy.exc import IntegrityError
    from streamlit import config

    if config.is_manually_set("server.cookieSecret"):
        return
    db.upgrade()
    try:
        with db.write_session() as session:
            secret = install_secret(session=session, key="streamlit_cookie_secret")
    except IntegrityError:  # another replica created it at the same moment
        with db.read_session() as session:
            secret = install_secret(session=session, key="streamlit_cookie_secret")
    config.set_option("server.cookieSecret", secret)


def announce_setup_code() -> None:
    """On server start: bring the schema up to date, refresh SQLite's planner statistics and, while there are
    no users, print a new setup code."""
    db.upgrade()
    db.analyze(db.get_engine())
    with db.write_session() as session:
        code = new_setup_code(session=session)
    if code:
        bar = "=" * 64
        print(
            f"\n{bar}\n  Parley has no accounts yet. Open the app and create the admin account\n"
            f"  with this one-time setup code:\n\n      Setup code: {code}\n\n{bar}\n",
            flush=True,
        )


@asynccontextmanager
async def lifespan(_app: Any):  # type: ignore[no-untyped-def]
    await run_in_threadpool(announce_setup_code)
    yield None
