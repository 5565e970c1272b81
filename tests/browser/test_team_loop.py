"""The team workflow end to end in chromium: overlap queue, review with a reason, rework, adjudication,
and the `--final` DPO export holding exactly the adjudicated pairs."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect
from sqlmodel import Session, select

from store.models import Annotation, Item, User
from tests.browser.test_evaluate import idle, pairwise
from tests.conftest import ARTIFACTS, eventually, sign_in
from tests.seed import seed

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
    """Three annotators and a reviewer, and dataset "loop" (overlap 2, review all, two reject reasons),
    written through the store in this process (tests/seed.py): eight `python -m store` starts cost ~1.5 s of
    CPU each, and those commands are tested in tests/store (test_team_cli, test_ontology_cli, ...)."""
    seed(server.database_url, server.blobs, tmp_path,
         users={"ann1": "annotator", "ann2": "annotator", "ann3": "annotator", "rv": "reviewer"},
         dataset="loop", items=ITEMS, ontology=ONTOLOGY, password=PASSWORD,
         team={"overlap": 2, "review": "all", "reject_reasons": "Wrong preference;Other"})  # fmt: skip


def shown_item(page) -> str:  # type: ignore[no-untyped-def]
    """The item the tool page shows, from the address it keeps in sync (…&item=p1)."""
    expect(page).to_have_url(re.compile(r"item=p\d"))
    return re.search(r"item=(p\d)", page.url).group(1)  # type: ignore[union-attr]


def answer(page, choice: str, topic: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Submit").wait_for()  # the page is drawn around the dialogue
    idle(page)
    pairwise(page, choice).click()
    idle(page)
    page.get_by_test_id("stRadio").get_by_text(topic, exact=True).click()
    idle(page)


def annotations(server) -> dict[tuple[str, str], Annotation]:  # type: ignore[no-untyped-def]
    with Session(server.engine()) as s:
        rows = s.exec(
            select(Annotation, User.username, Item.external_id)
            .join(User, User.id == Annotation.annotator_id)
            .join(Item, Item.id == Annotation.item_id)
        ).all()
        return {(u, ext): a for a, u, ext in rows}


def pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def new_page(browser, server, name: str, path: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, server, name, PASSWORD, path)
    return page


def test_the_whole_team_loop(app_server, browser, tmp_path):
    """Overlap 2, three annotators; a reviewer sends one back with a reason; its author sees the reason
    first in the queue, fixes and resubmits; the reviewer accepts; an adjudication takes answers from both
    annotators; the --final DPO export holds exactly the adjudicated pair."""
    setup_loop(app_server, tmp_path)
    pages = {name: new_page(browser, app_server, name, "/evaluate") for name in ("ann1", "ann2", "ann3")}
    for page in pages.values():
        expect(page.get_by_test_id("parley-bubble").first).to_be_visible()
    assert [shown_item(pages[n]) for n in ("ann1", "ann2", "ann3")] == ["p1", "p1", "p2"]
    expect(pages["ann3"].get_by_text(re.compile(r"left in my queue"))).to_be_visible()
    idle(pages["ann3"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages["ann3"].screenshot(path=str(ARTIFACTS / "team_queue_annotator.png"))

    # ann1 prefers A, ann2 B (slightly); Ctrl+Enter submits and the queue opens the next item.
    answer(pages["ann1"], "A", "code")
    pages["ann1"].keyboard.press("Control+Enter")  # refused: a preference needs its strength
    expect(pages["ann1"].get_by_text("the strength must be a whole number")).to_be_visible()
    pairwise(pages["ann1"], "better").click()
    idle(pages["ann1"])
    pages["ann1"].keyboard.press("Control+Enter")
    answer(pages["ann2"], "B", "chat")
    pairwise(pages["ann2"], "slightly better").click()
    idle(pages["ann2"])
    pages["ann2"].keyboard.press("Control+Enter")
    expect(pages["ann1"]).to_have_url(re.compile(r"item=p2"))  # p2 still has a slot beside ann3's
    for who in ("ann1", "ann2"):
        eventually(
            lambda w=who: annotations(app_server)[(w, "p1")].status == "submitted", what=f"{who} submitted"
        )
    # Skip with `s`: ann3's item goes back to the queue, and ann3 gets the next one.
    pages["ann3"].keyboard.press("s")
    expect(pages["ann3"]).to_have_url(re.compile(r"item=p3"))

    # The reviewer sends ann1's answer back with a reason (x, Reason, Send back).
    rv = new_page(browser, app_server, "rv", "/review?dataset=loop&item=p1&annotator=ann1")
    rv.get_by_text(re.compile(r"^ann1 on item p1")).wait_for()
    idle(rv)  # (under load `x` pressed before the page had finished drawing opened nothing)
    rv.keyboard.press("x")
    rv.get_by_role("textbox", name="Reason").fill("B answers the question; A does not.")
    rv.get_by_role("button", name="Send back").click()
    eventually(lambda: annotations(app_server)[("ann1", "p1")].status == "rejected", what="ann1 sent back")

    # ann1 finds it first in the queue, with the reason on top; fixes it and submits again.
    ann1 = pages["ann1"]
    ann1.goto(app_server.url + "/evaluate")
    expect(ann1).to_have_url(re.compile(r"item=p1"))
    expect(ann1.get_by_text("B answers the question; A does not.")).to_be_visible()
    ann1.screenshot(path=str(ARTIFACTS / "team_sent_back_banner.png"))
    expect(pairwise(ann1, "B")).to_be_enabled()  # a sent-back item opens for editing
    pairwise(ann1, "B").click()
    idle(ann1)
    pairwise(ann1, "much better").click()
    idle(ann1)
    ann1.keyboard.press("Control+Enter")
    eventually(lambda: annotations(app_server)[("ann1", "p1")].status == "submitted", what="ann1 resubmitted")
    assert annotations(app_server)[("ann1", "p1")].review_rounds == 1

    # The reviewer accepts both answers of p1 (a), then adjudicates: preference from ann1, topic from ann2.
    for who in ("ann1", "ann2"):
        rv.goto(app_server.url + f"/review?dataset=loop&item=p1&annotator={who}")
        rv.get_by_text(re.compile(rf"^{who} on item p1")).wait_for()
        rv.get_by_role("button", name=re.compile(r"^Accept")).wait_for()
        idle(rv)
        rv.mouse.click(5, 890)  # out of any box: single-key shortcuts are ignored while typing
        rv.keyboard.press("a")
        try:
            eventually(
                lambda w=who: annotations(app_server)[(w, "p1")].status == "accepted", what=f"{who} accepted"
            )
        except AssertionError:
            rv.screenshot(path=str(ARTIFACTS / f"team_accept_{who}_failed.png"), full_page=True)
            raise
    rv.get_by_role("radio", name="Adjudicate", exact=True).click()
    rv.get_by_role("combobox", name="Item").click()
    rv.get_by_role("option", name=re.compile(r"^p1 ")).click()
    pick(rv, "Take for preference", "ann1")
    pick(rv, "Take for topic", "ann2")
    rv.screenshot(path=str(ARTIFACTS / "team_adjudicate.png"), full_page=True)
    rv.get_by_role("button", name="Finalise", exact=True).click()
    rv.get_by_text(re.compile(r"final by rv")).wait_for()

    out = tmp_path / "final.dpo.jsonl"
    done = app_server.cli("export", "loop", "--format", "dpo", "--final", "--out", str(out))
    assert done.returncode == 0, done.stderr
    pairs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(pairs) == 1
    (pair,) = pairs
    assert "Reply B1" in json.dumps(pair["chosen"]) and "Reply A1" in json.dumps(pair["rejected"])
    for page in [*pages.values(), rv]:
        page.context.close()
