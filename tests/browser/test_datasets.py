"""Dataset Center in chromium: upload a zip with images, preview, import, see the images; a CSV with a
column mapping fixed by hand."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from store.zjson import zjson_value
from tests.conftest import ARTIFACTS, sign_in


def settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(200)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=30_000)


def upload(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("Preview").or_(page.get_by_text("Nothing was imported")).first.wait_for(timeout=90_000)
    settle(page)


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Open a select's list and pick `option`. A rerun that lands as the list opens closes it again
    (seen on a quiet machine, where the click comes sooner): the list is opened again, three times at most."""
    for _ in range(3):
        page.get_by_label(label, exact=True).click()
        found = page.get_by_role("option", name=option, exact=True)
        try:
            found.wait_for(timeout=5_000)
        except PlaywrightTimeoutError:
            settle(page)
            continue
        found.click()
        settle(page)
        return
    raise AssertionError(f"the {label} list did not open")


def create(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Name", exact=True).first.fill(name)
    page.get_by_role("button", name="Create").click()
    settle(page)


def to_import(app_server, page, name: str) -> None:  # type: ignore[no-untyped-def]
    """An admin signed in on the Datasets page, a new dataset `name` created, its Import tab open."""
    app_server.add_user("ann", "password1", role="admin")
    sign_in(page, app_server, "ann", "password1", path="/datasets")
    page.get_by_role("heading", name="Datasets").wait_for()
    create(page, name)
    page.get_by_role("tab", name="Import").click()


def test_upload_zip_preview_import_and_see_images(app_server, page, datasets_dir: Path) -> None:  # type: ignore[no-untyped-def]
    to_import(app_server, page, "photos")
    upload(page, datasets_dir / "llamafactory_mllm_demo.zip")
    page.get_by_text("6 items").wait_for()
    assert page.get_by_text("Who are they?").first.is_visible()
    page.locator("main img[src*='/media/']").first.wait_for()  # the preview shows the photos
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported into photos: 6 items, 24 messages").wait_for(timeout=90_000)
    page.get_by_role("tab", name="Items").click()
    settle(page)
    image = page.locator("main img[src*='/media/']").first
    image.wait_for()
    assert image.evaluate("img => img.naturalWidth") > 100  # a real decoded photo, not a broken icon
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "datasets_zip_images.png"), full_page=True)
    with app_server.engine().connect() as conn:
        assert conn.exec_driver_sql("select count(*) from asset").scalar_one() == 3


def test_upload_csv_fix_mapping_and_import(app_server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "answers.csv"
    csv.write_text(
        'qid,ask,model_a,model_b\nq1,"What is 2+2?\nShow work.",4,five\nq2,Capital of France?,Paris,Lyon\n'
    )
    to_import(app_server, page, "sheet")
    upload(page, csv)
    page.get_by_text("Columns of answers.csv").wait_for()
    choose(page, "Prompt", "ask")  # the guess missed the prompt column
    choose(page, "Conversation id", "qid")
    page.get_by_text("Capital of France?").first.wait_for()
    page.get_by_text("2 items").first.wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "datasets_csv_mapping.png"), full_page=True)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported into sheet: 2 items, 2 messages, 4 candidates").wait_for(timeout=90_000)
    with app_server.engine().connect() as conn:
        rows = conn.exec_driver_sql("select external_id, messages from item order by position").all()
    assert [r[0] for r in rows] == ["q1", "q2"]
    assert (
        zjson_value(rows[0][1])[0]["text"] == "What is 2+2?\nShow work."
    )  # a quoted newline kept inside the cell
