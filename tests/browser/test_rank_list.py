"""The drag-to-rank list (components/rank_list) in the browser, in a test-only app: mouse drag, Alt+↑/↓,
unranked rows, View mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, ROOT, free_port, wait_http


@pytest.fixture(scope="module")
def rank_app(tmp_path_factory):  # type: ignore[no-untyped-def]
    """`streamlit run tests/shellapp/rank_list_app.py` on a free port; yields its URL."""
    tmp = tmp_path_factory.mktemp("rank_list")
    port = free_port()
    log = tmp / "streamlit.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tests/shellapp/rank_list_app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--server.fileWatcherType=none",
         "--browser.gatherUsageStats=false"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=60, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def open_app(page, url: str, order: str = "0,1,2") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/?order={order}")
    expect(page.locator(".rl-row")).to_have_count(3)
    expect(page.get_by_text(f"order: [{order.replace(',', ', ')}]")).to_be_visible()


def row(page, label: str):  # type: ignore[no-untyped-def]
    return page.locator(".rl-row", has_text=label)


def shown(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Labels of the rows as they stand on screen now, and where the "not ranked yet" divider is."""
    return page.locator(".rl-list").evaluate(
        "l => Array.from(l.children).map(n => n.classList.contains('rl-divider') ? '--' "
        ": n.querySelector('.rl-rank').textContent + ' ' + n.querySelector('.rl-label').textContent)"
    )


def drag(page, source: str, above: str) -> None:  # type: ignore[no-untyped-def]
    """Press on `source`'s row, move in steps to the top quarter of `above`'s row, release."""
    a = row(page, source).bounding_box()
    b = row(page, above).bounding_box()
    assert a and b
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 4, steps=12)
    page.mouse.up()


