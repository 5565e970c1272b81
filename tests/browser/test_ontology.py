"""An admin builds an ontology in the browser, downloads its JSON, uploads it into a second dataset."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from store import db
from store.datasets import create_dataset
from tests.conftest import ARTIFACTS, sign_in
from tests.seed import add_user


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished the rerun a change started."""
    page.wait_for_timeout(150)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=15_000)


def fill(page, label: str, value: str, nth: int = 0) -> None:  # type: ignore[no-untyped-def]
    box = page.get_by_label(label, exact=True).nth(nth)
    box.fill(value)
    box.press("Tab")  # Streamlit takes a text box's value when it loses focus
    settle(page)


def tab(page, name: str):  # type: ignore[no-untyped-def]
    """A tab of the page's st.tabs. While a rerun redraws them (another dataset chosen), the old set can
    still stand beside the new one, disabled: take the live one."""
    return page.locator('[data-testid="stTab"]:not([aria-disabled="true"])', has_text=name)


def click(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name=name, exact=True).click()
    settle(page)


def choose(page, label: str, option: str, nth: int = 0) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label(label, exact=True).nth(nth).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def test_build_download_upload_ontology(app_server, page, tmp_path):
    add_user(app_server, "ann", "password1", role="admin")
    with db.write_session(app_server.engine()) as session:  # (`python -m store datasets create NAME`)
        for name in ("alpha", "beta"):
            create_dataset(session=session, name=name)
    sign_in(page, app_server, "ann", "password1", path="/ontology")
    page.get_by_role("heading", name="Ontology").wait_for()

    # An evaluation class with a radio and a text attribute.
    click(page, "New class")
    fill(page, "Name (used in exports)", "helpfulness")
    fill(page, "Alias (shown to annotators)", "Helpfulness")
    click(page, "Add attribute")
    fill(page, "Attribute name", "score")
    fill(page, "Options, one a line (the order is the hotkey order)", "1\n2\n3\n4\n5")
    click(page, "Add attribute")
    fill(page, "Attribute name", "why", nth=1)
    choose(page, "Type", "text", nth=1)
    fill(page, "Max length (blank: none)", "300")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ontology_editor.png"), full_page=True)
    click(page, "Save class")
    page.get_by_text("Saved class helpfulness.").wait_for()

    # A response class with limits.
    click(page, "New class")
    fill(page, "Name (used in exports)", "ideal_reply")
    page.get_by_text("Dialog Response", exact=True).click()
    settle(page)
    fill(page, "Min characters", "10")
    fill(page, "Max characters", "2000")
    fill(page, "Instruction (shown above the text box)", "Write the reply the bot should give.")
    click(page, "Save class")
    page.get_by_text("Saved class ideal_reply.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "ontology_classes.png"), full_page=True)

    # Download the JSON.
    tab(page, "Import / export").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download ontology JSON").click()
    path = tmp_path / "onto.json"
    info.value.save_as(path)
    data = json.loads(path.read_text())
    assert [c["name"] for c in data["classes"]] == ["helpfulness", "ideal_reply"]
    assert data["classes"][0]["attributes"] == [
        {"name": "score", "type": "radio", "required": False, "options": ["1", "2", "3", "4", "5"]},
        {"name": "why", "type": "text", "required": False, "max_length": 300},
    ]
    assert {"role": "bot", "min_chars": 10, "max_chars": 2000}.items() <= data["classes"][1].items()

    # Upload it into the second dataset.
    choose(page, "Dataset", "beta")
    tab(page, "Import / export").click()
    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_role("button", name="Import ontology").wait_for()
    click(page, "Import ontology")
    page.get_by_text("Imported onto.json: 2 classes created").wait_for()
    # the message did not move the tabs: still on the one the import was made from (they were drawn anew on
    # Classes, the first, when a message came or went above them)
    expect(page.get_by_role("tab", name="Import / export")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Classes").click()
    rows = page.locator('[data-testid="stText"]')
    for text in (
        "helpfulness",
        "Helpfulness",
        "ideal_reply",
        "Dialog Evaluation",
        "Dialog Response",
        "as bot",
    ):
        expect(rows.get_by_text(text, exact=True)).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "ontology_uploaded.png"), full_page=True)
    # Editing shows the class as it is.
    page.get_by_role("button", name="Edit", exact=True).first.click()
    settle(page)
    expect(page.get_by_label("Name (used in exports)", exact=True)).to_have_value("helpfulness")
    expect(page.get_by_label("Attribute name", exact=True).nth(1)).to_have_value("why")
    page.screenshot(path=str(ARTIFACTS / "ontology_edit.png"), full_page=True)
    done = app_server.cli("ontology", "export", "beta")
    assert json.loads(done.stdout)["classes"] == data["classes"]
