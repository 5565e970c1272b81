"""The authorization matrix's page and route rows (tests/authz_matrix.py) through the real server: one app,
one browser context per role holding that role's session cookie, every page address opened by each role
(all seven tabs at once), and the routes by plain HTTP with the role's cookie.

A page cell "open" is allowed when the page draws its own content (not the sign-in form, not the refusal);
"see <dataset>'s data" when the restricted dataset's canary (x1's text, or for listings the dataset's
name) is on the page once the script has finished."""

from __future__ import annotations

import ast
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from store.blobs import make_blob_store
from store.db import get_engine, upgrade
from store.sessions import COOKIE
from tests.authz_matrix import CANARY, PAGES, ROLES, ROUTES, A, D, R
from tests.authz_world import OPEN, World, build
from tests.conftest import ROOT, start_app

REFUSAL = "Your role does not allow this page."
# Per page: what it draws when it opens (any of these, in its main area), what shows that its data area is
# drawn whichever dataset it shows (the bot's "Sure." ends every item's dialogue in the canvas), and what
# shows the restricted dataset's data (x1's text; for listings the dataset's name).
MARKERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "/": (("Welcome,",), ("Welcome,",), R),
    "/evaluate": (("Submit",), ("Sure.",), CANARY),
    "/respond": (("Submit",), ("Sure.",), CANARY),
    "/message": (("message 1 of 2", "Not found:"), (CANARY, "Not found:"), CANARY),
    "/datasets": (("Create a dataset",), ("Create a dataset",), R),
    "/ontology": (("Classifications",), ("Classifications",), R),
    "/export": (("Final answers only",), ("Items in dataset",), CANARY),
    "/review": (("Adjudicate",), ("Sure.", "not found"), CANARY),
    # R's figures (the open dataset has overlap 1)
    "/report": (("Changed from",), ("Progress",), "(overlap 2)"),
    "/team": (("Add user",), ("Add user",), R),
    "/models": (("OpenAI chat API",), ("OpenAI chat API",), R),
}
# Move a page to another address as its own links do (history + popstate): the server runs that page's
# script in the same session, without loading Streamlit's frontend again (a full load costs ~2 s a tab).
GO = "p => { history.pushState(null, '', p); dispatchEvent(new PopStateEvent('popstate')); }"
IDLE = 0.4  # seconds since the last run finished, with none asked for or started since
# The page has drawn the last run: Streamlit idle and nothing in the document changed for 400 ms (under
# load the frontend draws a second or more after the server finished, and a component that asks for a
# run once drawn, as the canvas does, has asked by then).
QUIET = """window.__changed = performance.now();
new MutationObserver(() => { window.__changed = performance.now(); })
  .observe(document, {childList: true, subtree: true, characterData: true});"""
DRAWN = """() => !!document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
  && performance.now() - window.__changed > 400"""


