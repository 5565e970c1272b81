"""Respond page in chromium on the Alpaca sample: number key, counter and words, reload mid-typing, class
switch, max refused, delete with confirmation, Ctrl+Enter submit, and the SFT export holding the typed replies."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, select

from core.response import count_chars, count_words
from store.models import Annotation, Result
from tests.conftest import ARTIFACTS, eventually, sign_in
from tests.seed import add_user, import_dataset

ONTOLOGY = {
    "classes": [
        {
            "name": "ideal_reply",
            "alias": "Ideal reply",
            "number": 1,
            "color": "#1565c0",
            "tool": "dialog_response",
            "role": "bot",
            "min_chars": 10,
            "max_chars": 120,
            "instruction": "Write the reply the assistant should have given.",
        },
        {
            "name": "follow_up",
            "alias": "Follow-up question",
            "number": 2,
            "color": "#2e7d32",
            "tool": "dialog_response",
            "role": "user",
            "max_chars": 200,
        },
        {
            "name": "chinese",
            "alias": "中文回复",
            "number": 3,
            "tool": "dialog_response",
            "role": "bot",
            "max_chars": 50,
        },
    ]
}


def _setup(app_server, datasets_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Annotator "ann" and dataset "alpaca" (the LLaMA-Factory Alpaca sample, this ontology), written in this
    process as `python -m store users add / import / ontology import` would (four CLI starts cost ~6 s)."""
    add_user(app_server, "ann", "password1", role="annotator")
    import_dataset(app_server, "alpaca", datasets_dir / "llamafactory_alpaca_en_demo.json", ONTOLOGY)


def _results(app_server) -> tuple[str | None, dict[str, str]]:  # type: ignore[no-untyped-def]
    """The annotation's status and its stored replies by class name."""
    from store.models import OntologyClass

    with Session(app_server.engine()) as s:
        ann = s.exec(select(Annotation)).first()
        if ann is None:
            return None, {}
        names = {c.id: c.name for c in s.exec(select(OntologyClass)).all()}
        rows = s.exec(select(Result).where(Result.annotation_id == ann.id)).all()
        return ann.status, {names[r.class_id]: r.text for r in rows}


def _draft_texts(app_server) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(app_server.engine()) as s:
        ann = s.exec(select(Annotation)).first()
        if ann is None or not ann.draft:
            return []
        return [r.get("text") or "" for r in ann.draft.get("results", [])]


def _box(page):  # type: ignore[no-untyped-def]
    return page.locator("textarea.rb-text")


def _counter(page):  # type: ignore[no-untyped-def]
    return page.locator(".rb-counter")


