"""Evaluate page speed in chromium on SQLite with 100,000 items: a number hotkey picking a score option
(keydown → option checked on screen) and Save (Ctrl+S → the "Saved." toast shown), 50 presses each, median and p95;
the page opened cold in a new tab (first bubble): the server's first, then 5 more;
plus the store's save_annotation alone on the same database.

    .venv/bin/python bench/evaluate_latency.py [--items 100000] [--presses 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.ui_latency import FIRST_SEEN, IDLE  # noqa: E402
from store.annotations import load_work, save_annotation  # noqa: E402
from store.models import Item, User  # noqa: E402
from tests.browser.test_evaluate_data import make_hh_dataset  # noqa: E402
from tests.conftest import CHROMIUM, DATASETS, start_app  # noqa: E402

# In the page: time from the keydown (capture phase, first listener) until `done()` holds, checked every frame.
ARM = """() => { window.__t0 = null;
  if (!window.__armed) { window.__armed = true;
    window.addEventListener('keydown', () => { if (window.__t0 === null) window.__t0 = performance.now(); }, true); } }"""
CHECKED = """(k) => { const labels = [...document.querySelectorAll('[data-testid=stRadio] label')];
  const l = labels.find(x => x.innerText.trim() === k); const i = l && l.querySelector('input');
  return i && i.checked && window.__t0 !== null ? performance.now() - window.__t0 : false; }"""
# Save is answered by the "Saved." toast: a MutationObserver notes when one is added after the keydown.
ARM_SAVED = """() => { window.__t0 = null; window.__saved = null;
  if (!window.__obs) { window.__obs = new MutationObserver(() => {
      if (window.__t0 === null || window.__saved !== null) return;
      const t = [...document.querySelectorAll('[data-testid=stToast]')].some(e => e.innerText.includes('Saved.'));
      if (t) window.__saved = performance.now() - window.__t0; });
    window.__obs.observe(document.body, {childList: true, subtree: true}); } }"""
SAVED = "() => window.__saved !== null ? window.__saved : false"


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * len(values))) - 1)]
    return f"{name}: n={len(values)} median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, max {values[-1]:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=50)
    parser.add_argument("--gap", type=int, default=400, help="ms between presses")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-eval-"))
    server = start_app(tmp)
    try:
        engine = server.engine()
        started = time.perf_counter()
        make_hh_dataset(engine, DATASETS, n=5, filler=args.items - 5)
        print(f"dataset: {args.items} items on SQLite in {time.perf_counter() - started:.1f} s")
        server.add_user("ann", "password1", role="annotator")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(20_000)
            # Signed in on Home, then the server's first Evaluate page in a new tab: navigation start → the
            # frame with the first bubble in the DOM (timed in the page, see bench/ui_latency.py).
            home = context.new_page()
            home.goto(server.url + "/")
            home.get_by_role("textbox", name="Username").fill("ann")
            home.get_by_role("textbox", name="Password").fill("password1")
            home.get_by_role("button", name="Sign in").click()
            home.get_by_role("button", name="Sign out").wait_for()
            home.wait_for_function(IDLE)
            context.add_init_script(FIRST_SEEN)
            page = context.new_page()
            page.goto(server.url + "/evaluate?dataset=hh&item=1", wait_until="commit")
            page.locator("[data-testid=parley-bubble][data-id=m3]").wait_for()
            first_open = page.evaluate("window.__seen.bubble")
            home.close()
            page.get_by_role("button", name="Save").wait_for()
            page.wait_for_function(IDLE)
            for _ in range(4):  # ↓ to the second bot bubble
                page.keyboard.press("ArrowDown")
            page.get_by_text("Classes · Message 4 (bot)").wait_for()
            page.keyboard.press("1")
            page.get_by_text("▸ score *").wait_for()
            page.wait_for_timeout(500)

            hotkey, save = [], []
            for i in range(args.presses):
                key = "45"[i % 2]
                page.evaluate(ARM)
                page.keyboard.press(key)
                hotkey.append(page.wait_for_function(CHECKED, arg=key, polling="raf").json_value())
                page.wait_for_timeout(
                    args.gap
                )  # the rest of that run (canvas, draft) ends before the next key
            for i in range(args.presses):
                page.keyboard.press("45"[i % 2])  # a change to save
                page.wait_for_function(CHECKED, arg="45"[i % 2], polling="raf")
                page.wait_for_timeout(args.gap)
                for _ in range(20):  # close the toasts on screen, so the next "Saved." is a new one
                    toasts = page.get_by_test_id("stToast")
                    if toasts.count() == 0:
                        break
                    toasts.first.get_by_role("button").click(timeout=2000)
                    page.wait_for_timeout(100)
                page.evaluate(ARM)
                page.evaluate(ARM_SAVED)
                page.keyboard.press("Control+s")
                save.append(page.wait_for_function(SAVED, polling="raf").json_value())
                page.wait_for_timeout(args.gap)
            page.screenshot(path=str(tmp / "bench.png"))

            # Cold opens of the page itself, signed in (the session cookie), a new tab each time.
            cold = []
            for _ in range(5):
                tab = context.new_page()
                tab.goto(server.url + "/evaluate?dataset=hh&item=2", wait_until="commit")
                tab.locator("[data-testid=parley-bubble]").first.wait_for()
                cold.append(tab.evaluate("window.__seen.bubble"))
                tab.get_by_role("button", name="Save").wait_for()  # the page is drawn around the dialogue
                tab.wait_for_function(IDLE)
                tab.close()
            browser.close()
        print(summary("number hotkey → option checked", hotkey))
        print(summary("Ctrl+S → Saved. toast shown", save))
        print(f"first Evaluate open after the server started → first bubble: {first_open:.0f} ms")
        print(summary("cold open (new tab, signed in) → first bubble", cold))

        # The store alone, the same work on the same 100,000-item database.
        with Session(engine) as session:
            user = session.exec(select(User).where(User.username == "ann")).one()
            item = session.exec(select(Item).where(Item.external_id == "1")).one()
            store_times = []
            for i in range(args.presses):
                loaded = load_work(session=session, user=user, item_id=item.id)
                work = loaded.work
                work["results"][0]["values"]["score"] = "45"[i % 2]
                t0 = time.perf_counter()
                save_annotation(
                    session=session, user=user, item_id=item.id, work=work, version=loaded.version
                )
                store_times.append((time.perf_counter() - t0) * 1000)
        print(summary("store.save_annotation", store_times))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