def _base(path: str) -> str:
    return path.split("?", 1)[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The matrix's world in a fresh database, then the app on it (built first: no writer races the server)."""
    tmp = tmp_path_factory.mktemp("authz-app")
    url = f"sqlite:///{tmp}/parley.db"
    upgrade(url)
    with Session(get_engine(url), expire_on_commit=False) as s:
        built = build(s, blobs=make_blob_store(str(tmp / "blobs")))
    get_engine(url).dispose()
    server = start_app(tmp, database_url=url)
    try:
        yield server, built
    finally:
        server.stop()


class Tab:
    """One role's browser tab, counting the script runs the server reports over its websocket."""

    def __init__(self, browser, server, token: str | None) -> None:  # type: ignore[no-untyped-def]
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        if token:
            self.context.add_cookies([{"name": COOKIE, "value": token, "url": server.url}])
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.started = self.finished_at = 0.0
        self.finished = 0
        self.asked = 0.0  # when the page last asked for a run
        self.page.on("websocket", self._watch)
        self.page.add_init_script(QUIET)

    def _watch(self, ws) -> None:  # type: ignore[no-untyped-def]
        ws.on("framereceived", self._frame)
        ws.on("framesent", self._sent)

    def _sent(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes | bytearray) and BackMsg.FromString(bytes(payload)).HasField(
            "rerun_script"
        ):
            self.asked = time.monotonic()

    def _frame(self, payload: bytes | str) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        kind = ForwardMsg.FromString(bytes(payload)).WhichOneof("type")
        if kind == "new_session":  # a run starts
            self.started = time.monotonic()
        elif kind == "script_finished":
            self.finished += 1
            self.finished_at = time.monotonic()

    def _server_done(self, after: int) -> bool:
        return (
            self.finished > after
            and self.finished_at >= self.started >= self.asked
            and time.monotonic() - self.finished_at > IDLE
        )

    def settle(self, after: int) -> None:
        """Wait until a run later than the `after`-th has finished, no other was asked for or started since,
        and the page has drawn it. Measured from what happened, so a tab that settled while another was
        waited for passes at once."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._server_done(after) and self.page.evaluate(DRAWN) and self._server_done(after):
                return
            self.page.wait_for_timeout(40)
        raise TimeoutError(f"{self.page.url}: the page did not settle")


def _drawn(tab: Tab, path: str) -> None:
    """Wait for what shows the page has drawn its answer: the sign-in form, the refusal, or its data area
    (under load a component's rerun can come later than any quiet spell)."""
    _markers, drawn, _canary = MARKERS[_base(path)]
    page = tab.page
    answer = page.get_by_role("button", name="Sign in").or_(page.get_by_text(REFUSAL))
    answer = answer.or_(page.get_by_test_id("stException"))  # a page that fails has answered too
    for text in drawn:
        answer = answer.or_(page.get_by_text(text))
    answer.first.wait_for(state="attached", timeout=30_000)


def _look(tab: Tab, path: str) -> tuple[bool, bool, str]:
    """(page open, restricted data shown, what the page says) for the page the tab shows at `path`."""
    markers, _drawn, canary = MARKERS[_base(path)]
    # (the sidebar's Sign out can come after the main area's answer: wait for it or the sign-in form)
    account = tab.page.get_by_role("button", name="Sign out").or_(
        tab.page.get_by_role("button", name="Sign in")
    )
    account.first.wait_for(state="attached", timeout=30_000)
    main = tab.page.locator('[data-testid="stMain"]').inner_text()
    signed_in = tab.page.get_by_role("button", name="Sign out").count() > 0
    opened = signed_in and REFUSAL not in main and any(m in main for m in markers)
    # The canvas draws the dialogue in a shadow root, which innerText leaves out and Playwright's text
    # locators reach.
    shown = tab.page.get_by_text(canary).count() > 0
    said = " | ".join(line for line in main.split("\n") if line.strip())
    return opened, shown, said if len(said) < 600 else said[:200] + " … " + said[-400:]


@pytest.fixture(scope="module")
def pages_seen(world, browser) -> dict[tuple[str, str], dict[str, tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """(path, action) → role → (allow/deny, what the page said), from one visit of each page by each role."""
    server, w = world
    paths = list(dict.fromkeys(row.resource for row in PAGES))
    tabs = {role: Tab(browser, server, w.tokens[role]) for role in ROLES}
    seen: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    try:
        for tab in tabs.values():  # the first address loads the app in every tab at once
            tab.page.goto(server.url + paths[0], wait_until="commit")
        for i, path in enumerate(paths):
            before = {role: tab.finished for role, tab in tabs.items()}
            if i:
                for tab in tabs.values():
                    tab.page.evaluate(GO, path)
            for role, tab in tabs.items():
                tab.settle(before[role])
                if urlsplit(tab.page.url).path != _base(path):
                    # A rerun the last page asked for (its canvas) won the race: load the address itself.
                    count = tab.finished
                    tab.page.goto(server.url + path, wait_until="commit")
                    tab.settle(count)
                assert urlsplit(tab.page.url).path == _base(path), (role, path, tab.page.url)
                _drawn(tab, path)
                tab.settle(before[role])
                opened, shown, said = _look(tab, path)
                seen.setdefault((path, "open"), {})[role] = (A if opened else D, said)
                seen.setdefault((path, f"see {R}'s data"), {})[role] = (A if shown else D, said)
    finally:
        for tab in tabs.values():
            tab.context.close()
    return seen


@pytest.mark.parametrize("row", PAGES, ids=[f"{r.resource} {r.action}" for r in PAGES])
def test_page_row(pages_seen, row):
    got = pages_seen[(row.resource, row.action)]
    expected = dict(zip(ROLES, row.cells, strict=True))
    assert {role: cell for role, (cell, _said) in got.items()} == expected, {
        role: said for role, (cell, said) in got.items() if cell != expected[role]
    }


# ---------------------------------------------------------------- routes, by plain HTTP


def _request(url: str, token: str | None, body: dict[str, Any] | None = None) -> int:
    headers = {"Cookie": f"{COOKIE}={token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers |= {"Content-Type": "application/json", "X-Parley": "1"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _route(server, w: World, resource: str, token: str | None) -> str:  # type: ignore[no-untyped-def]
    if resource.startswith("/asset/"):
        sha = w.images[R if "restricted" in resource else OPEN]
        return A if _request(f"{server.url}/asset/{sha}", token) == 200 else D
    status = _request(f"{server.url}/activity", token, {"item": w.x1, "seconds": 3})
    assert status in (204, 403, 404), status
    return A if status == 204 else D


@pytest.mark.parametrize("row", ROUTES, ids=[r.resource for r in ROUTES])
def test_route_row(world, row):
    server, w = world
    got = {role: _route(server, w, row.resource, w.tokens[role]) for role in ROLES}
    assert got == dict(zip(ROLES, row.cells, strict=True))


def _app_pages() -> set[str]:
    """The url paths of app.PAGES, read from app.py's source (importing it would start the server's setup)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    table = next(
        node.value for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PAGES" for t in node.targets)
    )  # fmt: skip
    return {entry.elts[4].value for entry in table.elts}  # type: ignore[attr-defined]


def test_the_rows_name_every_page_of_the_app():
    paths = {_base(row.resource) for row in PAGES}
    assert paths == {"/" if url == "home" else f"/{url}" for url in _app_pages()}
    assert set(MARKERS) == paths
