"""The dialogue canvas in the browser: pins, open in new tab, search, text size, hide avatar, images, XSS."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from store.db import upgrade
from store.models import Item
from tests.conftest import ARTIFACTS, sign_in
from tests.toolpage_data import seed, start_shell_app


@pytest.fixture
def shell(tmp_path):
    server = start_shell_app(tmp_path)
    yield server
    server.stop()


def open_tool(page, server, query: str = "") -> None:  # type: ignore[no-untyped-def]
    """Open the tool page and wait until it is all there: the dialogue is painted first, the toolbar and
    panels (and the canvas's ←/→ neighbours) come with the run that follows."""
    page.goto(server.url + "/" + query)
    page.get_by_test_id("parley-bubble").first.wait_for(timeout=40_000)
    page.get_by_role("button", name="Save").wait_for()
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def bubble(page, bubble_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-testid="parley-bubble"][data-id="{bubble_id}"]')


def test_tool_page_with_images_and_three_candidates(shell, page):
    open_tool(page, shell)
    assert page.get_by_test_id("parley-bubble").count() == 5 + 3
    for label in ("Candidate A", "Candidate B", "Candidate C"):
        assert page.locator(".pc-name", has_text=label).is_visible()
    thumbs = page.locator("img.pc-thumb")
    assert thumbs.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('*')].some(e => e.shadowRoot && "
        "[...e.shadowRoot.querySelectorAll('img.pc-thumb')].every(i => i.complete && i.naturalWidth > 0))"
    )
    # Candidates side by side on a wide screen.
    a, b = bubble(page, "c0").bounding_box(), bubble(page, "c1").bounding_box()
    assert abs(a["y"] - b["y"]) < 2 and b["x"] > a["x"] + a["width"] - 1
    assert page.locator("pre code").first.inner_text().strip() == "print('hello')"
    shot(page, "toolpage_dialogue_images_three_candidates")
    thumbs.first.click()
    overlay = page.locator(".pc-overlay")
    overlay.wait_for()
    assert overlay.locator("img").get_attribute("src").startswith("data:image/png")
    page.keyboard.press("Escape")
    overlay.wait_for(state="hidden")
    # Stacked on a narrow screen.
    page.set_viewport_size({"width": 600, "height": 900})
    page.wait_for_timeout(200)
    a, b = bubble(page, "c0").bounding_box(), bubble(page, "c1").bounding_box()
    assert b["y"] > a["y"] + a["height"] - 1


def test_pin_limit_of_four_and_unpin(shell, page):
    open_tool(page, shell)
    for bid in ("m0", "m1", "m2", "m3", "m4"):
        bubble(page, bid).hover()
        bubble(page, bid).get_by_role("button", name="Pin").click()
    pinned = page.get_by_test_id("parley-pinned")
    assert pinned.count() == 4
    assert "At most 4" in page.get_by_test_id("parley-canvas-note").inner_text()
    assert page.get_by_text("Pinned (4 of 4)").is_visible()
    shot(page, "canvas_pins")
    first = pinned.first
    first.hover()
    first.get_by_role("button", name="Unpin").click()
    assert pinned.count() == 3
    assert (
        pinned.first.get_by_role("link", name="Open in New Tab").get_attribute("href").endswith("bubble=m1")
    )
    # Pins stay through a rerun (another widget changes) and a reload of the same item.
    page.get_by_text("Invalid").click()
    page.wait_for_timeout(500)
    assert pinned.count() == 3
    page.reload()
    page.get_by_test_id("parley-bubble").first.wait_for()
    assert page.get_by_test_id("parley-pinned").count() == 3


def test_open_in_new_tab_link(shell, page):
    open_tool(page, shell)
    bubble(page, "m2").hover()
    link = bubble(page, "m2").get_by_role("link", name="Open in New Tab")
    assert link.get_attribute("target") == "_blank"
    with page.context.expect_page() as new_tab:
        link.click()
    opened = new_tab.value
    assert re.search(r"/message\?dataset=demo&item=1&bubble=m2$", opened.url)
    opened.close()


