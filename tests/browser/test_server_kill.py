"""`kill -9` of the app server while an annotator types on Respond: the draft on the server holds every
keystroke older than 2 s at the moment of the kill; restarted on the same database (same port: the page
reconnects by itself), the page shows the whole text again and the server gets it."""

from __future__ import annotations

import os
import signal
import time

from sqlmodel import Session, select

from store.models import Annotation
from tests.conftest import ARTIFACTS, eventually, sign_in, start_app
from tests.seed import seed

PASSWORD = "typing-pass-1"
ITEMS = [{"id": "q1", "messages": [{"role": "user", "content": "How do I boil an egg?"},
                                   {"role": "assistant", "content": "Put it in water."}]}]  # fmt: skip
ONTOLOGY = {
    "classes": [
        {"name": "quality", "alias": "Quality", "number": 2, "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "why", "type": "text"}]},
        {"name": "ideal_reply", "alias": "Ideal reply", "number": 1, "tool": "dialog_response", "role": "bot",
         "max_chars": 2000},
    ]
}  # fmt: skip
WORDS = "Boil water then lower the egg in gently and wait nine minutes before cooling it"
TYPING_S = 4.0  # typing before the kill: longer than the 2 s a draft may lose
KEY_DELAY_S = 0.05  # ~20 keys a second, no pause: a draft must not wait for one


def _why(server) -> str:  # type: ignore[no-untyped-def]
    """The Evaluate attribute "why" in the stored draft."""
    with Session(server.engine()) as s:
        ann = s.exec(select(Annotation)).first()
        results = (ann.draft or {}).get("results", []) if ann is not None else []
        return "".join((r.get("values") or {}).get("why") or "" for r in results)


def _type_for(page, seconds: float, words: str) -> tuple[str, list[float]]:  # type: ignore[no-untyped-def]
    """Type `words` again and again, key by key without a pause, for `seconds`; (text, each key's time)."""
    typed, at = "", []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for ch in words + " ":
            page.keyboard.type(ch)
            typed += ch
            at.append(time.monotonic())
            page.wait_for_timeout(KEY_DELAY_S * 1000)
    return typed, at


def _draft_text(server) -> str:  # type: ignore[no-untyped-def]
    with Session(server.engine()) as s:
        ann = s.exec(select(Annotation)).first()
        if ann is None or not ann.draft:
            return ""
        return "".join(r.get("text") or "" for r in ann.draft.get("results", []))


def test_server_killed_mid_typing_keeps_all_but_the_last_2_s(tmp_path, page):  # type: ignore[no-untyped-def]
    server = start_app(tmp_path)
    try:
        seed(server.database_url, server.blobs, tmp_path, users={"ann": "annotator"}, dataset="eggs",
             items=ITEMS, ontology=ONTOLOGY, password=PASSWORD)  # fmt: skip
        sign_in(page, server, "ann", PASSWORD, path="/respond?dataset=eggs&item=q1")
        page.get_by_text("How do I boil an egg?").first.wait_for()
        page.get_by_role("button", name="1 · Ideal reply").click()
        box = page.locator("textarea.rb-text")
        box.wait_for()
        box.click()

        # Type without a pause; each key's time is noted. Kill the server after TYPING_S and type on.
        words = WORDS.split()
        typed, at = "", []
        start = time.monotonic()
        killed_at = None
        n = 0
        while killed_at is None or time.monotonic() - killed_at < 1.0:
            word = words[n % len(words)] + f"{n} "
            n += 1
            for ch in word:
                page.keyboard.type(ch)
                typed += ch
                at.append(time.monotonic())
                page.wait_for_timeout(KEY_DELAY_S * 1000)
            if killed_at is None and time.monotonic() - start >= TYPING_S:
                os.kill(server.proc.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                server.proc.wait(10)
        older = typed[: sum(t <= killed_at - 2.0 for t in at)]
        kept = _draft_text(server)
        print(f"typed {len(typed)} chars; killed after {killed_at - start:.1f} s; the draft holds {len(kept)} "
              f"chars, {len(older)} were typed more than 2 s before the kill")  # fmt: skip
        assert typed.startswith(kept), (kept, typed)
        assert len(kept) >= len(older), (len(kept), len(older), kept)

        # Restarted on the same database and port: the page reconnects, shows all the text (the draft
        # from the server, the rest from the box's local copy) and sends it.
        port = int(server.url.rsplit(":", 1)[1])
        server = start_app(tmp_path, database_url=server.database_url, port=port)
        eventually(lambda: box.input_value() == typed, timeout=30, what="the page shows the whole text again")
        eventually(lambda: _draft_text(server) == typed, timeout=20, what="the whole text on the server")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "server_kill_restarted.png"), full_page=True)
        assert page.get_by_test_id("stException").count() == 0

        # Evaluate's text attributes are Streamlit text areas, which send their text on blur: typed on without
        # a pause, the draft on the server (what a kill would leave) still holds all but the last 2 s.
        page.goto(server.url + "/evaluate?dataset=eggs&item=q1")
        page.locator("[data-testid=parley-bubble][data-id=m1]").click()
        page.get_by_text("Classes · Message 2 (bot)").wait_for()
        page.keyboard.press("2")
        why = page.get_by_role("textbox", name="why")
        why.click()
        typed, at = _type_for(page, 3.5, "Too short")
        now = time.monotonic()
        kept = _why(server)
        older = typed[: sum(t <= now - 2.0 for t in at)]
        print(f"Evaluate: typed {len(typed)} chars, the draft holds {len(kept)}, {len(older)} older than 2 s")
        assert typed.startswith(kept) and len(kept) >= len(older), (kept, typed)
        page.screenshot(path=str(ARTIFACTS / "server_kill_evaluate_typing.png"), full_page=True)
    finally:
        server.stop()
