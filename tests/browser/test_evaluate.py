"""The RLHF evaluation page in chromium on HH-RLHF items with the DESIGN.md example ontology."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect
from sqlmodel import Session, select

from store.models import Annotation, Classification, Item, OntologyClass, Result
from tests.browser.test_evaluate_data import import_hh_with_cli
from tests.conftest import ARTIFACTS, sign_in
from tests.seed import add_user


def bubble(page, ref: str):  # type: ignore[no-untyped-def]
    return page.locator(f"[data-testid=parley-bubble][data-id={ref}]")


def panel_heading(page, name: str):  # type: ignore[no-untyped-def]
    """The class panel's heading for the selected bubble, e.g. "Message 4"."""
    return page.get_by_text(re.compile(rf"^Classes · {name} \("))


def select_with_down(page, ref: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """↓ from the top until `ref` is selected in the canvas and its classes show on the right."""
    for _ in range(40):
        if "pc-sel" in (bubble(page, ref).get_attribute("class") or ""):
            break
        page.keyboard.press("ArrowDown")
    expect(bubble(page, ref)).to_have_class(re.compile("pc-sel"))
    expect(panel_heading(page, name)).to_be_visible()


def idle(page) -> None:  # type: ignore[no-untyped-def]
    """The app has finished its current run (Streamlit's running indicator is gone)."""
    page.wait_for_timeout(100)
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=10_000)


def focused(page, attribute: str) -> None:  # type: ignore[no-untyped-def]
    """The class panel shows `attribute` focused (▸), once the run has replaced the previous panel (until
    the run ends, the previous bubble's panel can still stand below the new heading)."""
    idle(page)
    marker = page.get_by_text(f"▸ {attribute} *", exact=True)
    expect(marker).to_have_count(1)
    expect(marker).to_be_visible()


def radio(page, label: str):  # type: ignore[no-untyped-def]
    """An option of an attribute's radio (the ranking rows' rank buttons are radios too)."""
    return page.get_by_test_id("stRadio").get_by_role("radio", name=label, exact=True)


def rank(page, candidate: str, value: int):  # type: ignore[no-untyped-def]
    """The button of rank `value` in the shell's ranking row of "Candidate A" / "Candidate B"."""
    return page.get_by_role("radiogroup", name=f"Candidate {candidate}").get_by_role("radio", name=str(value))


def pick_rank(page, candidate: str, value: int) -> None:  # type: ignore[no-untyped-def]
    """Click a rank as a user would: once more if the first click is not shown checked within 5 s (seen once
    in a full CI-style run: a click on the row while Streamlit re-mounted it did not register)."""
    for attempt in range(2):
        rank(page, candidate, value).click()
        try:
            expect(rank(page, candidate, value)).to_be_checked(timeout=5_000)
            return
        except AssertionError:
            if attempt:
                raise
        idle(page)


def pairwise(page, label: str):  # type: ignore[no-untyped-def]
    """A button of the shell's pairwise question (A / Tie / B) or of its strength row."""
    groups = page.get_by_test_id("stButtonGroup")
    group = (
        groups.filter(has_text="Tie") if label in ("A", "Tie", "B") else groups.filter(has_text="much better")
    )
    return group.get_by_role("radio", name=label, exact=True)  # segmented controls are radio groups


def stored(engine):  # type: ignore[no-untyped-def]
    """Every annotation as (item id, status, results by class name, answers by question name, draft)."""
    with Session(engine) as session:
        names = {c.id: c.name for c in session.exec(select(OntologyClass))}
        qnames = {str(q.id): q.name for q in session.exec(select(Classification))}
        out = []
        for ann in session.exec(select(Annotation).order_by(Annotation.id)):
            item = session.get(Item, ann.item_id)
            rows = session.exec(select(Result).where(Result.annotation_id == ann.id)).all()
            out.append(
                {
                    "item": item.external_id,
                    "status": ann.status,
                    "results": sorted(
                        (names[r.class_id], r.message_index, r.candidate_index, r.values) for r in rows
                    ),
                    "answers": {qnames[k]: v for k, v in (ann.classifications or {}).items()},
                    "draft": ann.draft,
                }
            )
        return out