def _press_outside(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Press a page hotkey with no text box focused."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def test_respond_alpaca_flow(app_server, page, datasets_dir, tmp_path):  # type: ignore[no-untyped-def]
    _setup(app_server, datasets_dir, tmp_path)
    sign_in(page, app_server, "ann", "password1", path="/respond?dataset=alpaca&item=1")
    page.get_by_text("Describe a process of making crepes.").first.wait_for()
    page.get_by_role("button", name="1 · Ideal reply").wait_for()

    # The number key opens the class's text box, with its instruction and role.
    _press_outside(page, "1")
    box = _box(page)
    box.wait_for()
    page.get_by_text("Write the reply the assistant should have given.").wait_for()
    assert page.get_by_text("answers as Bot").is_visible()
    first = "Mix flour, eggs and milk; rest the batter."
    box.click()
    page.keyboard.type(first)
    assert _counter(page).text_content() == f"{len(first)} / 120 characters · 8 words · min 10"

    # Drafts reach the server within 2 s of typing.
    eventually(lambda: _draft_texts(app_server) == [first], timeout=2.0)
    # A reload in the very middle of typing (before the box sent it): the class and all the text come back
    # (the box's local copy), and the text then reaches the server.
    page.keyboard.type(" Fry")
    page.reload()
    if page.get_by_role("button", name="Sign in").is_visible():
        sign_in(page, app_server, "ann", "password1", path="/respond?dataset=alpaca&item=1&class=1")
    box = _box(page)
    box.wait_for()
    first += " Fry"
    eventually(lambda: box.input_value() == first)
    eventually(lambda: _draft_texts(app_server) == [first])

    # Another class and back: one result per class, the reply already written is shown.
    page.get_by_role("button", name="2 · Follow-up question").click()
    page.get_by_text("answers as User").wait_for()
    eventually(lambda: box.input_value() == "")
    second = "Can I make them without eggs?"
    box.click()
    page.keyboard.type(second)
    page.get_by_role("button", name="1 · Ideal reply ✓").click()
    page.get_by_text("answers as Bot").wait_for()
    eventually(lambda: box.input_value() == first)
    eventually(lambda: sorted(_draft_texts(app_server)) == sorted([first, second]))

    # Typing past the max is refused with a message.
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(" x" * 60)
    assert len(box.input_value()) == 120
    assert "at most 120 characters" in page.locator(".rb-message").text_content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "respond_max_refused.png"), full_page=True)
    page.keyboard.press("Control+a")
    page.keyboard.type(first + " Serve warm.")
    first += " Serve warm."

    # Delete the follow-up with the icon above the box and a second confirmation.
    page.get_by_role("button", name="2 · Follow-up question ✓").click()
    page.get_by_text("answers as User").wait_for()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_text("Delete the reply for Follow-up question?").wait_for()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_role("button", name="2 · Follow-up question", exact=True).wait_for()
    eventually(lambda: box.input_value() == "")

    # Ctrl+Enter while still typing submits exactly what was typed.
    page.get_by_role("button", name="1 · Ideal reply ✓").click()
    eventually(lambda: box.input_value() == first)
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(" Enjoy!")
    first += " Enjoy!"
    page.keyboard.press("Control+Enter")
    eventually(lambda: _results(app_server) == ("submitted", {"ideal_reply": first}))
    page.screenshot(path=str(ARTIFACTS / "respond_submitted.png"), full_page=True)

    # The SFT export holds exactly the typed reply, as the assistant's turn after the context.
    out = tmp_path / "sft.jsonl"
    done = app_server.cli("export", "alpaca", "--format", "sft", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [r["messages"][-1] for r in rows] == [{"role": "assistant", "content": first}]
    assert rows[0]["messages"][0]["content"].startswith("Describe a process of making crepes.")


def test_respond_chinese_count(app_server, page, datasets_dir, tmp_path):  # type: ignore[no-untyped-def]
    _setup(app_server, datasets_dir, tmp_path)
    sign_in(page, app_server, "ann", "password1", path="/respond?dataset=alpaca&item=2")
    page.get_by_text("Transform the following sentence using a synonym").first.wait_for()  # canvas drawn
    _press_outside(page, "3")
    box = _box(page)
    box.wait_for()
    box.click()
    text = "你好，世界。我用Python写代码"  # 17 characters; 4 + 5 Han characters and "Python": 10 words
    page.keyboard.insert_text(text)
    eventually(lambda: _counter(page).text_content() == "17 / 50 characters · 10 words")
    page.keyboard.insert_text("こんにちは")  # five Hiragana: five more words
    eventually(lambda: _counter(page).text_content() == "22 / 50 characters · 15 words")
    page.screenshot(path=str(ARTIFACTS / "respond_chinese.png"), full_page=True)
    page.keyboard.press("Control+s")
    eventually(lambda: _results(app_server) == ("saved", {"chinese": text + "こんにちは"}))
    # The browser counts exactly as core.response does (the limits and exports use the Python count).
    samples = ("Hello,   world!", "don't stop 3.14", "a — b", "你好，世界。", "カタカナ", "Use 中文 words",
               "안녕하세요 세계", "😀 ok", "line one\nline two")  # fmt: skip
    counter = _counter(page)
    for sample in samples:
        box.fill(sample)
        eventually(lambda s=sample: counter.get_attribute("data-words") == str(count_words(s)))
        assert counter.get_attribute("data-chars") == str(count_chars(sample)), sample

    # An input method composing near the max is not cut while composing (the pinyin is longer than the
    # result); the committed characters are then held to the max, with the message.
    box.fill("一" * 48)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.imeSetComposition", {"text": "zhongwen", "selectionStart": 8, "selectionEnd": 8})
    assert len(box.input_value()) == 56
    cdp.send("Input.insertText", {"text": "中文字"})
    eventually(lambda: box.input_value() == "一" * 48 + "中文")
    assert "at most 50 characters" in page.locator(".rb-message").text_content()
    assert counter.text_content() == "50 / 50 characters · 50 words"


def test_respond_save_while_typing_keeps_the_box(app_server, page, datasets_dir, tmp_path):  # type: ignore[no-untyped-def]
    """Ctrl+S mid-sentence saves exactly what was typed, and the box stays the same element (cursor and
    the keystrokes typed right after the save are not lost)."""
    _setup(app_server, datasets_dir, tmp_path)
    sign_in(page, app_server, "ann", "password1", path="/respond?dataset=alpaca&item=3&class=2")
    page.get_by_text("Make a persuasive argument to promote recycling.").first.wait_for()  # canvas drawn
    box = _box(page)
    box.wait_for()
    box.evaluate("el => { el.dataset.marker = 'same' }")
    box.click()
    page.keyboard.type("Is there a shorter")
    page.keyboard.press("Control+s")
    page.keyboard.type(" way?")
    # Saved: what was typed at Ctrl+S, or, when the keystrokes after it reached the same server run, those
    # too; either way the server ends up holding every keystroke (saved results, or a newer draft).
    eventually(lambda: _results(app_server)[0] == "saved")
    assert _results(app_server)[1]["follow_up"] in ("Is there a shorter", "Is there a shorter way?")
    eventually(
        lambda: (
            (_draft_texts(app_server) or list(_results(app_server)[1].values()))
            == ["Is there a shorter way?"]
        )
    )
    assert box.input_value() == "Is there a shorter way?"
    assert box.evaluate("el => el.dataset.marker") == "same"
    assert box.evaluate("el => el === el.getRootNode().activeElement")  # focus is back in the box

    # The Save button clicked straight after typing saves the newest text too (the box sends it on blur).
    page.keyboard.type(" Please.")
    page.get_by_role("button", name="Save", exact=True).click()
    eventually(lambda: _results(app_server) == ("saved", {"follow_up": "Is there a shorter way? Please."}))
    assert _draft_texts(app_server) == []


def test_respond_start_from_the_models_reply(app_server, page, datasets_dir, tmp_path):  # type: ignore[no-untyped-def]
    """Copy the bot bubble into the box, rewrite it, see the diff; the export keeps both texts."""
    _setup(app_server, datasets_dir, tmp_path)
    sign_in(page, app_server, "ann", "password1", path="/respond?dataset=alpaca&item=2&class=1")
    page.get_by_text("Transform the following sentence using a synonym").first.wait_for()
    box = _box(page)
    box.wait_for()
    page.get_by_role("button", name="Start from this reply").click()
    eventually(lambda: box.input_value() == "The car accelerated rapidly.")
    box.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("The car sped up very rapidly.")
    page.get_by_text("Show changes against the model's reply").click()
    page.locator(".rb-diff del").first.wait_for()
    assert page.locator(".rb-diff del").all_text_contents() == ["accelerated"]
    assert page.locator(".rb-diff ins").all_text_contents() == ["sped up very"]
    page.locator(".rb-diff").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "respond_diff.png"))
    box.click()
    page.keyboard.press("Control+Enter")
    eventually(
        lambda: _results(app_server) == ("submitted", {"ideal_reply": "The car sped up very rapidly."})
    )
    out = tmp_path / "sft.jsonl"
    done = app_server.cli("export", "alpaca", "--format", "sft", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert row["messages"][-1] == {"role": "assistant", "content": "The car sped up very rapidly."}
    assert row["meta"]["original"] == "The car accelerated rapidly."
