"""The team workflow end to end in chromium: overlap queue, review with a reason, rework, adjudication,
and the `--final` DPO export holding exactly the adjudicated pairs."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect
from sqlmodel import Session, select

from store.models import Annotation, Item, User
from tests.browser.test_evaluate import idle, pairwise
from tests.conftest import ARTIFACTS, sign_in

ITEMS = [
    {
        "id": f"p{n}",
        "messages": [{"role": "user", "content": f"Question {n}: which reply is better?"}],
        "responses": [
            {"content": f"Reply A{n}: a careful, correct answer.", "model": "model-a"},
            {"content": f"Reply B{n}: a short answer.", "model": "model-b"},
        ],
    }
    for n in (1, 2, 3)
]
ONTOLOGY = {
    "classes": [],
    "classifications": [
        {"name": "preference", "type": "pairwise", "required": True},
        {"name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
    ],
}
PASSWORD = "correct-horse-1"


def setup_loop(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name, role in (
        ("ann1", "annotator"),
        ("ann2", "annotator"),
        ("ann3", "annotator"),
        ("rv", "reviewer"),
    ):
        server.add_user(name, PASSWORD, role)
    data = tmp_path / "loop.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    onto = tmp_path / "onto.json"
    onto.write_text(json.dumps(ONTOLOGY))
    for args in (
        ("datasets", "create", "loop"),
        ("import", "loop", str(data)),
        ("ontology", "import", "loop", str(onto)),
        (
            "datasets",
            "configure",
            "loop",
            "--overlap",
            "2",
            "--review",
            "all",
            "--reject-reasons",
            "Wrong preference;Other",
        ),
    ):
        done = server.cli(*args)
        assert done.returncode == 0, (args, done.stderr)


def shown_item(page) -> str:  # type: ignore[no-untyped-def]
    """The item the tool page shows, from the address it keeps in sync (…&item=p1)."""
    expect(page).to_have_url(re.compile(r"item=p\d"))
    return re.search(r"item=(p\d)", page.url).group(1)  # type: ignore[union-attr]


def answer(page, choice: str, topic: str) -> None:  # type: ignore[no-untyped-def]
    pairwise(page, choice).click()
    idle(page)
    page.get_by_test_id("stRadio").get_by_role("radio", name=topic, exact=True).click()
    idle(page)


def annotations(server) -> dict[tuple[str, str], Annotation]:  # type: ignore[no-untyped-def]
    with Session(server.engine()) as s:
        rows = s.exec(
            select(Annotation, User.username, Item.external_id)
            .join(User, User.id == Annotation.annotator_id)
            .join(Item, Item.id == Annotation.item_id)
        ).all()
        return {(u, ext): a for a, u, ext in rows}


def test_overlap_queue_hands_item_1_to_two_annotators_and_item_2_to_the_third(app_server, browser, tmp_path):
    setup_loop(app_server, tmp_path)
    pages = {}
    for name in ("ann1", "ann2", "ann3"):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        sign_in(page, app_server, name, PASSWORD, "/evaluate")
        expect(page.get_by_test_id("parley-bubble").first).to_be_visible()
        pages[name] = page
    assert [shown_item(pages[n]) for n in ("ann1", "ann2", "ann3")] == ["p1", "p1", "p2"]
    expect(pages["ann3"].get_by_text("left in my queue")).to_be_visible()
    # ann1 and ann2 answer item 1 differently; Ctrl+Enter submits and the queue opens the next item.
    answer(pages["ann1"], "A", "code")
    pages["ann1"].keyboard.press("Control+Enter")
    answer(pages["ann2"], "B", "chat")
    pages["ann2"].keyboard.press("Control+Enter")
    expect(pages["ann1"]).to_have_url(re.compile(r"item=p2"))  # p2 still has a slot beside ann3's
    stored = annotations(app_server)
    assert stored[("ann1", "p1")].status == "submitted" and stored[("ann2", "p1")].status == "submitted"
    assert stored[("ann1", "p1")].needs_review
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages["ann3"].screenshot(path=str(ARTIFACTS / "team_queue_annotator.png"))
    # Skip with `s`: ann3's item goes back to the queue, and ann3 gets the next one.
    pages["ann3"].keyboard.press("s")
    expect(pages["ann3"]).to_have_url(re.compile(r"item=p3"))
    for page in pages.values():
        page.context.close()
