"""The tool-page shell in the browser: every DESIGN.md hotkey, View mode, typing, drafts, conflicts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from store.db import make_engine
from store.models import Annotation
from tests.browser.test_canvas import bubble, open_tool, shot
from tests.conftest import eventually
from tests.toolpage_data import start_shell_app


@pytest.fixture
def shell(tmp_path):
    server = start_shell_app(tmp_path)
    yield server
    server.stop()


def annotation(server, item_id: int = 1, username_id: int | None = None) -> Annotation | None:  # type: ignore[no-untyped-def]
    engine = make_engine(server.database_url)
    try:
        with Session(engine) as s:
            query = select(Annotation).where(Annotation.item_id == item_id)
            if username_id is not None:
                query = query.where(Annotation.annotator_id == username_id)
            return s.exec(query).first()
    finally:
        engine.dispose()


def position(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("strong", has_text=text).wait_for()


def unfocus(page) -> None:  # type: ignore[no-untyped-def]
    page.evaluate("document.activeElement && document.activeElement.blur()")


def score_checked(page, value: str) -> bool:  # type: ignore[no-untyped-def]
    return page.get_by_role("radiogroup", name="Score").get_by_role("radio", name=value).is_checked()


# At the first frame a bubble is on screen: where it is, and whether the page's widgets were there yet.
FIRST_SIGHT = """(() => {
  const find = (root) => {
    const b = root.querySelector('[data-testid="parley-bubble"]');
    if (b) return b;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const poll = () => {
    const b = find(document);
    if (!b) { requestAnimationFrame(poll); return; }
    window.__first = { el: b, y: b.getBoundingClientRect().y,
      widgets: document.querySelectorAll('[data-testid="stButton"], [data-testid="stRadio"]').length };
  };
  requestAnimationFrame(poll);
})()"""


def test_cold_open_paints_the_dialogue_first_then_the_page_around_it(shell, page):
    page.add_init_script(FIRST_SIGHT)
    page.goto(shell.url + "/?dataset=demo&item=2")
    page.get_by_role("button", name="Save").wait_for()
    page.get_by_role("radiogroup", name="Score").wait_for()
    position(page, "2 / 5")
    first = page.evaluate("({y: window.__first.y, widgets: window.__first.widgets})")
    assert first["widgets"] == 0  # the dialogue came first, on its own
    # The same bubble, where it was: the page was drawn around the dialogue, which neither moved nor redrew.
    assert page.evaluate("window.__first.el.isConnected")
    assert page.evaluate("window.__first.el.getBoundingClientRect().y") == pytest.approx(first["y"], abs=1)
    assert "item2" in bubble(page, "m1").inner_text()
    # Then the page works as usual: a number key picks the score.
    page.keyboard.press("3")
    expect(page.get_by_role("radiogroup", name="Score").get_by_role("radio", name="3")).to_be_checked()


def test_every_hotkey(shell, page):
    open_tool(page, shell)
    unfocus(page)
    # ↑ / ↓ select bubbles in the browser.
    page.keyboard.press("ArrowDown")
    assert "pc-sel" in bubble(page, "m0").get_attribute("class")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert "pc-sel" in bubble(page, "m1").get_attribute("class")
    page.get_by_text("selected=m1").wait_for()  # reported to Python
    # p pins / unpins the selected bubble.
    page.keyboard.press("p")
    assert page.get_by_test_id("parley-pinned").count() == 1
    page.keyboard.press("p")
    assert page.get_by_test_id("parley-pinned").count() == 0
    # / focuses the search box.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.shadowRoot?.activeElement?.className") is not None
    page.keyboard.press("Escape")
    unfocus(page)
    # Digits go to the page: "3" picks score 3.
    page.keyboard.press("3")
    expect(page.get_by_role("radiogroup", name="Score").get_by_role("radio", name="3")).to_be_checked()
    # → / ← move between items.
    unfocus(page)
    page.keyboard.press("ArrowRight")
    position(page, "2 / 5")
    page.keyboard.press("ArrowLeft")
    position(page, "1 / 5")
    expect(page.get_by_role("radiogroup", name="Score").get_by_role("radio", name="3")).to_be_checked()
    # Ctrl+S saves.
    unfocus(page)
    page.keyboard.press("Control+s")
    eventually(
        lambda: (a := annotation(shell)) is not None and a.status == "saved", timeout=5, what="Ctrl+S saved"
    )
    assert annotation(shell).classifications["score"] == "3"
    # e switches to View and back.
    page.keyboard.press("e")
    page.get_by_role("button", name="Save").and_(page.locator("[disabled]")).wait_for()
    page.keyboard.press("e")
    page.get_by_role("button", name="Save").and_(page.locator(":not([disabled])")).wait_for()
    # ? opens the shortcut list.
    unfocus(page)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "Ctrl+Enter" in dialog.inner_text() and "pin / unpin" in dialog.inner_text()
    shot(page, "toolpage_shortcuts")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    # Ctrl+Enter submits and opens the next item not submitted.
    unfocus(page)
    page.keyboard.press("Control+Enter")
    position(page, "2 / 5")
    assert annotation(shell).status == "submitted"


def test_hotkeys_after_switching_pages(shell, page):
    open_tool(page, shell)
    page.get_by_role("link", name="Other").click()
    page.get_by_role("heading", name="Other page").wait_for()
    page.get_by_role("link", name="Tool").click()
    page.get_by_test_id("parley-bubble").first.wait_for()
    unfocus(page)
    page.keyboard.press("ArrowRight")
    position(page, "2 / 5")
    page.keyboard.press("ArrowDown")
    assert "pc-sel" in bubble(page, "m0").get_attribute("class")
    page.get_by_role("link", name="Other").click()
    page.get_by_role("heading", name="Other page").wait_for()
    page.keyboard.press("ArrowRight")  # no canvas here: nothing happens, no error
    page.get_by_role("link", name="Tool").click()
    position(page, "2 / 5")
    page.get_by_test_id("parley-bubble").first.wait_for()
    unfocus(page)
    page.keyboard.press("ArrowRight")
    position(page, "3 / 5")


def test_digit_typed_in_a_text_box_picks_nothing(shell, page):
    open_tool(page, shell)
    reply = page.get_by_role("textbox", name="Reply")
    reply.click()
    page.keyboard.type("3 e p / 5")
    page.wait_for_timeout(300)
    assert reply.input_value() == "3 e p / 5"
    assert not score_checked(page, "3") and not score_checked(page, "5")
    assert page.get_by_test_id("parley-pinned").count() == 0
    assert page.get_by_role("button", name="Save").is_enabled()  # "e" did not switch to View


def test_ctrl_s_while_typing_saves_exactly_what_was_typed(shell, page):
    open_tool(page, shell)
    page.evaluate(
        "window.addEventListener('keydown', e => { if (e.ctrlKey) window.__prevented = e.defaultPrevented }, true)"
    )
    reply = page.get_by_role("textbox", name="Reply")
    reply.click()
    page.keyboard.type("hello world")
    page.keyboard.press("Control+s")
    eventually(
        lambda: (a := annotation(shell)) is not None and a.status == "saved", timeout=5, what="Ctrl+S saved"
    )
    assert annotation(shell).classifications["reply"] == "hello world"
    assert page.evaluate("window.__prevented") is True  # no browser "Save page" dialog
    # Ctrl+Enter while typing: submits the newest text (the check needs a score: pick one first).
    unfocus(page)
    page.keyboard.press("4")
    page.wait_for_timeout(500)
    reply.click()
    page.keyboard.press("End")
    page.keyboard.type("!")
    page.keyboard.press("Control+Enter")
    position(page, "2 / 5")
    done = annotation(shell)
    assert done.status == "submitted" and done.classifications["reply"] == "hello world!"


def test_view_mode_blocks_edits_and_hotkeys(shell, page):
    open_tool(page, shell)
    page.get_by_text("View", exact=True).click()
    page.get_by_role("button", name="Save").and_(page.locator("[disabled]")).wait_for()
    # (The toolbar is drawn first; the panels follow in the same run.)
    expect(page.get_by_role("radio", name="Invalid")).to_be_disabled()
    expect(page.get_by_role("textbox", name="Reply")).to_be_disabled()
    unfocus(page)
    page.keyboard.press("3")
    page.keyboard.press("Control+s")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(800)
    assert not score_checked(page, "3")
    assert annotation(shell) is None  # nothing saved
    position(page, "1 / 5")  # Ctrl+Enter did not submit and move on
    # Selecting, pinning and moving still work in View.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("p")
    assert page.get_by_test_id("parley-pinned").count() == 1
    page.keyboard.press("ArrowRight")
    position(page, "2 / 5")
    shot(page, "toolpage_view_mode")


def test_submit_check_refuses_and_selects_the_bubble(shell, page):
    open_tool(page, shell)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Pick a score").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('*')].some(e => e.shadowRoot && "
        "e.shadowRoot.querySelector('.pc-b.pc-sel[data-id=\"c0\"]'))"
    )
    assert annotation(shell) is None or annotation(shell).status != "submitted"


def test_draft_survives_reload_and_server_restart(shell, page, tmp_path):
    open_tool(page, shell)
    page.get_by_text("Invalid").click()
    page.get_by_role("textbox", name="Why is it invalid?").wait_for()
    page.wait_for_timeout(2000)  # "within 2 s"
    kept = annotation(shell)
    assert kept is not None and kept.draft and kept.draft["validity"] == "invalid"
    page.reload()
    page.get_by_test_id("parley-bubble").first.wait_for()
    assert page.get_by_role("radio", name="Invalid").is_checked()
    url = page.url
    shell.stop()
    again = start_shell_app(tmp_path, database_url=shell.database_url, seed_data=False)
    try:
        page.goto(again.url + "/" + url.split("/", 3)[3])
        page.get_by_test_id("parley-bubble").first.wait_for()
        assert page.get_by_role("radio", name="Invalid").is_checked()
    finally:
        again.stop()


def test_leaving_an_item_keeps_its_draft(shell, page):
    open_tool(page, shell)
    page.get_by_role("textbox", name="Reply").fill("first thoughts")
    unfocus(page)  # commits the text box
    page.keyboard.press("ArrowRight")
    position(page, "2 / 5")
    # The draft is written by the run that leaves the item; allow that run a moment to commit.
    eventually(
        lambda: (a := annotation(shell)) is not None and a.draft is not None,
        timeout=5,
        what="draft on leaving",
    )
    assert annotation(shell).draft["classifications"]["reply"] == "first thoughts"


def test_arrows_show_the_neighbour_at_once_and_digits_follow_the_item_on_screen(shell, page):
    open_tool(page, shell)
    unfocus(page)
    position(page, "1 / 5")
    page.wait_for_timeout(500)  # the run that drew item 1 has finished
    # In one browser task (no server reply can come in between): → redraws the canvas with item 2.
    shown = page.evaluate(
        """() => {
            window.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));
            const root = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('.pc'));
            return root.shadowRoot.querySelector('.pc-list').textContent;
        }"""
    )
    assert "Candidate A for item 2" in shown and "item 1:" not in shown
    # The server opens the item the canvas shows.
    position(page, "2 / 5")
    # Back to back: → → 4. The canvas shows item 4 and the digit waits for it to be open on the server.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("4")
    position(page, "4 / 5")
    expect(page.locator(".pc-cand", has_text="Candidate A for item 4")).to_be_visible()
    expect(page.get_by_role("radiogroup", name="Score").get_by_role("radio", name="4")).to_be_checked()
    shot(page, "toolpage_arrows_ahead")
    eventually(
        lambda: (a := annotation(shell, 4)) is not None and bool(a.draft), timeout=5, what="draft of item 4"
    )
    assert annotation(shell, 4).draft["classifications"]["score"] == "4"
    for other in (1, 2, 3):  # nothing landed on an item only passed through
        kept = annotation(shell, other)
        assert kept is None or not (kept.draft or {}).get("classifications", {}).get("score")
    # ← goes back the same way, to the item before.
    page.keyboard.press("ArrowLeft")
    position(page, "3 / 5")
    expect(page.locator(".pc-cand", has_text="Candidate A for item 3")).to_be_visible()


def test_a_fast_run_of_arrows_loses_no_press(tmp_path, page):
    """→ pressed eight times back to back, faster than the server's reruns: every press counts (presses
    beyond the neighbours the canvas knows wait and add up), and the server ends on the item the canvas
    shows."""
    server = start_shell_app(tmp_path, items=12)
    try:
        open_tool(page, server)
        unfocus(page)
        position(page, "1 / 12")
        page.wait_for_timeout(500)
        for _ in range(8):
            page.keyboard.press("ArrowRight")
        position(page, "9 / 12")
        expect(page.locator(".pc-cand", has_text="Candidate A for item 9")).to_be_visible()
        expect(page).to_have_url(re.compile(r"item=9"))
        page.wait_for_timeout(1000)  # nothing more arrives that moves it on or back
        expect(page.locator(".pc-cand", has_text="Candidate A for item 9")).to_be_visible()
        position(page, "9 / 12")
    finally:
        server.stop()


def test_same_person_in_two_tabs_gets_a_conflict_message(shell, page):
    other = page.context.new_page()
    open_tool(page, shell)
    open_tool(other, shell)
    page.get_by_text("Invalid").click()
    page.get_by_role("textbox", name="Why is it invalid?").wait_for()
    page.wait_for_timeout(800)
    other.get_by_role("textbox", name="Reply").fill("from tab two")
    unfocus(other)
    other.get_by_text("changed in another tab").wait_for()
    shot(other, "toolpage_conflict")
    # Nothing of tab two overwrote tab one's draft.
    assert annotation(shell).draft["validity"] == "invalid"
    assert (annotation(shell).draft["classifications"] or {}).get("reply") is None
    other.get_by_role("button", name="Reload item").click()
    other.get_by_text("changed in another tab").wait_for(state="detached")
    other.wait_for_timeout(1000)  # stale elements of the last run fade out
    assert other.get_by_role("radio", name="Invalid").is_checked()


def test_evaluate_and_respond_pages_use_the_shell(app_server, page):
    """The real pages at their DESIGN.md addresses: deep link, canvas with images and three candidates."""
    from store.db import upgrade
    from tests.conftest import sign_in
    from tests.toolpage_data import seed

    upgrade(app_server.database_url)
    seed(app_server.engine(), blobs=app_server.blobs)
    sign_in(page, app_server, "ann", "password1")
    for path in ("evaluate", "respond"):
        page.goto(app_server.url + f"/{path}?dataset=demo&item=3")
        page.get_by_test_id("parley-bubble").first.wait_for(timeout=40_000)
        page.locator("strong", has_text="3 / 5").wait_for()
        assert page.get_by_test_id("parley-bubble").count() == 8
        assert page.get_by_role("button", name="Save").is_visible()
        assert page.get_by_role("button", name="Submit").is_visible()
    page.goto(app_server.url + "/evaluate?dataset=demo&item=1")
    page.locator("strong", has_text="1 / 5").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('*')].some(e => e.shadowRoot && "
        "[...e.shadowRoot.querySelectorAll('img.pc-thumb')].some(i => i.complete && i.naturalWidth > 0))"
    )
    page.keyboard.press("ArrowDown")
    shot(page, "evaluate_page_images_three_candidates")
