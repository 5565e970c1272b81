"""Tool-page latency in chromium: ↓ select, p pin, → next item on a 100,000-item dataset, cold open.

    .venv/bin/python bench/ui_latency.py [--items 100000] [--presses 50] [--gap 300] [--keep DIR]
                                          [--overlap 3 --team 5 --done 0.3]

Builds a SQLite database with bulk inserts (every item a 20-turn dialogue, the first message with 2
images), serves the tool-page shell (tests/shellapp/toolpage_app.py: the shell plus a small result panel)
and a bare one-button Streamlit page side by side, and drives both with Playwright. Times are measured
inside the page: from the key event's timestamp (or the click) to the frame where the change is in the DOM.
Prints median and p95 for each, and the ratio of → next item to the bare rerun.

The user "ann" is an annotator, so → walks My queue (store/team/queue.py): each press takes a lease on
the next item that still needs annotators. With --overlap/--team the dataset has that overlap and that many
annotators, the others having submitted the first --done fraction of the items (twice over: each of those
items has 2 of its slots taken, so the queue still hands it to ann).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from store.db import make_engine, upgrade  # noqa: E402
from store.models import Item  # noqa: E402
from tests.conftest import AppServer, free_port, wait_http  # noqa: E402
from tests.toolpage_data import add_asset, png, start_shell_app  # noqa: E402
from tests.utils import make_dataset, make_user  # noqa: E402

BARE_PAGE = """
import streamlit as st
st.session_state.setdefault("n", 0)
if st.button("Go"):
    st.session_state.n += 1
st.markdown(f"count {st.session_state.n}")
"""

# Cold opens are timed in the page: the frame in which the first bubble (inside the canvas's shadow root) or,
# on the bare page, the button is first in the DOM. (Playwright's wait_for polls at growing intervals, up to
# 500 ms apart, so the time it returns at is no measure of when the page showed something.)
FIRST_SEEN = """(() => {
  const deep = (root, sel) => {
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const f = deep(el.shadowRoot, sel); if (f) return f; }
    }
    return null;
  };
  window.__seen = {};
  const poll = () => {
    if (!("bubble" in window.__seen) && deep(document, '[data-testid="parley-bubble"]')) window.__seen.bubble = performance.now();
    if (!("button" in window.__seen) && document.querySelector('[data-testid="stButton"]')) window.__seen.button = performance.now();
    const done = "bubble" in window.__seen && "button" in window.__seen;
    if (!done && performance.now() < 10000) requestAnimationFrame(poll);  // (then it stops: no cost later)
  };
  requestAnimationFrame(poll);
})()"""
# The page's script has finished its run (Streamlit's own marker on the app's root).
IDLE = "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'"
# Installed in the page: the last key event's timestamp, and waiters that resolve on the frame where a
# condition first holds (so the figure is "visible", not "in the DOM somewhere").
PROBE = """
() => {
  window.__lastKey = 0;
  window.addEventListener('keydown', (e) => { window.__lastKey = e.timeStamp; }, true);
  window.__canvas = () => {
    for (const el of document.querySelectorAll('*')) {
      if (el.shadowRoot && el.shadowRoot.querySelector('.pc')) return el.shadowRoot;
    }
    return null;
  };
  window.__until = (check) => new Promise((resolve) => {
    const t0 = window.__lastKey;
    const give_up = performance.now() + 10000;
    const tick = () => {
      if (check()) resolve(performance.now() - t0);
      else if (performance.now() > give_up) resolve(NaN);
      else requestAnimationFrame(tick);
    };
    tick();
  });
}
"""


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Between two series of presses: the canvas reports a run of ↑/↓ to Python 150 ms after it rests, and
    the rerun that follows is not to be timed as part of the next series."""
    page.wait_for_timeout(400)
    page.wait_for_function(IDLE)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, values: list[float]) -> dict[str, float]:
    """Print and return median and p95 (NaN: a press that showed nothing within 10 s)."""
    failed = sum(1 for v in values if v != v)
    values = [v for v in values if v == v] or [float("nan")]
    if failed:
        print(f"{name}: {failed} presses showed nothing within 10 s")
    med, p95 = statistics.median(values), pct(values, 95)
    print(f"{name:<34} n={len(values):>3}  median {med:7.1f} ms   p95 {p95:7.1f} ms")
    return {"median": med, "p95": p95}


