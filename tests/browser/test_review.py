"""Browser: a reviewer opens an annotation by its deep link, sends it back with `x` + a reason, accepts the
next one with `a`, and finalises an item in Adjudicate; an annotator is refused the page."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import false, true
from sqlmodel import Session, select

from store.annotations import saved_work
from store.db import upgrade
from store.models import Annotation, Item, User
from tests.conftest import ARTIFACTS, eventually, sign_in
from tests.review_data import build


def _annotation(server, ext: str, who: str) -> Annotation:  # type: ignore[no-untyped-def]
    with Session(server.engine(), expire_on_commit=False) as session:
        return session.exec(
            select(Annotation)
            .join(Item, Item.id == Annotation.item_id)
            .join(User, User.id == Annotation.annotator_id)
            .where(Item.external_id == ext, User.username == who, Annotation.final == false())
        ).one()


def _final_work(server, ext: str) -> dict | None:  # type: ignore[no-untyped-def, type-arg]
    with Session(server.engine(), expire_on_commit=False) as session:
        final = session.exec(
            select(Annotation)
            .join(Item, Item.id == Annotation.item_id)
            .where(Item.external_id == ext, Annotation.final == true())
        ).first()
        return saved_work(session, final) if final is not None else None


def _pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def test_reviewer_rejects_accepts_and_finalises(app_server, page):
    upgrade(app_server.database_url)
    with Session(app_server.engine(), expire_on_commit=False) as session:
        build(session)  # reviewer rita; alice and bob submitted i1, i2, i3 in dataset "team"
    sign_in(page, app_server, "rita", "password1", path="/review?dataset=team&item=i1&annotator=bob")
    header = page.get_by_text(re.compile(r"^bob on item i1"))
    header.wait_for()
    page.locator(".pc-badge, .pc-badges").first.wait_for()  # bob's score chip on the canvas
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review_stream.png"), full_page=True)

    page.keyboard.press("x")
    reason = page.get_by_role("textbox", name="Reason")
    reason.wait_for()
    page.get_by_role("button", name="Send back").click()
    expect(page.get_by_text("Give a reason: the annotator sees it on the item.")).to_be_visible()
    assert _annotation(app_server, "i1", "bob").status == "submitted"
    page.screenshot(path=str(ARTIFACTS / "review_reject_box.png"), full_page=True)
    reason.fill("Score 2 is too low for this reply.")
    page.get_by_role("button", name="Send back").click()
    page.get_by_text(re.compile(r"^bob on item i2")).wait_for()
    ann = _annotation(app_server, "i1", "bob")
    assert (ann.status, ann.review_reason) == ("rejected", "Score 2 is too low for this reply.")
    eventually(lambda: "annotator=bob" in page.url and "item=i2" in page.url, what="the URL follows")

    page.mouse.click(5, 890)  # focus out of any box: single-key shortcuts are ignored while typing
    page.keyboard.press("a")
    page.get_by_text(re.compile(r"^bob on item i3")).wait_for()
    eventually(lambda: _annotation(app_server, "i2", "bob").status == "accepted", what="bob's i2 accepted")
    page.get_by_text("Accepted bob on item i2.").wait_for()

    page.get_by_role("radio", name="Adjudicate", exact=True).click()  # a segmented control is a radio group
    _pick(page, "Item", "i3 · dialogue i3 · 2 annotations · ⚠ differ")
    page.get_by_text("⚠ Reply (Ideal reply)").wait_for()
    _pick(page, "Take for Reply (Ideal reply)", "alice")
    page.screenshot(path=str(ARTIFACTS / "review_adjudicate.png"), full_page=True)
    page.get_by_role("button", name="Finalise", exact=True).click()
    page.get_by_text("final by rita").wait_for()
    work = _final_work(app_server, "i3")
    assert work is not None and work["results"][0]["text"] == "old answer i3, but kinder."
    page.screenshot(path=str(ARTIFACTS / "review_adjudicate_final.png"), full_page=True)


def test_annotator_is_refused_the_review_page(app_server, page):
    upgrade(app_server.database_url)
    with Session(app_server.engine(), expire_on_commit=False) as session:
        build(session)
    sign_in(page, app_server, "alice", "password1", path="/review?dataset=team&item=i1&annotator=bob")
    expect(page.get_by_text("Your role does not allow this page.")).to_be_visible()
    expect(page.get_by_text("bob on item i1")).to_have_count(0)
