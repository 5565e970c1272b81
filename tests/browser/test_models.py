"""Models in the loop (#16) in chromium, against the fake OpenAI-compatible server (tests/fake_openai.py) that
answers only with the right key: two models generate replies for three prompts from the Datasets page, Evaluate
in blind mode shows them with the names hidden, Draft with a model fills the Respond box, the SFT export holds
the edited reply; and the key's value is nowhere: not in the database file, the server's log, an export or
a page."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import Session, select

from store.cli.operator import cli_admin
from store.datasets import create_dataset
from store.export import write_export
from store.items import update_dataset_settings
from store.llm.endpoints import add_model
from store.models import Annotation, Dataset, Item, Result
from store.ontology import import_ontology
from store.users import create_user
from tests.conftest import ARTIFACTS, eventually, sign_in, start_app
from tests.fake_openai import FakeServer

KEY = "sk-test-" + secrets.token_hex(20)
PROMPTS = ["How do I boil an egg?", "Name three rivers.", "What is a haiku?"]
ONTOLOGY = {
    "classes": [
        {"name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3"]}]},
        {"name": "ideal_reply", "alias": "Ideal reply", "number": 2, "tool": "dialog_response", "role": "bot"},
    ]
}  # fmt: skip


def _setup(server, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Admin root, dataset "pilot" (three prompts, blind), its ontology and two models: built in this
    process through the store (a CLI call each would cost a second of imports)."""
    with Session(server.engine()) as session:
        create_user(session=session, username="root", password="password1", role="admin")
        ds = create_dataset(session=session, name="pilot")
        for i, prompt in enumerate(PROMPTS):
            session.add(Item(dataset_id=ds.id, external_id=f"p{i + 1}", position=i,
                             messages=[{"role": "user", "text": prompt}], candidates=[]))  # fmt: skip
        import_ontology(session=session, user=None, dataset_id=ds.id, data=ONTOLOGY)
        update_dataset_settings(session=session, user=cli_admin(), dataset_id=ds.id,
                                changes={"shuffle_candidates": True, "hide_model_names": True})  # fmt: skip
        for name, model in (("m-alpha", "alpha"), ("m-beta", "beta")):
            add_model(session=session, user=cli_admin(), name=name, base_url=base_url, model=model,
                      api_key_env="LLM_KEY")  # fmt: skip
        session.commit()


def test_generate_then_blind_evaluate_then_draft_and_the_key_stays_secret(tmp_path, page):  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with FakeServer(require_key=KEY) as fake:
        server = start_app(tmp_path, extra_env={"LLM_KEY": KEY, "PARLEY_LLM_BACKOFF": "0.05"})
        try:
            _setup(server, fake.url)
            pages = _flow(server, page, tmp_path)
        finally:
            server.stop()
        assert fake.log() and all(e["auth"] for e in fake.log()), "every request carried the key"

    # The key's value is nowhere Parley writes or shows.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("parley.db*"))
    assert b"LLM_KEY" in stored and KEY.encode() not in stored and KEY[8:24].encode() not in stored
    assert KEY not in server.output()
    for export in tmp_path.glob("export.*"):
        assert KEY not in export.read_text(encoding="utf-8")
    for html in pages:
        assert KEY not in html and KEY[8:24] not in html


def _flow(server, page, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """The user's path; returns the pages' HTML for the key check."""
    pages = []
    sign_in(page, server, "root", "password1", path="/datasets")
    page.get_by_role("tab", name="Generate").click()
    picker = (
        page.locator(".stMultiSelect").filter(has_text="Models").first
    )  # the Generate tab's, not the filters'
    for name in ("m-alpha", "m-beta"):
        picker.click()
        page.get_by_role("option", name=name).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile("^(smart_toy)?Generate$")).click()
    expect(page.get_by_text(re.compile(r"^6 / 6 · 6 new, 0 already there, 0 failed"))).to_be_visible(
        timeout=30_000
    )
    # .first: while a rerun redraws the jobs list, Streamlit briefly shows the old line beside the new one
    expect(
        page.get_by_text(re.compile(r"Job 1 · Candidates from m-alpha, m-beta · done")).first
    ).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "models_generate_done.png"), full_page=True)
    pages.append(page.content())

    # Evaluate, blind: both models' replies, no model names.
    page.goto(server.url + "/evaluate?dataset=pilot&item=p2")
    cands = page.locator(".pc-cand")
    expect(cands).to_have_count(2)
    shown = sorted(t.strip() for t in page.locator(".pc-cand .pc-text").all_inner_texts())
    assert shown == [f"Reply from {m}: Name three rivers." for m in ("alpha", "beta")]
    assert "m-alpha" not in page.locator(".pc-list").inner_text() and "m-beta" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "models_evaluate_blind.png"), full_page=True)
    pages.append(page.content())

    # Respond: Draft with m-beta streams into the box; the annotator edits it and submits.
    page.goto(server.url + "/respond?dataset=pilot&item=p1")
    page.get_by_role("button", name=re.compile("Ideal reply")).click()
    box = page.locator("textarea.rb-text")
    box.wait_for()
    page.get_by_role("button", name=re.compile("m-beta")).click()
    drafted = "Reply from beta: How do I boil an egg?"
    eventually(lambda: box.input_value() == drafted)
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(" Then cool it in water.")
    edited = drafted + " Then cool it in water."
    page.get_by_text("Show changes against the model's reply").click()
    eventually(
        lambda: " ".join(page.locator(".rb-diff ins").all_inner_texts()).split() == edited.split()[-5:]
    )
    page.screenshot(path=str(ARTIFACTS / "models_respond_drafted.png"), full_page=True)
    box.click()
    page.keyboard.press("Control+Enter")

    def result() -> tuple[str | None, str | None, str | None]:
        with Session(server.engine()) as s:
            ann = s.exec(select(Annotation)).first()
            row = s.exec(select(Result)).first()
            return (ann.status if ann else None, row.text if row else None, row.source_text if row else None)

    eventually(lambda: result() == ("submitted", edited, drafted))
    pages.append(page.content())

    with Session(server.engine()) as session:  # what `export pilot --format sft` writes (no second process)
        ds = session.exec(select(Dataset).where(Dataset.name == "pilot")).one()
        write_export(session=session, dataset=ds, fmt="sft", out=tmp_path / "export.sft.jsonl")
    rows = [
        json.loads(x) for x in (tmp_path / "export.sft.jsonl").read_text(encoding="utf-8").splitlines() if x
    ]
    assert [r["messages"][-1] for r in rows] == [{"role": "assistant", "content": edited}]
    return pages