def team_progress(url: str, *, overlap: int, team: int, done: float) -> None:
    """Overlap `overlap`, `team` annotators; the others submitted the first `done` of the items twice over."""
    from sqlalchemy import text

    from store.models import Annotation, Dataset
    from store.team.settings import configure_dataset

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        admin = make_user(session, "boss", role="admin")
        others = [make_user(session, f"ann{n}") for n in range(2, team + 1)]
        ds = session.exec(select(Dataset).where(Dataset.name == "bench")).one()
        configure_dataset(session=session, user=admin, dataset_id=ds.id, overlap=overlap)
        session.commit()
        ids = session.exec(select(Item.id).where(Item.dataset_id == ds.id).order_by(Item.position)).all()
        cut = int(len(ids) * done)
        rows = [
            {"item_id": item_id, "dataset_id": ds.id, "annotator_id": others[(k + j) % len(others)].id,
             "status": "submitted", "classifications": {}, "version": 2}
            for k, item_id in enumerate(ids[:cut]) for j in range(min(2, len(others)))
        ]  # fmt: skip
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Annotation), rows[start : start + 20_000])
        session.execute(
            text(
                "UPDATE item SET taken = (SELECT count(*) FROM annotation a WHERE a.item_id = item.id), "
                "full = (SELECT count(*) FROM annotation a WHERE a.item_id = item.id) >= :n WHERE dataset_id = :d"
            ),
            {"n": overlap, "d": ds.id},
        )
        session.commit()
    engine.dispose()
    print(f"team: overlap {overlap}, {team} annotators, {len(rows)} submitted annotations by the others")


def build_database(tmp: Path, n_items: int) -> str:
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        make_user(session, "ann")
        ds = make_dataset(session, "bench")
        images = [add_asset(session, png((200, 60, 60)), str(tmp / "blobs")),
                  add_asset(session, png((60, 60, 200)), str(tmp / "blobs"))]  # fmt: skip
        chunk: list[dict] = []
        for i in range(1, n_items + 1):
            messages = [
                {
                    "role": "user" if t % 2 == 0 else "bot",
                    "text": f"Item {i} turn {t + 1}: a short line of text.",
                }
                for t in range(20)
            ]
            messages[0]["images"] = images
            chunk.append({
                "dataset_id": ds.id, "external_id": str(i), "name": "", "position": i, "messages": messages,
                "candidates": [{"text": f"Item {i} reply A"}, {"text": f"Item {i} reply B"}],
                "meta": {},
            })  # fmt: skip
            if len(chunk) == 10_000:
                session.execute(insert(Item), chunk)
                chunk = []
        if chunk:
            session.execute(insert(Item), chunk)
        session.commit()
    engine.dispose()
    print(f"database: {n_items} items in {time.perf_counter() - started:.1f} s")
    return url


