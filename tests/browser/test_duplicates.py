"""Near duplicates in chromium (#18): an import that skips the near duplicates of items already in the
dataset and says which it left out; the Datasets page's Duplicates tab listing the groups with their
similarity, prompt against whole dialogue."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.browser.test_datasets import settle, to_import, upload
from tests.conftest import ARTIFACTS

BASE = (
    "Please write a short friendly email to my landlord asking whether the broken heating in the flat "
    "could be repaired before the cold weather arrives next week"
)
OTHER = (
    "Explain how photosynthesis turns sunlight water and carbon dioxide into sugar inside the green "
    "leaves of plants and why oxygen is released"
)
UNRELATED = [
    "List five board games that two people can enjoy on a rainy afternoon with snacks",
    "What is the capital of Australia and why was it chosen over Sydney or Melbourne",
]


def _jsonl(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """rows: (id, prompt, reply)."""
    path.write_text(
        "".join(
            json.dumps({"id": i, "messages": [{"role": "user", "content": p}], "responses": [{"content": r}]})
            + "\n"
            for i, p, r in rows
        )
    )
    return path


def test_an_import_skips_near_duplicates_and_the_duplicates_tab_lists_the_groups(
    app_server, page, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    first = _jsonl(tmp_path / "first.jsonl", [
        ("heat1", BASE, "Dear landlord, the heating is broken."),
        ("heat2", BASE.replace("friendly", "polite").replace("next week", "next month"), "Hello, could you fix it?"),
        ("photo1", OTHER, "Light drives the reaction."),
        ("photo2", OTHER.replace("green ", ""), "Chlorophyll absorbs light."),
        ("games", UNRELATED[0], "Chess, Go, Hive, Patchwork, Jaipur."),
        ("capital", UNRELATED[1], "Canberra, a compromise."),
    ])  # fmt: skip
    second = _jsonl(tmp_path / "second.jsonl", [
        ("heat3", BASE.replace("short", "brief"), "Dear Sir or Madam, ..."),  # near heat1
        ("fresh", "Suggest a name for a small bakery that sells sourdough and cinnamon buns", "Crumb & Co."),
    ])  # fmt: skip
    to_import(app_server, page, "dups")
    upload(page, first)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported into dups: 6 items").wait_for(timeout=90_000)
    settle(page)

    # A second import, skipping what nearly repeats an item already there.
    page.get_by_role("tab", name="Import").click()
    # (not upload(): the Items tab, hidden, now shows an item's "Preview" too)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(second))
    page.get_by_text("Skip near duplicates").wait_for(timeout=90_000)  # under the preview
    settle(page)
    page.get_by_text("Skip near duplicates").click()
    settle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported into dups: 1 items").wait_for(timeout=90_000)
    assert page.get_by_text("1 skipped as near duplicates").is_visible()
    page.get_by_text("1 near duplicate left out").click()
    page.get_by_text("heat3 ≈ heat1").wait_for()
    with app_server.engine().connect() as conn:
        ids = {r[0] for r in conn.exec_driver_sql("select external_id from item").all()}
    assert ids == {"heat1", "heat2", "photo1", "photo2", "games", "capital", "fresh"}

    # The Duplicates tab: the two planted pairs, the unrelated prompts in no group.
    page.get_by_role("tab", name="Duplicates").click()
    page.get_by_role("button", name="Find duplicates").click()
    settle(page)
    page.get_by_text("2 groups (4 items)").wait_for()
    heads = page.get_by_text(re.compile(r"^Group \d+ · \d+ items · similarity"))
    assert [heads.nth(i).inner_text().split(" · ")[1] for i in range(heads.count())] == ["2 items", "2 items"]

    def listed() -> str:
        """The text of the groups' tables on the open tab."""
        tables = page.locator("[role='tabpanel']:visible [data-testid='stTable']")
        return " ".join(tables.nth(i).inner_text() for i in range(tables.count()))

    assert page.locator("[role='tabpanel']:visible [data-testid='stTable']").count() == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "datasets_duplicates.png"), full_page=True)
    shown = listed()
    for member in ("heat1", "heat2", "photo1", "photo2"):
        assert member in shown, shown
    for alone in ("games", "capital", "fresh"):
        assert alone not in shown, shown

    # The whole dialogue, the candidates' replies too: they differ, so the pairs are less alike.
    def similarities() -> list[float]:
        heads = page.get_by_text("· similarity ")
        return sorted(float(heads.nth(i).inner_text().rsplit(" ", 1)[1]) for i in range(heads.count()))

    by_prompt = similarities()
    assert len(by_prompt) == 2 and all(0.8 <= s <= 1.0 for s in by_prompt), by_prompt
    page.get_by_text("Whole dialogue (with the candidates)").click()
    settle(page)
    page.get_by_role("button", name="Find duplicates").click()
    settle(page)
    page.get_by_text("with dialogue similarity ≥ 0.80").wait_for()
    by_dialogue = similarities()
    assert len(by_dialogue) < 2 or by_dialogue[0] < by_prompt[0], (by_prompt, by_dialogue)
    shown = listed()
    for alone in ("games", "capital", "fresh"):
        assert alone not in shown, shown
