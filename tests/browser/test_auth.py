"""Sign-in in a real browser: the setup code, roles by URL, wrong passwords, sign-out, staying signed in, deep links."""

from __future__ import annotations

import re

from sqlmodel import select

from store import db
from store.models import Asset, User
from tests.conftest import ARTIFACTS, sign_in
from tests.seed import add_user

ALL_PAGES = ["Home", "Evaluate", "Respond", "Datasets", "Ontology", "Export", "Team"]
REFUSAL = "Your role does not allow this page."


def _setup_code(server) -> str:  # type: ignore[no-untyped-def]
    found = re.findall(r"Setup code: ([0-9A-F-]{19})", server.output())
    assert found, server.output()
    return found[-1]


def _signed_in(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").wait_for()


def _nav(page):  # type: ignore[no-untyped-def]
    """The sidebar's page links (the Home page has links of its own)."""
    return page.get_by_test_id("stSidebarNav")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_first_admin_needs_the_printed_setup_code(app_server, page):
    page.goto(app_server.url + "/")
    page.get_by_text("Create the admin account").first.wait_for()
    page.get_by_role("textbox", name="Username").fill("boss")
    page.get_by_role("textbox", name="Password").fill("password1")
    page.get_by_role("textbox", name="Setup code").fill("0000-0000-0000-0000")
    page.get_by_role("button", name="Create the admin account").click()
    page.get_by_text("setup code: wrong").wait_for()
    with db.read_session(app_server.engine()) as session:
        assert session.exec(select(User)).first() is None

    page.get_by_role("textbox", name="Setup code").fill(_setup_code(app_server))
    page.get_by_role("button", name="Create the admin account").click()
    _signed_in(page)
    for name in ALL_PAGES:
        assert _nav(page).get_by_role("link", name=name).is_visible(), name
    page.get_by_text("You are signed in as admin").wait_for()
    _shot(page, "auth-home-admin.png")
    with db.read_session(app_server.engine()) as session:
        assert [(u.username, u.role) for u in session.exec(select(User)).all()] == [("boss", "admin")]

    # Once an admin exists the form is gone: a new browser sees the sign-in form.
    other = page.context.browser.new_context()
    fresh = other.new_page()
    fresh.goto(app_server.url + "/")
    fresh.get_by_role("button", name="Sign in").wait_for()
    assert fresh.get_by_text("Create the admin account").count() == 0
    other.close()


def test_admin_opens_every_page(app_server, page):
    add_user(app_server, "boss", "password1", role="admin")
    sign_in(page, app_server, "boss", "password1")
    for path in ["datasets", "ontology", "export", "team", "evaluate", "respond"]:
        page.goto(f"{app_server.url}/{path}")
        _signed_in(page)
        page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').first.wait_for()
        assert page.get_by_text(REFUSAL).count() == 0, path
    page.goto(app_server.url + "/team")
    page.get_by_role("tab", name="Add user").wait_for()


def test_annotator_cannot_open_admin_pages_even_by_url(app_server, page):
    add_user(app_server, "boss", "password1", role="admin")
    add_user(app_server, "ann", "password1", role="annotator")
    sign_in(page, app_server, "ann", "password1")
    assert _nav(page).get_by_role("link", name="Evaluate").is_visible()
    assert _nav(page).get_by_role("link", name="Respond").is_visible()
    for name in ["Datasets", "Ontology", "Export", "Team"]:
        assert _nav(page).get_by_role("link", name=name).count() == 0, name
    for path in ["ontology", "team", "datasets", "export"]:
        page.goto(f"{app_server.url}/{path}")
        page.get_by_text(REFUSAL).wait_for()
        assert page.get_by_role("tab", name="Add user").count() == 0
        assert page.get_by_text("boss").count() == 0  # no user list leaks
    _shot(page, "auth-annotator-refused.png")


def test_wrong_password_gives_the_message_and_no_access(app_server, page):
    add_user(app_server, "boss", "password1", role="admin")
    page.goto(app_server.url + "/team")
    page.get_by_role("textbox", name="Username").fill("boss")
    page.get_by_role("textbox", name="Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong username or password.").wait_for()
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert _nav(page).get_by_role("link", name="Team").count() == 0
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_page_opened_without_signing_in_shows_the_sign_in(app_server, page):
    add_user(app_server, "boss", "password1", role="admin")
    for path in ["/", "/datasets", "/team", "/evaluate?dataset=Demo&item=1"]:
        page.goto(app_server.url + path)
        page.get_by_role("button", name="Sign in").wait_for()
        assert _nav(page).get_by_role("link", name="Team").count() == 0
        assert page.get_by_role("tab", name="Add user").count() == 0


def test_reload_and_new_tab_stay_signed_in_and_sign_out_ends_both(app_server, page):
    add_user(app_server, "boss", "password1", role="admin")
    sign_in(page, app_server, "boss", "password1")
    cookie = next(c for c in page.context.cookies() if c["name"] == "parley_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.reload()
    _signed_in(page)
    tab = page.context.new_page()
    tab.goto(app_server.url + "/team")
    _signed_in(tab)
    tab.get_by_role("tab", name="Add user").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()
    page.wait_for_url(app_server.url + "/")
    tab.reload()
    tab.get_by_role("button", name="Sign in").wait_for()
    assert tab.get_by_role("tab", name="Add user").count() == 0


def test_deep_link_survives_sign_in(app_server, page):
    add_user(app_server, "ann", "password1", role="annotator")
    sign_in(page, app_server, "ann", "password1", path="/evaluate?dataset=Demo&item=3")
    page.wait_for_url(re.compile(r"/evaluate\?dataset=Demo&item=3$"))
    assert _nav(page).get_by_role("link", name="Evaluate").is_visible()


def test_images_are_served_to_signed_in_users_only(app_server, page):
    done = app_server.cli("setup")
    assert done.returncode == 0, done.stderr
    with db.read_session(app_server.engine()) as session:
        asset = session.exec(select(Asset)).first()
    url = f"{app_server.url}/asset/{asset.id}"
    assert page.request.get(url).status == 404  # not signed in yet
    add_user(app_server, "ann", "password1", role="annotator")
    sign_in(page, app_server, "ann", "password1")
    response = page.request.get(url)
    assert response.status == 200
    assert response.body()[:8] == b"\x89PNG\r\n\x1a\n"
    headers = response.headers
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'"
    assert "immutable" in headers["cache-control"]
    assert page.request.get(f"{app_server.url}/asset/{'0' * 64}").status == 404
    assert page.request.get(f"{app_server.url}/asset/..%2Fparley.db").status in (400, 404)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_cookie_route_wants_our_page_and_a_live_ticket_once(app_server):
    import json

    from store.sessions import create_session

    add_user(app_server, "ann", "password1", role="annotator")
    with db.write_session(app_server.engine()) as session:
        user = session.exec(select(User)).one()
        ticket = create_session(session=session, user=user, ticket=True)
    url = app_server.url + "/auth/session"
    body = json.dumps({"ticket": ticket}).encode()
    ours = {"Content-Type": "application/json", "X-Parley": "1"}
    assert _post(url, body, {"Content-Type": "application/json"})[0] == 403  # no custom header
    assert _post(url, body, {**ours, "Origin": "https://evil.example"})[0] == 403  # another site
    assert _post(url, json.dumps({"ticket": "guess"}).encode(), ours)[0] == 403
    status, headers = _post(url, body, {**ours, "Origin": app_server.url})
    assert status == 204
    cookie = headers["set-cookie"]
    assert cookie.startswith("parley_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert ticket not in cookie
    assert _post(url, body, ours)[0] == 403  # a ticket works once


def test_the_team_page_stays_on_its_tab_after_a_change(app_server, page):
    """A change made in "Change a user" shows its message above the tabs and leaves that tab open (the
    message coming, then going at the next run, used to draw the tabs anew on "Add user")."""
    from playwright.sync_api import expect

    from tests.browser.test_datasets import choose, settle

    add_user(app_server, "boss", "password1", role="admin")
    add_user(app_server, "ann", "password1")
    sign_in(page, app_server, "boss", "password1", path="/team")
    page.get_by_role("tab", name="Change a user").click()
    choose(page, "User", "ann")
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_text("Deactivated ann.").wait_for()
    change = page.get_by_role("tab", name="Change a user")
    expect(change).to_have_attribute("aria-selected", "true")
    page.get_by_role("button", name="Reactivate").click()  # the next run: the first message goes
    page.get_by_text("Reactivated ann.").wait_for()
    settle(page)
    expect(change).to_have_attribute("aria-selected", "true")
    with app_server.engine().connect() as conn:
        assert conn.exec_driver_sql("select active from \"user\" where username = 'ann'").scalar_one()
