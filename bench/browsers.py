"""Six annotators at once in real browsers, by keyboard, through one app server (SQLite): nothing lost, no
error, and how long each key takes.

Each annotator is its own chromium context (its own session cookie) driven by Playwright's async API, all
in one browser, all at the same time, on Evaluate's My queue (overlap 1): on every item ↓ selects the bot's reply,
`1` chooses the class "Quality" (its score attribute gets the focus), a digit 1–5 (random) picks the score,
and Ctrl+Enter submits and opens the next item. Each step waits for what the screen shows after it, as a
person would. Timed from just before the key is sent:
  - score: the digit until its radio option shows checked;
  - saved: Ctrl+Enter until the submission is committed (the annotation's submitted_at, set by the server
    in the saving transaction, on this machine's clock);
  - next: Ctrl+Enter until the next item's dialogue is on screen.
Checks at the end: every submission the harness made is in the database, submitted, with exactly the keyed
score on the bot's reply, no item went to two annotators; no Streamlit exception box, no error in any
page's console and no uncaught page error.

    .venv/bin/python bench/browsers.py [--sessions 6] [--seconds 60]

Prints the counts, p50/p95/max of each latency, loadavg; exits 1 when a check failed.
tests/browser/test_browsers.py runs it until every annotator has submitted 2 items (15 s at most).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402

from core.aio import run_in_own_loop  # noqa: E402
from store import db  # noqa: E402
from store.models import Annotation, Item, OntologyClass, Result, User  # noqa: E402
from store.sessions import COOKIE, create_session  # noqa: E402

PASSWORD = "keyboard-pass-1"
ONTOLOGY = {
    "classes": [
        {"name": "quality", "alias": "Quality", "number": 1, "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"], "required": True}]},
    ]
}  # fmt: skip
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
IDLE = "() => { const a = document.querySelector('[data-testid=stApp]'); return a && a.getAttribute('data-test-script-state') === 'notRunning' && !document.querySelector('[data-testid=stStatusWidget]'); }"  # noqa: E501
CHECKED = """(k) => { const labels = [...document.querySelectorAll('[data-testid=stRadio] label')];
  const l = labels.find(x => x.innerText.trim() === k); const i = l && l.querySelector('input');
  return Boolean(i && i.checked); }"""
TIMEOUT_MS = 30_000


def items(n: int) -> list[dict]:
    return [
        {"id": f"k{i}", "messages": [{"role": "user", "content": f"Question {i}: name a colour."},
                                     {"role": "assistant", "content": f"Answer {i}: blue."}]}
        for i in range(n)
    ]  # fmt: skip


@dataclass
class Submitted:
    annotator: str
    item: str
    score: str
    pressed: float  # time.time() just before Ctrl+Enter


@dataclass
class Outcome:
    sessions: int
    seconds: float
    submitted: list[Submitted] = field(default_factory=list)
    score_ms: list[float] = field(default_factory=list)
    next_ms: list[float] = field(default_factory=list)
    saved_ms: list[float] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    probes_404: int = 0

    @property
    def passed(self) -> bool:
        return bool(self.submitted) and not (
            self.exceptions
            or self.console_errors
            or self.page_errors
            or self.lost
            or self.doubled
            or self.stalled
        )


PROBES = ("/_stcore/health", "/_stcore/host-config")


def _watch(page, username: str, out: Outcome) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Console errors, uncaught page errors and failed responses of one page. Streamlit's frontend, opened
    on a page's address (/evaluate), first asks /evaluate/_stcore/health and /evaluate/_stcore/host-config,
    gets 404 and asks the server's root: its own probe, whose "Failed to load resource" console lines are
    counted apart (as many as those 404 responses); any other 404 or error counts."""
    seen = {"probes": 0, "console_404": 0}

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and "404" in message.text:
            seen["console_404"] += 1  # (set against the probes at the end: the two events come in any order)
            return
        out.console_errors.append(f"{username}: {message.text[:300]}")

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.status == 404 and response.url.endswith(PROBES):
            seen["probes"] += 1
        elif response.status >= 400:
            out.console_errors.append(f"{username}: HTTP {response.status} {response.url}")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda e: out.page_errors.append(f"{username}: {str(e)[:300]}"))
    return seen


def _settle_404s(seen: dict[str, int], username: str, out: Outcome) -> None:
    out.probes_404 += min(seen["console_404"], seen["probes"])
    extra = seen["console_404"] - seen["probes"]
    if extra > 0:
        out.console_errors.append(
            f"{username}: {extra} 'Failed to load resource: 404' not from Streamlit's probes"
        )


def _item_of(url: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get("item") or [None])[0]


