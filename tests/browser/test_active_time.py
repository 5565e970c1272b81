"""Active time in chromium: seconds spent working on an item reach its annotation; /activity is guarded."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import expect
from sqlmodel import Session, select

from store.models import Annotation, User
from tests.browser.test_evaluate import idle, pairwise
from tests.browser.test_team_loop import PASSWORD, setup_loop, shown_item
from tests.conftest import eventually, sign_in


def _active(server, username: str) -> float:  # type: ignore[no-untyped-def]
    with Session(server.engine()) as s:
        user = s.exec(select(User).where(User.username == username)).one()
        ann = s.exec(select(Annotation).where(Annotation.annotator_id == user.id)).first()
        return ann.active_seconds if ann is not None else 0.0


def test_active_seconds_on_an_item_are_recorded(app_server, page, tmp_path):
    setup_loop(app_server, tmp_path)
    sign_in(page, app_server, "ann1", PASSWORD, "/evaluate")
    page.get_by_role("button", name="Submit").wait_for()
    idle(page)
    assert shown_item(page) == "p1"
    pairwise(page, "A").click()  # a change: the draft makes the annotation the time is added to
    idle(page)
    for _ in range(8):  # about 4 s of work: the pointer moves
        page.mouse.move(400, 300)
        page.mouse.move(420, 320)
        page.wait_for_timeout(500)
    page.keyboard.press("ArrowRight")  # leaving the item sends its time at once
    expect(page).to_have_url(re.compile(r"item=p2"))
    eventually(lambda: _active(app_server, "ann1") >= 3, timeout=10, what="active seconds of p1")
    assert _active(app_server, "ann1") < 30


def _post(url: str, body: dict, headers: dict) -> int:  # type: ignore[type-arg]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_activity_route_needs_our_page_and_a_session(app_server):
    url = app_server.url + "/activity"
    assert _post(url, {"item": 1, "seconds": 5}, {"Content-Type": "application/json"}) == 403  # no header
    headers = {"Content-Type": "application/json", "X-Parley": "1"}
    assert _post(url, {"item": 1, "seconds": 5}, headers) == 403  # signed out
    assert _post(url, {"item": "x"}, headers) == 400
