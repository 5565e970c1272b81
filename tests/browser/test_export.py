"""Browser: the Export page shows a preview of the SFT records and downloads the SFT file."""

from __future__ import annotations

import orjson
from sqlmodel import Session

from store.db import upgrade
from tests.conftest import ARTIFACTS, sign_in
from tests.store.export_data import build


def test_export_page_previews_and_downloads_sft(app_server, page, tmp_path):
    upgrade(app_server.database_url)
    with Session(app_server.engine(), expire_on_commit=False) as session:
        build(session)  # admin "boss" (password1), annotators alice and bob, dataset "handmade"
    sign_in(page, app_server, "boss", "password1", path="/export")
    page.get_by_role("heading", name="Export").wait_for()
    page.get_by_role("combobox", name="Format").click()
    page.get_by_role("option", name="SFT JSONL (messages)").click()
    preview = page.locator("code").filter(has_text="A better answer.")
    preview.first.wait_for()
    assert "old answer sft" in preview.first.inner_text()  # the original the annotator started from
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export_sft_preview.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download handmade.sft.jsonl").click()
    download = info.value
    assert download.suggested_filename == "handmade.sft.jsonl"
    path = tmp_path / "got.jsonl"
    download.save_as(path)
    (record,) = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert record["messages"][-1] == {"role": "assistant", "content": "A better answer."}
    assert record["meta"]["annotator"] == "alice"