def open_hh_as_ann(app_server, page, datasets_dir, tmp_path, user_class: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The HH-RLHF sample imported with the example ontology, annotator "ann" signed in on its item 1."""
    import_hh_with_cli(app_server, datasets_dir, tmp_path, user_class=user_class)
    add_user(app_server, "ann", "password1", role="annotator")
    sign_in(page, app_server, "ann", "password1", path="/evaluate?dataset=hh&item=1")
    bubble(page, "m0").wait_for()


def test_score_rank_compare_save_reload_submit(app_server, page, datasets_dir, tmp_path):
    engine = app_server.engine()
    open_hh_as_ann(app_server, page, datasets_dir, tmp_path)
    with Session(engine) as session:
        item = session.exec(select(Item).where(Item.external_id == "1")).one()
    bots = [i for i, m in enumerate(item.messages) if m["role"] == "bot"]
    second_bot = bots[1]
    ref, name = f"m{second_bot}", f"Message {second_bot + 1}"

    # the second bot bubble with ↓; the class by its number; score 4 with `4`
    select_with_down(page, ref, name)
    page.keyboard.press("1")
    focused(page, "score")
    page.keyboard.press("4")
    expect(radio(page, "4")).to_be_checked()
    # a rationale
    why = page.get_by_role("textbox", name="why")
    why.fill("Polite and on topic.")
    why.press("Tab")  # leaves the box: Streamlit sends the text
    idle(page)
    # rank the two candidates: B best (1), then A (2)
    pick_rank(page, "B", 1)
    idle(page)
    pick_rank(page, "A", 2)
    idle(page)
    # no ties in this ranking: giving A rank 1 swaps it with B; B back to 1 swaps again
    rank(page, "A", 1).click()
    expect(rank(page, "A", 1)).to_be_checked()
    expect(rank(page, "B", 2)).to_be_checked()
    idle(page)
    rank(page, "B", 1).click()
    expect(rank(page, "B", 1)).to_be_checked()
    expect(rank(page, "A", 2)).to_be_checked()
    idle(page)
    # the pairwise question: B is much better
    pairwise(page, "B").click()
    idle(page)
    pairwise(page, "much better").click()
    idle(page)
    expect(pairwise(page, "much better")).to_be_checked()
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved.", exact=True)).to_be_visible()

    saved = stored(engine)
    assert saved[0]["status"] == "saved"

    page.reload()
    bubble(page, ref).wait_for()
    # everything still there: the badge on the bubble, the result, the answers
    expect(bubble(page, ref).get_by_text("Helpfulness")).to_be_visible()
    expect(page.get_by_role("button", name=f"{name} · Helpfulness")).to_be_visible()
    page.get_by_role("button", name=f"{name} · Helpfulness").click()  # selects its bubble
    expect(bubble(page, ref)).to_have_class(re.compile("pc-sel"))
    expect(radio(page, "4")).to_be_checked()
    expect(page.get_by_role("textbox", name="why")).to_have_value("Polite and on topic.")
    expect(pairwise(page, "much better")).to_be_checked()
    expect(rank(page, "B", 1)).to_be_checked()
    expect(rank(page, "A", 2)).to_be_checked()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate_saved_after_reload.png"), full_page=True)

    page.keyboard.press("Control+Enter")
    expect(page.get_by_text(re.compile(r"^Submitted\."))).to_be_visible()
    expect(page).to_have_url(re.compile(r"item=2"))

    (annotation,) = stored(engine)
    assert annotation["status"] == "submitted"
    assert annotation["results"] == [
        ("helpfulness", second_bot, None, {"score": "4", "why": "Polite and on topic."})
    ]
    assert annotation["answers"] == {
        "preference": {"chosen": 1, "rejected": 0, "strength": 3},
        "ranking": [1, 0],
    }
    assert annotation["draft"] is None
    # the hh-rlhf preference suggestion was not accepted, so it is not among the answers (it said A > B)

    out = tmp_path / "native.jsonl"
    done = app_server.cli("export", "hh", "--format", "native", "--out", str(out))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    (record,) = [r for r in records if r.get("id") == "1"]
    (ann,) = record["annotations"]
    assert ann["results"] == [
        {
            "class": "helpfulness",
            "message": second_bot,
            "values": {"score": "4", "why": "Polite and on topic."},
        }
    ]
    assert ann["classifications"] == {
        "preference": {"chosen": 1, "rejected": 0, "strength": 3},
        "ranking": [1, 0],
    }


NO_CLASS = "Press a class's number (or click it) to choose it."


def go(page, ref: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """↑/↓ from the selected bubble to `ref` (bubbles in page order: messages, then candidates)."""
    order = page.locator("[data-testid=parley-bubble]").evaluate_all("ns => ns.map(n => n.dataset.id)")
    current = next(
        (i for i, b in enumerate(order) if "pc-sel" in (bubble(page, b).get_attribute("class") or "")), -1
    )
    target = order.index(ref)
    key = "ArrowDown" if target > current else "ArrowUp"
    for _ in range(abs(target - current)):
        page.keyboard.press(key)
        page.wait_for_timeout(60)
    expect(bubble(page, ref)).to_have_class(re.compile("pc-sel"))
    expect(panel_heading(page, name)).to_be_visible(timeout=15_000)


def test_rank_by_r_then_a_number_and_by_dragging(app_server, page, datasets_dir, tmp_path):
    engine = app_server.engine()
    open_hh_as_ann(app_server, page, datasets_dir, tmp_path)
    idle(page)
    note = page.get_by_test_id("parley-canvas-note")
    # on a message bubble, r says what to do instead of ranking anything
    go(page, "m0", "Message 1")
    page.keyboard.press("r")
    expect(note).to_have_text("Select a candidate reply first (↑/↓), then press r and its rank.")
    # Candidate B: r, then 1
    go(page, "c1", "Candidate B")
    page.keyboard.press("r")
    expect(note).to_have_text("Rank Candidate B: press 1–2 (1 = best; Esc cancels).")
    page.keyboard.press("1")
    expect(rank(page, "B", 1)).to_be_checked()
    expect(note).to_have_text("")
    idle(page)
    # Candidate A: r, 2
    go(page, "c0", "Candidate A")
    page.keyboard.press("r")
    page.keyboard.press("2")
    expect(rank(page, "A", 2)).to_be_checked()
    expect(rank(page, "B", 1)).to_be_checked()
    idle(page)
    # r, Esc: nothing ranked, and the number after it is a class number again (the ranks stay)
    page.keyboard.press("r")
    expect(note).to_have_text(re.compile("^Rank Candidate A"))
    page.keyboard.press("Escape")
    expect(note).to_have_text("")
    # no ties here: A taking rank 1 swaps it with B
    page.keyboard.press("r")
    page.keyboard.press("1")
    expect(rank(page, "A", 1)).to_be_checked()
    expect(rank(page, "B", 2)).to_be_checked()
    idle(page)
    # the drag list above the rank rows follows, and dragging B above A ranks B first again
    drag_list = page.locator(".rl-list")
    expect(drag_list).to_have_attribute("data-order", "0,1")
    a = page.locator(".rl-row", has_text="Candidate A").bounding_box()
    b = page.locator(".rl-row", has_text="Candidate B").bounding_box()
    assert a and b
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 4, steps=12)
    page.mouse.up()
    expect(drag_list).to_have_attribute("data-order", "1,0")
    expect(rank(page, "B", 1)).to_be_checked()
    expect(rank(page, "A", 2)).to_be_checked()
    idle(page)
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved.", exact=True)).to_be_visible()
    expect(page.get_by_text("saved", exact=True)).to_be_visible()  # the toolbar's status line
    (annotation,) = stored(engine)
    assert annotation["status"] == "saved"
    assert annotation["answers"]["ranking"] == [1, 0]
    # View mode: r does nothing
    page.keyboard.press("e")
    expect(page.get_by_role("button", name="Save")).to_be_disabled()
    idle(page)
    page.keyboard.press("r")
    page.wait_for_timeout(300)
    expect(note).to_have_text("")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate_rank_hotkey.png"), full_page=True)


def test_class_inheritance_on_and_off_never_across_roles(app_server, page, datasets_dir, tmp_path):
    engine = app_server.engine()
    open_hh_as_ann(app_server, page, datasets_dir, tmp_path, user_class=True)
    # item 1: m0 user, m1 bot, m2 user, m3 bot, m4 user; candidates c0, c1 (bot replies)

    # off (the default): a class chosen on a bot bubble is not carried to the next bot bubble
    go(page, "m1", "Message 2")
    page.keyboard.press("1")
    focused(page, "score")
    go(page, "m2", "Message 3")
    expect(page.get_by_text(NO_CLASS)).to_be_visible()
    go(page, "m3", "Message 4")
    expect(page.get_by_text(NO_CLASS)).to_be_visible()

    # on
    page.get_by_text("Class Inheritance").click()
    expect(
        page.get_by_test_id("stCheckbox").filter(has_text="Class Inheritance").locator("input")
    ).to_be_checked()
    go(page, "m4", "Message 5")  # a user bubble: the bot's class is not offered, nothing pre-selected
    expect(page.get_by_text(NO_CLASS)).to_be_visible()
    page.keyboard.press("3")  # Request, on the user bubble
    focused(page, "harm")
    go(page, "m3", "Message 4")  # back to a bot bubble: Helpfulness, the last class chosen for bots
    focused(page, "score")
    page.keyboard.press("5")  # so a number picks the score at once
    expect(radio(page, "5")).to_be_checked()
    go(page, "m2", "Message 3")  # a user bubble again: Request, never Helpfulness
    focused(page, "harm")
    go(page, "c0", "Candidate A")  # candidates are bot replies: Helpfulness
    focused(page, "score")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate_class_inheritance.png"))

    # off again: the next candidate gets nothing
    page.get_by_text("Class Inheritance").click()
    expect(
        page.get_by_test_id("stCheckbox").filter(has_text="Class Inheritance").locator("input")
    ).not_to_be_checked()
    go(page, "c1", "Candidate B")
    expect(page.get_by_text(NO_CLASS)).to_be_visible()

    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved.", exact=True)).to_be_visible()
    (annotation,) = stored(engine)
    # pre-selecting alone makes no result: only what was chosen or given a value is stored
    assert annotation["results"] == [
        ("helpfulness", 1, None, {}),
        ("helpfulness", 3, None, {"score": "5"}),
        ("request", 4, None, {}),
    ]


def test_missing_required_attribute_blocks_submit(app_server, page, datasets_dir, tmp_path):
    engine = app_server.engine()
    open_hh_as_ann(app_server, page, datasets_dir, tmp_path)
    go(page, "m3", "Message 4")
    page.keyboard.press("1")  # Helpfulness, score left empty
    focused(page, "score")
    go(page, "m1", "Message 2")
    page.keyboard.press("1")  # Helpfulness, score left empty
    focused(page, "score")
    pairwise(page, "Tie").click()  # the required comparison is answered
    idle(page)
    go(page, "c1", "Candidate B")

    page.keyboard.press("Control+Enter")
    error = page.get_by_text("Not submitted:")
    expect(error).to_be_visible()
    alert = page.get_by_test_id("stAlert").filter(has_text="Not submitted")
    expect(alert).to_contain_text("Message 2: Helpfulness needs score.")
    expect(alert).to_contain_text("Message 4: Helpfulness needs score.")
    # the first missing bubble is selected, ready for the score
    expect(bubble(page, "m1")).to_have_class(re.compile("pc-sel"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate_missing_required.png"))
    assert all(a["status"] != "submitted" for a in stored(engine))

    page.keyboard.press("4")
    expect(radio(page, "4")).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(alert).to_contain_text("Message 4: Helpfulness needs score.")
    expect(alert).not_to_contain_text("Message 2")
    expect(bubble(page, "m3")).to_have_class(re.compile("pc-sel"))
    page.keyboard.press("2")
    expect(radio(page, "2")).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(re.compile(r"item=2"))
    (annotation,) = stored(engine)
    assert annotation["status"] == "submitted"
    assert annotation["results"] == [
        ("helpfulness", 1, None, {"score": "4"}),
        ("helpfulness", 3, None, {"score": "2"}),
    ]
    assert annotation["answers"] == {"preference": {"tie": True}}


def test_suggestion_accepted_with_a_then_overruled_and_expand_attributes(
    app_server, page, datasets_dir, tmp_path
):
    engine = app_server.engine()
    open_hh_as_ann(app_server, page, datasets_dir, tmp_path)
    suggestions = page.get_by_test_id("stVerticalBlock").filter(has_text="Suggestions").last
    expect(suggestions).to_contain_text("Candidate A is preferred to Candidate B (hh_rlhf)")
    assert stored(engine) == []  # a suggestion is not an answer

    go(page, "m0", "Message 1")
    page.keyboard.press("a")
    expect(pairwise(page, "A")).to_be_checked()
    expect(pairwise(page, "better")).to_be_checked()
    expect(page.get_by_text(re.compile("^✓ accepted: Candidate A is preferred"))).to_be_visible()
    pairwise(page, "B").click()  # the annotator overrules it
    expect(page.get_by_text(re.compile("^✗ overruled: Candidate A is preferred"))).to_be_visible()

    go(page, "c0", "Candidate A")
    page.keyboard.press("1")
    focused(page, "score")
    page.keyboard.press("2")
    expect(radio(page, "2")).to_be_checked()
    unfolded = page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^score: 2$"))
    expect(unfolded).to_have_count(0)  # the result panel lists the result folded
    page.get_by_test_id("parley-canvas").get_by_text("Expand Attributes").click()
    expect(unfolded).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Candidate scores · A: 2$"))).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate_suggestion_expand.png"))
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved.", exact=True)).to_be_visible()
    (annotation,) = stored(engine)
    assert annotation["answers"] == {"preference": {"chosen": 1, "rejected": 0, "strength": 2}}
    assert annotation["results"] == [("helpfulness", None, 0, {"score": "2"})]


def test_blind_comparison_shuffles_per_annotator_and_hides_model_names(app_server, page, datasets_dir):
    from core.evaluation import candidate_order
    from store.models import Dataset, User
    from tests.browser.test_evaluate_data import make_hh_dataset

    engine = app_server.engine()
    make_hh_dataset(engine, datasets_dir, name="blind", n=2)
    words = ("one", "two", "three", "four")
    with Session(engine) as session:
        item = session.exec(select(Item).where(Item.external_id == "1")).one()
        item.candidates = [{"text": f"Reply {w}", "model": f"model-{w}"} for w in words]
        session.add(item)
        session.commit()
        item_id = item.id
    for name, role in (("root", "admin"), ("ann", "annotator"), ("bob", "annotator")):
        add_user(app_server, name, "password1", role=role)
    with Session(engine) as session:
        ids = {u.username: u.id for u in session.exec(select(User))}

    def shown(pg) -> list[str]:  # type: ignore[no-untyped-def]
        """The candidate replies as the canvas shows them, left to right: (letter, model, text)."""
        return pg.locator(".pc-cand").evaluate_all(
            "ns => ns.map(n => [n.querySelector('.pc-av').textContent, "
            "n.querySelector('.pc-sub')?.textContent || '', n.querySelector('.pc-text').textContent.trim()])"
        )

    # Off: stored order, model names beside the letters.
    sign_in(page, app_server, "ann", "password1", path="/evaluate?dataset=blind&item=1")
    bubble(page, "c0").wait_for()
    assert shown(page) == [[chr(65 + k), f"model-{w}", f"Reply {w}"] for k, w in enumerate(words)]

    # An admin turns blind comparison on in the Datasets page.
    admin = page.context.browser.new_context().new_page()
    sign_in(admin, app_server, "root", "password1", path="/datasets")
    admin.get_by_role("tab", name="Settings / delete").click()
    admin.get_by_text("Shuffle candidate order per annotator").click()
    admin.get_by_text("Hide model names").click()
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_text(re.compile("^Settings saved"))).to_be_visible()
    with Session(engine) as session:
        settings = session.exec(select(Dataset).where(Dataset.name == "blind")).one().settings
    assert settings["shuffle_candidates"] is True and settings["hide_model_names"] is True

    # Each annotator sees an order of their own (stable per user and item), no model names.
    views = {}
    for name in ("ann", "bob"):
        pg = page.context.browser.new_context().new_page()
        sign_in(pg, app_server, name, "password1", path="/evaluate?dataset=blind&item=1")
        bubble(pg, "c0").wait_for()
        order = candidate_order(4, user_id=ids[name], item_id=item_id, shuffle=True)
        assert shown(pg) == [[chr(65 + place), "", f"Reply {words[k]}"] for place, k in enumerate(order)]
        assert "model-" not in pg.locator(".pc-list").inner_text()
        views[name] = (pg, order)
    assert views["ann"][1] != views["bob"][1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    views["bob"][0].screenshot(path=str(ARTIFACTS / "evaluate_blind_bob.png"), full_page=True)

    # Bob's "Candidate A" is ranked 1; the answer keeps the original index of that reply.
    pg, order = views["bob"]
    rank(pg, "A", 1).click()
    expect(rank(pg, "A", 1)).to_be_checked()
    idle(pg)
    pg.keyboard.press("Control+s")
    expect(pg.get_by_text("Saved.", exact=True)).to_be_visible()
    saved = [a for a in stored(engine) if a["answers"].get("ranking")]
    assert [a["answers"]["ranking"] for a in saved] == [[order[0]]]