async def _sign_in(page, base: str, token: str) -> None:  # type: ignore[no-untyped-def]
    """Signed in by the session cookie the sign-in form would have set (a session made in the store: the
    form itself is tested in tests/browser/test_auth.py), then Evaluate."""
    await page.context.add_cookies([{"name": COOKIE, "value": token, "url": base}])
    await page.goto(base + "/evaluate")
    await page.get_by_role("button", name="Sign out").wait_for(state="attached", timeout=TIMEOUT_MS)


def _tokens(engine, usernames: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.write_session(engine) as session:
        users = session.exec(select(User).where(User.username.in_(usernames))).all()  # type: ignore[attr-defined]
        return {u.username: create_session(session=session, user=u) for u in users}


async def _annotator(
    browser,
    base: str,
    username: str,
    clock: dict[str, float],
    start: asyncio.Barrier,
    out: Outcome,
    rng: random.Random,
) -> None:  # type: ignore[no-untyped-def]
    """One annotator: signs in, waits until every annotator has (the timed window starts together), then
    annotates items until the window ends (the item in hand is finished)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen = _watch(page, username, out)
    try:
        try:
            await _sign_in(page, base, clock["tokens"][username])
        except BaseException:
            await start.abort()  # the others do not wait for this one
            raise
        await start.wait()
        clock.setdefault("start", time.monotonic())
        clock.setdefault("until", clock["start"] + clock["seconds"])
        done = clock["done"]
        while time.monotonic() < clock["until"]:
            bot = page.locator("[data-testid=parley-bubble][data-id=m1]")
            await bot.wait_for()
            await page.wait_for_function(IDLE, polling="raf")
            item = _item_of(page.url)
            if item is None:
                out.stalled.append(f"{username}: no item in the URL {page.url}")
                return
            for _ in range(4):  # ↓ until the bot's reply is selected (the selection is drawn in the page)
                if "pc-sel" in (await bot.get_attribute("class") or ""):
                    break
                await page.keyboard.press("ArrowDown")
            await page.get_by_text("Classes · Message 2 (bot)").wait_for()
            await page.keyboard.press("1")
            await page.get_by_text("▸ score *", exact=True).wait_for()
            await page.wait_for_function(IDLE, polling="raf")
            score = str(rng.randint(1, 5))
            t0 = time.monotonic()
            await page.keyboard.press(score)
            await page.wait_for_function(CHECKED, arg=score, polling="raf")
            out.score_ms.append((time.monotonic() - t0) * 1000)
            await page.wait_for_function(IDLE, polling="raf")
            pressed, t0 = time.time(), time.monotonic()
            await page.keyboard.press("Control+Enter")
            await page.wait_for_function(
                "(old) => { const u = new URLSearchParams(location.search).get('item'); return u && u !== old; }",
                arg=item, polling="raf",
            )  # fmt: skip
            new = _item_of(page.url) or ""
            await (
                page.locator("[data-testid=parley-bubble][data-id=m0]")
                .filter(has_text=f"Question {new.removeprefix('k')}:")
                .wait_for()
            )
            out.next_ms.append((time.monotonic() - t0) * 1000)
            out.submitted.append(Submitted(username, item, score, pressed))
            done[username] = done.get(username, 0) + 1
            if clock["enough"] and len(done) == clock["sessions"] and min(done.values()) >= clock["enough"]:
                clock["until"] = time.monotonic()  # every annotator has enough: the others finish their item
            if await page.get_by_test_id("stException").count():
                text = await page.get_by_test_id("stException").first.inner_text()
                out.exceptions.append(f"{username} after {item}: {text[:500]}")
        if await page.get_by_test_id("stException").count():
            out.exceptions.append(
                f"{username}: {await page.get_by_test_id('stException').first.inner_text()}"
            )
        if clock.get("shot") and username == "kb1":
            await page.screenshot(path=str(clock["shot"]), full_page=True)
    except Exception as exc:  # a step that never came: a stall is a failure, with a screenshot
        out.stalled.append(f"{username}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        shot = Path(tempfile.gettempdir()) / f"parley-browsers-{username}.png"
        try:
            await page.screenshot(path=str(shot), full_page=True)
            out.stalled.append(f"  screenshot: {shot}")
        except Exception:
            pass
    finally:
        await context.close()
        _settle_404s(seen, username, out)


def check_database(engine, out: Outcome) -> None:  # type: ignore[no-untyped-def]
    """Every submission made is stored, submitted, with the keyed score; each item has one annotator."""
    with Session(engine) as s:
        rows = s.exec(
            select(User.username, Item.external_id, Annotation.status, Annotation.submitted_at, Result.values)
            .join(Annotation, Annotation.annotator_id == User.id)
            .join(Item, Item.id == Annotation.item_id)
            .join(Result, Result.annotation_id == Annotation.id, isouter=True)
            .join(OntologyClass, OntologyClass.id == Result.class_id, isouter=True)
        ).all()
    stored: dict[tuple[str, str], list[tuple[str, datetime | None, dict | None]]] = {}
    for user, item, status, at, values in rows:
        stored.setdefault((user, item), []).append((status, at, values))
    by_item: dict[str, set[str]] = {}
    for user, item in stored:
        by_item.setdefault(item, set()).add(user)
    out.doubled = [f"{item}: {sorted(users)}" for item, users in by_item.items() if len(users) > 1]
    for sub in out.submitted:
        got = stored.get((sub.annotator, sub.item))
        want = [("submitted", {"score": sub.score})]
        if got is None or [(status, values) for status, _, values in got] != want:
            out.lost.append(f"{sub.annotator} {sub.item}: keyed score {sub.score}, stored {got}")
            continue
        at = got[0][1]
        if at is not None:
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            out.saved_ms.append((at.timestamp() - sub.pressed) * 1000)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(out: Outcome) -> list[str]:
    lines = [
        f"{out.sessions} sessions for {out.seconds:.0f} s: {len(out.submitted)} items submitted by keyboard "
        f"({len(out.submitted) / out.seconds * 60:.0f} a minute)"
    ]
    for name, values in (("score key -> option checked", out.score_ms), ("Ctrl+Enter -> saved", out.saved_ms),
                         ("Ctrl+Enter -> next item shown", out.next_ms)):  # fmt: skip
        if values:
            lines.append(
                f"  {name:30} n={len(values):4}  p50 {statistics.median(values):7.0f} ms  "
                f"p95 {_pct(values, 95):7.0f} ms  max {max(values):7.0f} ms"
            )
    lines.append(
        f"  lost {len(out.lost)}, items to two annotators {len(out.doubled)}, exception boxes "
        f"{len(out.exceptions)}, console errors {len(out.console_errors)}, page errors {len(out.page_errors)}, "
        f"stalled sessions {len(out.stalled)} (Streamlit's own 404 probes of /<page>/_stcore/…: {out.probes_404})"
    )
    for what in (out.lost, out.doubled, out.exceptions, out.console_errors, out.page_errors, out.stalled):
        lines += [f"    {x}" for x in what[:5]]
    lines.append(f"  {'PASS' if out.passed else 'FAIL'}; loadavg {os.getloadavg()}")
    return lines


async def _drive(
    base: str,
    sessions: int,
    seconds: float,
    chromium: str,
    out: Outcome,
    seed: int,
    shot: Path | None,
    tokens: dict[str, str],
    enough: int | None,
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        clock: dict[str, Any] = {"seconds": seconds, "shot": shot, "tokens": tokens, "sessions": sessions,
                                 "enough": enough, "done": {}}  # fmt: skip
        start = asyncio.Barrier(sessions)
        await asyncio.gather(
            *(
                _annotator(browser, base, f"kb{n}", clock, start, out, random.Random(seed + n))
                for n in range(1, sessions + 1)
            )
        )
        out.seconds = time.monotonic() - clock["start"] if "start" in clock else seconds
        await browser.close()


def run(server, tmp: Path, *, sessions: int, seconds: float, chromium: str, out_fn: Callable[[str], None] = print,
        seed: int | None = None, shot: Path | None = None, enough: int | None = None) -> Outcome:  # fmt: skip
    """Drive `sessions` annotators for `seconds` against `server` (a conftest.AppServer with an empty
    database), then check the database; returns the outcome (its report is passed to out_fn). `shot`: a
    screenshot of the first annotator's page at the end. `enough`: the window ends early, once every
    annotator has submitted that many items (all of them keep going until then, so they stay concurrent;
    each finishes the item in hand)."""
    from tests.seed import seed as seed_store

    seed_store(server.database_url, server.blobs, tmp, users={f"kb{n}": "annotator" for n in range(1, sessions + 1)},
               dataset="kb", items=items(max(200, int(sessions * seconds))), ontology=ONTOLOGY,
               password=PASSWORD)  # fmt: skip
    out = Outcome(sessions=sessions, seconds=seconds)
    tokens = _tokens(server.engine(), [f"kb{n}" for n in range(1, sessions + 1)])
    seed = random.randrange(9999) if seed is None else seed
    # a test process may already hold Playwright's sync API, whose event loop counts as running here
    run_in_own_loop(_drive(server.url, sessions, seconds, chromium, out, seed, shot, tokens, enough))
    check_database(server.engine(), out)
    for line in report(out):
        out_fn(line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    from tests.conftest import CHROMIUM, start_app

    print(f"loadavg at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="parley-browsers-") as tmp_name:
        server = start_app(Path(tmp_name))
        try:
            out = run(server, Path(tmp_name), sessions=args.sessions, seconds=args.seconds, chromium=CHROMIUM)
        finally:
            server.stop()
    return 0 if out.passed else 1


if __name__ == "__main__":
    sys.exit(main())