def test_drag_with_the_mouse_reorders_at_once_and_reaches_the_server(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    open_app(page, rank_app)
    assert shown(page) == ["1 Candidate A", "2 Candidate B", "3 Candidate C"]
    # The model name and the reply's start show; data is text, never markup.
    expect(row(page, "Candidate C")).to_contain_text("claude")
    expect(row(page, "Candidate C")).to_contain_text("<b>not bold</b> & the capital is Paris")
    expect(row(page, "Candidate A").locator(".rl-hint")).to_have_text(
        "Paris is the capital of France. It has been the seat of government since the ten…"
    )

    drag(page, "Candidate C", above="Candidate A")
    # Drawn in the browser at once: read right after the release, without waiting for the server.
    assert shown(page) == ["1 Candidate C", "2 Candidate A", "3 Candidate B"]
    expect(page.get_by_text("order: [2, 0, 1]")).to_be_visible()
    expect(page.get_by_text("changes: 1")).to_be_visible()
    expect(page.get_by_text("callback saw: [2, 0, 1]")).to_be_visible()  # on_change reads last_drop()
    assert shown(page) == ["1 Candidate C", "2 Candidate A", "3 Candidate B"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".stMain").screenshot(path=str(ARTIFACTS / "rank_list.png"))

    # Another widget sets the ranks: the list redraws in the server's order, and the old drop stays done.
    page.get_by_role("button", name="Reverse").click()
    expect(page.get_by_text("order: [1, 0, 2]")).to_be_visible()
    expect(page.locator(".rl-list")).to_have_attribute("data-order", "1,0,2")
    assert shown(page) == ["1 Candidate B", "2 Candidate A", "3 Candidate C"]
    expect(page.get_by_text("changes: 1")).to_be_visible()

    # A reload (a new session here) draws the server's order.
    page.reload()
    expect(page.locator(".rl-row")).to_have_count(3)
    expect(page.get_by_text("order: [0, 1, 2]")).to_be_visible()  # a new session: the URL's order
    expect(page.locator(".rl-list")).to_have_attribute("data-order", "0,1,2")


def test_alt_arrows_move_the_focused_row_and_plain_keys_pass_through(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    open_app(page, rank_app)
    page.evaluate("window.__keys = []; window.addEventListener('keydown', e => window.__keys.push(e.key))")
    row(page, "Candidate B").focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("3")
    assert page.evaluate("window.__keys") == ["ArrowUp", "3"]  # the page's keys are not taken
    assert shown(page) == ["1 Candidate A", "2 Candidate B", "3 Candidate C"]

    page.keyboard.press("Alt+ArrowUp")
    assert shown(page) == ["1 Candidate B", "2 Candidate A", "3 Candidate C"]
    expect(page.get_by_text("order: [1, 0, 2]")).to_be_visible()
    page.keyboard.press("Alt+ArrowDown")
    page.keyboard.press("Alt+ArrowDown")
    expect(page.get_by_text("order: [0, 2, 1]")).to_be_visible()
    assert shown(page) == ["1 Candidate A", "2 Candidate C", "3 Candidate B"]
    # Below the last rank: not ranked.
    page.keyboard.press("Alt+ArrowDown")
    expect(page.get_by_text("order: [0, 2]")).to_be_visible()
    assert shown(page) == ["1 Candidate A", "2 Candidate C", "--", "– Candidate B"]
    assert "Alt" in page.evaluate("window.__keys") and "ArrowDown" not in page.evaluate("window.__keys")
    expect(row(page, "Candidate B")).to_be_focused()


def test_dropping_an_unranked_row_ranks_it(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    open_app(page, rank_app, order="0,1")
    assert shown(page) == ["1 Candidate A", "2 Candidate B", "--", "– Candidate C"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".stMain").screenshot(path=str(ARTIFACTS / "rank_list_unranked.png"))
    drag(page, "Candidate C", above="Candidate B")
    assert shown(page) == ["1 Candidate A", "2 Candidate C", "3 Candidate B"]
    expect(page.get_by_text("order: [0, 2, 1]")).to_be_visible()


def test_tied_candidates_show_one_rank_until_a_drop_splits_them(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{rank_app}/?order=0,1,2&ranks=1,1,3")
    expect(page.get_by_text("order: [0, 1, 2]")).to_be_visible()
    expect(page.locator(".rl-list")).to_have_attribute("data-order", "0,1,2")
    assert shown(page) == ["1 Candidate A", "1 Candidate B", "3 Candidate C"]
    drag(page, "Candidate C", above="Candidate A")
    assert shown(page) == [
        "1 Candidate C",
        "2 Candidate A",
        "3 Candidate B",
    ]  # places until the server answers
    expect(page.get_by_text("order: [2, 0, 1]")).to_be_visible()


def test_view_mode_moves_nothing(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    open_app(page, rank_app)
    page.get_by_text("View", exact=True).click()
    expect(row(page, "Candidate A")).to_have_attribute("aria-disabled", "true")
    drag(page, "Candidate C", above="Candidate A")
    row(page, "Candidate B").focus()
    page.keyboard.press("Alt+ArrowUp")
    assert shown(page) == ["1 Candidate A", "2 Candidate B", "3 Candidate C"]
    time.sleep(1.0)  # nothing is sent: give a stray run time to show up
    expect(page.get_by_text("order: [0, 1, 2]")).to_be_visible()
    expect(page.get_by_text("changes: 0")).to_be_visible()
    assert shown(page) == ["1 Candidate A", "2 Candidate B", "3 Candidate C"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".stMain").screenshot(path=str(ARTIFACTS / "rank_list_view.png"))
    # Back to Edit: moves work again.
    page.get_by_text("View", exact=True).click()
    expect(row(page, "Candidate A")).to_have_attribute("aria-disabled", "false")
    drag(page, "Candidate C", above="Candidate A")
    expect(page.get_by_text("order: [2, 0, 1]")).to_be_visible()


def test_a_finger_drags_by_the_handle(browser, rank_app) -> None:  # type: ignore[no-untyped-def]
    """Touch goes through the same pointer events; only the handle starts a drag (a row still scrolls)."""
    context = browser.new_context(viewport={"width": 800, "height": 900}, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        open_app(page, rank_app)
        cdp = context.new_cdp_session(page)

        def swipe(start: dict, end: dict) -> None:
            """A straight vertical swipe (a sideways one would be the browser's back gesture)."""
            end = {"x": start["x"], "y": end["y"]}
            points = 10
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
            for i in range(1, points + 1):
                x = start["x"] + (end["x"] - start["x"]) * i / points
                y = start["y"] + (end["y"] - start["y"]) * i / points
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        def center(locator) -> dict:  # type: ignore[no-untyped-def]
            box = locator.bounding_box()
            return {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}

        def top_of_a() -> dict:
            a = row(page, "Candidate A").bounding_box()
            return {"x": a["x"] + a["width"] / 2, "y": a["y"] + a["height"] / 4}

        # A finger on the reply text does not drag.
        swipe(center(row(page, "Candidate C").locator(".rl-label")), top_of_a())
        assert shown(page) == ["1 Candidate A", "2 Candidate B", "3 Candidate C"]
        # A finger on the handle does.
        swipe(center(row(page, "Candidate C").locator(".rl-handle")), top_of_a())
        assert shown(page) == ["1 Candidate C", "2 Candidate A", "3 Candidate B"]
        expect(page.get_by_text("order: [2, 0, 1]")).to_be_visible()
    finally:
        context.close()


def test_a_long_model_name_ends_inside_its_row_and_shows_whole_on_hover(page, rank_app) -> None:  # type: ignore[no-untyped-def]
    open_app(page, rank_app)
    sub = row(page, "Candidate C").locator(".rl-sub")
    name = "claude-" + "-".join(["long-deployment-name"] * 12)
    expect(sub).to_have_attribute("title", name)
    inside = row(page, "Candidate C").evaluate(
        "r => r.querySelector('.rl-sub').getBoundingClientRect().right <= r.getBoundingClientRect().right"
    )
    assert inside, "the model name runs past the row's edge"