def test_message_page_shows_one_message_full_width(app_server, page):
    upgrade(app_server.database_url)
    seed(app_server.engine(), blobs=app_server.blobs)
    # Opened signed out, the link survives sign-in (the user lands on that message).
    sign_in(page, app_server, "ann", "password1", path="/message?dataset=demo&item=1&bubble=m2")
    shown = page.get_by_test_id("parley-bubble")
    shown.first.wait_for()
    assert shown.count() == 1
    assert "Turn 2 item1 from the bot" in shown.inner_text()
    assert page.get_by_text("item 1 · message 3 of 5").is_visible()
    page.goto(app_server.url + "/message?dataset=demo&item=1&bubble=c2")
    page.get_by_test_id("parley-bubble").first.wait_for()
    assert "Candidate C for item 1" in page.get_by_test_id("parley-bubble").inner_text()
    # Images go through the signed-in /asset route with the detected type.
    page.goto(app_server.url + "/message?dataset=demo&item=1&bubble=m1")
    img = page.locator("img.pc-thumb").first
    img.wait_for()
    assert img.get_attribute("src").startswith("/asset/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('*')].some(e => e.shadowRoot && "
        "[...e.shadowRoot.querySelectorAll('img.pc-thumb')].some(i => i.complete && i.naturalWidth > 0))"
    )
    shot(page, "message_page")


def test_search_count_and_jump(shell, page):
    open_tool(page, shell)
    page.keyboard.press("/")
    page.keyboard.type("fox")
    count = page.get_by_test_id("parley-search-count")
    assert count.inner_text() == "1 of 6"
    assert page.locator("mark.pc-hit").count() == 6
    page.keyboard.press("Enter")
    assert count.inner_text() == "2 of 6"
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    assert count.inner_text() == "6 of 6"
    assert page.locator("mark.pc-cur").inner_text().lower() == "fox"
    shot(page, "canvas_search")
    page.keyboard.press("Escape")
    assert page.locator("mark.pc-hit").count() == 0


def test_text_size_and_hide_avatar_and_expand(shell, page):
    open_tool(page, shell)
    text = page.locator(".pc-text").first
    assert text.evaluate("e => getComputedStyle(e).fontSize") == "15px"
    page.get_by_label("Text size").evaluate(
        "e => { e.value = '21'; e.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    assert text.evaluate("e => getComputedStyle(e).fontSize") == "21px"
    assert page.locator(".pc-av").first.is_visible()
    page.get_by_label("Hide Avatar").check()
    assert not page.locator(".pc-av").first.is_visible()
    page.get_by_label("Expand Attributes").check()
    page.get_by_text("expand=True").wait_for()
    shot(page, "canvas_text_size_hide_avatar")
    page.reload()
    page.get_by_test_id("parley-bubble").first.wait_for()
    assert page.locator(".pc-text").first.evaluate("e => getComputedStyle(e).fontSize") == "21px"
    assert not page.locator(".pc-av").first.is_visible()


def test_message_text_with_script_shows_as_text_and_runs_nothing(shell, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_tool(page, shell, "?dataset=demo&item=2")
    last = bubble(page, "m5")
    last.wait_for()
    text = last.locator(".pc-text").inner_text()
    assert "<script>window.__pwned = 1; alert('x')</script>" in text
    assert '<img src=x onerror="window.__pwned=2">' in text
    assert "[click me](javascript:window.__pwned=3)" in text
    last.locator(".pc-text").click()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert page.locator('a[href^="javascript"]').count() == 0
    assert last.locator("script, img:not(.pc-thumb)").count() == 0
    shot(page, "canvas_xss_as_text")


def test_only_safe_images_are_served(app_server, page):
    """An asset id of the item goes to the signed-in route; without sign-in it is a 404."""
    upgrade(app_server.database_url)
    seed(app_server.engine(), blobs=app_server.blobs)
    from sqlmodel import Session

    with Session(app_server.engine()) as s:
        asset_id = s.get(Item, 1).messages[1]["images"][0]
    response = page.request.get(app_server.url + f"/asset/{asset_id}")
    assert response.status == 404
