"""Search and a filter on the Datasets page, then "Annotate these": Evaluate's → walks exactly the filtered
items (the store's answer), and the toolbar counts them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect
from sqlalchemy import insert
from sqlmodel import Session

from core.filters import ItemFilter
from store.annotations import save_annotation
from store.db import make_engine, upgrade
from store.items import list_items
from store.models import Item, User
from store.queue import neighbour
from store.search import rebuild_index
from store.users import create_user
from tests.browser.test_canvas import shot
from tests.browser.test_datasets import choose, settle
from tests.conftest import sign_in
from tests.utils import make_dataset

REFUND = {1, 3, 4, 6, 9, 11}  # items whose question says "refund"
SUBMITTED = {3, 6, 9, 10}  # items ann1 submitted
ITEMS = 45  # three pages of the list (20 a page)


def build(url: str) -> tuple[list[str], list[str]]:
    """The dataset, and the store's answers: the list's ids (best match first) and the walk in order."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            admin = create_user(session=s, username="boss", password="password1", role="admin")
            ann = User(username="ann1", role="annotator")
            s.add(ann)
            ds = make_dataset(s, "shop").id
            s.execute(insert(Item), [
                {"dataset_id": ds, "external_id": f"t{i}", "position": i, "name": "", "meta": {},
                 "messages": [{"role": "user", "text": f"Ticket {i}: " + (
                     "I want a refund for my order" if i in REFUND else "Where is my parcel?")}],
                 "candidates": [{"text": f"Answer {i} one", "model": "m-large"},
                                {"text": f"Answer {i} two", "model": "m-small"}]}
                for i in range(1, ITEMS + 1)
            ])  # fmt: skip
            rebuild_index(s.connection(), ds)
            s.commit()
            ids = {
                e: i
                for i, e in s.execute(Item.__table__.select().with_only_columns(Item.id, Item.external_id))
            }
            for n in sorted(SUBMITTED):
                save_annotation(session=s, user=ann, item_id=ids[f"t{n}"], work={}, version=0, submit=True)
            s.commit()
            flt = ItemFilter(search="refund", status=["submitted"])
            listed = [i.external_id for i in list_items(session=s, user=admin, dataset_id=ds, flt=flt)[0]]
            walk, item = [], None
            while (
                item := neighbour(session=s, user=admin, dataset_id=ds, item=item, step=1, flt=flt)
            ) is not None:
                walk.append(item.external_id)
            return listed, walk
    finally:
        engine.dispose()


def shown_item(page) -> str:  # type: ignore[no-untyped-def]
    return parse_qs(urlparse(page.url).query).get("item", [""])[0]


def test_search_filter_then_annotate_these_walks_the_filtered_items(app_server, page) -> None:  # type: ignore[no-untyped-def]
    listed, walk = build(app_server.database_url)
    assert sorted(listed) == sorted(walk) == ["t3", "t6", "t9"]
    sign_in(page, app_server, "boss", "password1", path="/datasets")
    page.get_by_role("heading", name="Datasets").wait_for()
    # Paging the whole list (the items' fragment reruns alone): 20 a page, in order, and back.
    first_cells = page.locator("table.parley-matches tr td:first-child")

    def shows(place: str, first: int, last: int) -> None:
        page.get_by_text(f"{place} of {ITEMS}", exact=True).wait_for()
        expect(first_cells.first).to_have_text(f"t{first}")
        assert first_cells.all_inner_texts() == [f"t{i}" for i in range(first, last + 1)]

    page.get_by_text(f"{ITEMS} items", exact=True).wait_for()
    shows("1–20", 1, 20)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    shows("21–40", 21, 40)
    page.get_by_role("button", name="Next").click()
    shows("41–45", 41, 45)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    shows("21–40", 21, 40)
    search = page.get_by_role("textbox", name="Search items")
    search.fill("refund")
    search.press("Enter")
    page.get_by_text("6 items match").wait_for()
    page.get_by_text("1–6 of 6", exact=True).wait_for()  # a new search starts on page 1
    # Leave the search box first: leaving it later (by clicking the Status box) reran the page, which closed
    # the Status list as it opened (Chromium 156).
    search.blur()
    settle(page)
    page.locator('[data-testid="stExpander"] summary', has_text="Filters").click()
    choose(page, "Status", "submitted")
    page.keyboard.press("Escape")
    page.get_by_text("3 items match").wait_for()
    settle(page)
    marks = page.locator("table.parley-matches mark")
    expect(marks.first).to_have_text("refund")
    rows = page.locator("table.parley-matches tr td:first-child").all_inner_texts()
    assert rows == listed  # the store's order: best match first
    page.get_by_role("button", name="Annotate these").scroll_into_view_if_needed()  # the count and the list
    shot(page, "item_filter_datasets")

    page.get_by_role("button", name="Annotate these").click()
    page.get_by_test_id("parley-bubble").first.wait_for(timeout=40_000)
    page.get_by_role("button", name="Save").wait_for()
    page.locator("strong", has_text="1 / 3").wait_for()
    expect(page.locator("mark.pc-hit").first).to_have_text(re.compile("^refund$", re.I))  # the search's word
    seen = [shown_item(page)]
    for place in (2, 3):
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("ArrowRight")
        page.locator("strong", has_text=f"{place} / 3").wait_for()
        page.wait_for_function("(before) => !location.search.includes('item=' + before + '&') "
                               "&& !location.search.endsWith('item=' + before)", arg=seen[-1])  # fmt: skip
        seen.append(shown_item(page))
    page.keyboard.press("ArrowRight")  # past the last filtered item: stays
    page.get_by_text("This is the last item.").wait_for()
    assert seen == walk
    show = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Show", exact=True))
    assert show.locator("input").input_value().startswith("From Datasets")
    # The box is narrower than the filter's description: the label's tooltip holds it whole.
    show.get_by_test_id("stTooltipIcon").hover()
    expect(page.get_by_test_id("stTooltipContent")).to_have_text(
        'From Datasets: search: "refund" · status: submitted'
    )
    shot(page, "item_filter_evaluate")