def start_bare(tmp: Path) -> AppServer:
    script = tmp / "bare" / "bare.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(BARE_PAGE)
    port = free_port()
    log = tmp / "bare.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--server.fileWatcherType=none",
         "--browser.gatherUsageStats=false"],
        cwd=tmp, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = AppServer(url=f"http://127.0.0.1:{port}", database_url="", blobs="", env={}, proc=proc, log=log)
    wait_http(server.url + "/_stcore/health", timeout=60, proc=proc)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=50)
    parser.add_argument("--gap", type=int, default=300, help="ms an annotator reads before pressing → again")
    parser.add_argument("--keep", help="work in this folder and keep it (reuses its database)")
    parser.add_argument("--overlap", type=int, default=0, help="the dataset's overlap (with --team)")
    parser.add_argument("--team", type=int, default=5, help="annotators, ann included (with --overlap)")
    parser.add_argument("--done", type=float, default=0.3, help="share of items the others submitted")
    args = parser.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="parley-ui-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    if (tmp / "bench.db").exists():
        url = f"sqlite:///{tmp}/bench.db"
    else:
        url = build_database(tmp, args.items)
        if args.overlap:
            team_progress(url, overlap=args.overlap, team=args.team, done=args.done)

    from playwright.sync_api import sync_playwright

    shell = start_shell_app(tmp, database_url=url, seed_data=False)
    bare = start_bare(tmp)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            browser_context = browser.new_context(viewport={"width": 1400, "height": 900})
            browser_context.add_init_script(FIRST_SEEN)
            browser_context.set_default_timeout(30_000)
            page = browser_context.new_page()

            # Cold open: navigation start → first bubble in the DOM, in a new tab (a new Streamlit session;
            # the browser's cache holds Streamlit's scripts, as for anyone who opened the app before).
            # Apart: the first open after the server started (its imports) and a first-ever visit (a fresh
            # browser profile, nothing cached).
            def cold_open(context_page) -> float:  # type: ignore[no-untyped-def]
                context_page.goto(shell.url + "/?dataset=bench&item=1", wait_until="commit")
                context_page.get_by_test_id("parley-bubble").first.wait_for()
                opened = context_page.evaluate("window.__seen.bubble")
                # Let the page finish (the rest is drawn after the first paint) before the tab closes, so
                # the next cold open does not share the server and the browser with this one's last run.
                context_page.get_by_role("button", name="Save").wait_for()
                context_page.wait_for_function(IDLE)
                context_page.close()
                return opened

            results = {
                "first open after server start": report("first open after server start", [cold_open(page)])
            }
            cold = [cold_open(browser_context.new_page()) for _ in range(5)]
            results["cold open → first bubble"] = report("cold open (new tab)", cold)
            fresh = []
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_init_script(FIRST_SEEN)
                fresh.append(cold_open(context.new_page()))
                context.close()
            report("first-ever visit (empty cache)", fresh)
            page = browser_context.new_page()
            page.goto(shell.url + "/?dataset=bench&item=1")
            page.get_by_test_id("parley-bubble").first.wait_for()
            # The dialogue is painted first, the page around it a moment later (components/toolpage
            # _first_paint): the presses below measure the page at rest, once it is all there.
            page.get_by_role("button", name="Save").wait_for()
            page.wait_for_function(IDLE)
            page.evaluate(PROBE)
            page.evaluate("document.activeElement && document.activeElement.blur()")

            select = []
            ids = [f"m{i}" for i in range(20)]
            at = -1
            for n in range(args.presses):
                down = (n // 10) % 2 == 0 or at <= 0
                key = "ArrowDown" if down else "ArrowUp"
                at = min(len(ids) - 1, at + 1) if down else max(0, at - 1)
                page.keyboard.press(key)
                select.append(page.evaluate(
                    "(id) => window.__until(() => window.__canvas()?.querySelector(`.pc-list .pc-b.pc-sel[data-id='${id}']`))",
                    ids[at],
                ))  # fmt: skip
            results["↓/↑ select bubble"] = report("↓/↑ select bubble", select)
            settle(page)

            pin = []
            for n in range(args.presses):
                want = 1 if n % 2 == 0 else 0
                page.keyboard.press("p")
                pin.append(page.evaluate(
                    "(want) => window.__until(() => (window.__canvas()?.querySelectorAll('.pc-pins .pc-b').length ?? 0) === want)",
                    want,
                ))  # fmt: skip
            results["p pin / unpin"] = report("p pin / unpin", pin)

            # → next item, twice: an annotator who reads each dialogue (a pause of --gap ms after the text
            # shows) and back-to-back presses (a burst, faster than the server's reruns: the canvas shows the
            # AHEAD items it was sent at once, then waits for the server's next ones).
            settle(page)
            shown = 1
            for label, gap in (
                (f"→ next item (reading, {args.gap} ms gap)", args.gap),
                ("→ next item (burst)", 0),
            ):
                nxt = []
                for _ in range(args.presses):
                    shown += 1
                    expected = f"Item {shown} turn 20:"
                    page.keyboard.press("ArrowRight")
                    nxt.append(page.evaluate(
                        "(t) => window.__until(() => (window.__canvas()?.querySelector('.pc-list')?.textContent || '').includes(t))",
                        expected,
                    ))  # fmt: skip
                    if nxt[-1] != nxt[-1]:
                        now = page.evaluate(
                            "window.__canvas()?.querySelector('.pc-list')?.textContent?.slice(0, 60)"
                        )
                        print(f"→ expected {expected!r}, the canvas shows {now!r}")
                    page.wait_for_timeout(gap)
                # Every press must have landed on the server too: the toolbar shows the place of the last item.
                page.get_by_text(f"{shown} / {args.items}", exact=True).wait_for(timeout=10_000)
                results[label] = report(label, nxt)

            page.goto(bare.url)
            page.get_by_role("button", name="Go").wait_for()
            bare_times = []
            for n in range(args.presses):
                bare_times.append(page.evaluate(
                    """(n) => new Promise((resolve) => {
                        const button = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Go');
                        const t0 = performance.now();
                        button.click();
                        const tick = () => document.body.innerText.includes('count ' + n)
                            ? resolve(performance.now() - t0) : requestAnimationFrame(tick);
                        tick();
                    })""",
                    n + 1,
                ))  # fmt: skip
            results["bare rerun"] = report("bare Streamlit rerun (1 button)", bare_times)

            # The floor under "cold open": the bare page opened the same way (new tab, cached scripts) until
            # its button is in the DOM.
            def bare_open(context_page) -> float:  # type: ignore[no-untyped-def]
                context_page.goto(bare.url, wait_until="commit")
                context_page.get_by_role("button", name="Go").wait_for()
                opened = context_page.evaluate("window.__seen.button")
                context_page.wait_for_function(IDLE)  # as for the tool page
                context_page.close()
                return opened

            report("bare page cold open (new tab)", [bare_open(browser_context.new_page()) for _ in range(5)])
            browser.close()
    finally:
        shell.stop()
        bare.stop()
    ratio = results[f"→ next item (reading, {args.gap} ms gap)"]["median"] / results["bare rerun"]["median"]
    print(f"→ next item / bare rerun (medians): {ratio:.2f}×")
    print("targets: select and pin p95 ≤ 50 ms; next median ≤ 150, p95 ≤ 250 and ≤ 2× bare; cold ≤ 1500 ms")


if __name__ == "__main__":
    main()
