"""Two app replicas on one PostgreSQL (the `replicas` fixture): a browser whose requests move from one to the
other keeps its sign-in, its draft and its place in My queue with the leases it holds."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session, select

from store import db
from store.models import Annotation, Dataset, Item, Lease, User
from store.team.queue import next_in_queue
from tests.conftest import ARTIFACTS, eventually, sign_in
from tests.seed import seed

PASSWORD = "replica-pass-1"
ITEMS = [
    {"id": f"i{n}", "messages": [{"role": "user", "content": f"Question {n}: what is {n} + {n}?"},
                                 {"role": "assistant", "content": f"It is {2 * n}."}]}
    for n in (1, 2, 3)
]  # fmt: skip
ONTOLOGY = {
    "classes": [
        {
            "name": "ideal_reply",
            "alias": "Ideal reply",
            "number": 1,
            "tool": "dialog_response",
            "role": "bot",
        },
    ]
}


def _draft(server, external_id: str) -> str:  # type: ignore[no-untyped-def]
    with Session(server.engine()) as s:
        row = s.exec(
            select(Annotation)
            .join(Item, Item.id == Annotation.item_id)
            .where(Item.external_id == external_id)
        ).first()
        if row is None or not row.draft:
            return ""
        return "".join(r.get("text") or "" for r in row.draft.get("results", []))


def _leases(server) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """ann's leases: (item id, lease row id)."""
    with Session(server.engine()) as s:
        rows = s.exec(
            select(Item.external_id, Lease.id)
            .join(Lease, Lease.item_id == Item.id)
            .join(User, User.id == Lease.user_id)
            .where(User.username == "ann")
        ).all()
        return sorted((ext, lease_id) for ext, lease_id in rows)


def _open_reply(page):  # type: ignore[no-untyped-def]
    """Press 1 (outside any text box): the class's reply box; returns it."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("1")
    box = page.locator("textarea.rb-text")
    box.wait_for()
    return box


def test_a_browser_moving_between_replicas_keeps_sign_in_draft_and_lease(replicas, page, tmp_path):  # type: ignore[no-untyped-def]
    a, b = replicas
    seed(a.database_url, a.blobs, tmp_path, users={"admin": "admin", "ann": "annotator", "bob": "annotator"}, dataset="rep",
         items=ITEMS, ontology=ONTOLOGY, password=PASSWORD, overlap=1)  # fmt: skip

    # Bob holds item 1 (overlap 1), so My queue gives ann item 2 on A: a lease, and a draft typed there.
    with db.write_session(a.engine()) as s:
        bob = s.exec(select(User).where(User.username == "bob")).one()
        ds = s.exec(select(Dataset).where(Dataset.name == "rep")).one()
        assert next_in_queue(session=s, user=bob, dataset_id=ds.id).external_id == "i1"
    sign_in(page, a, "ann", PASSWORD, path="/respond")
    page.get_by_text("Question 2:").first.wait_for()
    box = _open_reply(page)
    box.click()
    page.keyboard.type("Typed on A.")
    eventually(lambda: _draft(a, "i2") == "Typed on A.", what="the draft from A")
    held = _leases(a)
    assert [ext for ext, _ in held] == ["i2"]

    # The same browser (same cookies) now reaches B: still signed in, My queue gives the item it holds,
    # with the draft; the lease is the same row (not released and taken again), nothing else is leased.
    page.goto(b.url + "/respond")
    page.get_by_role("button", name="Sign out").wait_for()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    page.get_by_text("Question 2:").first.wait_for()
    box = _open_reply(page)
    eventually(lambda: box.input_value() == "Typed on A.", what="B shows A's draft")
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(" Then on B.")
    eventually(lambda: _draft(b, "i2") == "Typed on A. Then on B.", what="the draft from B")
    assert _leases(b) == held
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "replicas_on_b.png"), full_page=True)

    # And back to A: the draft written on B.
    page.goto(a.url + "/respond")
    page.get_by_text("Question 2:").first.wait_for()
    box = _open_reply(page)
    eventually(lambda: box.input_value() == "Typed on A. Then on B.", what="A shows B's draft")
    assert page.get_by_test_id("stException").count() == 0
    assert _leases(a) == held
