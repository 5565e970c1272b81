"""The Dataset Center under AppTest: create, import from a server path with a preview, browse, rename, delete."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from streamlit.testing.v1 import AppTest

from store import db
from store.models import Annotation, Item
from store.zjson import zjson_value
from tests.conftest import ROOT
from tests.utils import make_user

PAGE = str(ROOT / "pages" / "datasets.py")


@pytest.fixture
def env(app_engine):  # type: ignore[no-untyped-def]
    engine = app_engine
    with db.write_session(engine) as session:
        admin = make_user(session, "root", role="admin")
    return engine, admin


def open_page(admin) -> AppTest:  # type: ignore[no-untyped-def]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = admin.id
    return at.run()


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "success", "error", "warning", "info", "caption", "text")
                    for e in getattr(at, kind))  # fmt: skip


def test_create_import_browse_rename_delete(env, datasets_dir: Path) -> None:  # type: ignore[no-untyped-def]
    engine, admin = env
    at = open_page(admin)
    assert "No datasets yet" in texts(at)
    at.text_input(key="datasets.new_name").input("chats")
    at.text_area(key="datasets.new_description").input("identity chats")
    at.button[0].click().run()  # Create
    assert at.dataframe[0].value["name"].tolist() == ["chats"]

    at.radio(key="datasets.kind").set_value("Server path").run()
    source = next(t for t in at.text_input if t.label == "Server path")
    source.input(str(datasets_dir / "llamafactory_mllm_demo.zip")).run()
    assert "format **openai**" in texts(at) and "**6 items**" in texts(at)
    assert len(at.chat_message) >= 6  # the preview's bubbles
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from item").scalar_one() == 0  # nothing written yet
    next(b for b in at.button if b.label == "Import").click().run()
    assert "Imported into chats: 6 items, 24 messages, 0 candidates, 3 images" in texts(at)
    assert next(t for t in at.text_input if t.label == "Server path").value == ""  # ready for the next source
    row = at.dataframe[0].value.iloc[0]
    assert (row["items"], row["messages"], row["images"], row["new"]) == (6, 24, 3, 6)

    at.text_input(key="datasets.search.1").input("bayern").run()
    assert "1–2 of 2" in texts(at)
    assert "They're Kane and Gretzka from Bayern Munich." in texts(at)
    assert len(at.image) >= 1  # the item's photo, from the blob store

    at.text_input(key="datasets.name.1").input("chats 2")
    next(b for b in at.button if b.label == "Rename").click().run()
    assert at.dataframe[0].value["name"].tolist() == ["chats 2"]

    assert "loses its 6 items and all the work on them" in texts(at)
    assert "Delete dataset" not in [b.label for b in at.button]  # only once the box is ticked
    at.checkbox(key="datasets.confirm.1").check().run()
    assert "loses 6 items, 0 annotations, 0 results, 0 suggestions, 0 comments." in texts(at)
    next(b for b in at.button if b.label == "Delete dataset").click().run()
    assert "No datasets yet" in texts(at)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from item").scalar_one() == 0


def test_bad_file_shows_the_error_and_imports_nothing(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, admin = env
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [\n')
    at = open_page(admin)
    at.text_input(key="datasets.new_name").input("d")
    at.button[0].click().run()
    at.radio(key="datasets.kind").set_value("Server path").run()
    next(t for t in at.text_input if t.label == "Server path").input(str(bad)).run()
    message = " ".join(e.value for e in at.error)
    assert "bad.jsonl, line 2: invalid JSON" in message and "Nothing was imported." in message
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from item").scalar_one() == 0


def test_counts_follow_annotations(env, datasets_dir: Path) -> None:  # type: ignore[no-untyped-def]
    engine, admin = env
    from store.importer import import_source

    import_source(user=admin, dataset_name="d", source=str(datasets_dir / "fastchat_dummy_conversation.json"),
                  engine=engine, create=True)  # fmt: skip
    with db.write_session(engine) as session:
        first, second, third = session.query(Item).order_by(Item.position).limit(3).all()
        for item, status, validity in (
            (first, "submitted", "valid"),
            (second, "saved", "invalid"),
            (third, "draft", "valid"),
        ):
            session.add(Annotation(item_id=item.id, dataset_id=item.dataset_id, annotator_id=admin.id,
                                   status=status, validity=validity))  # fmt: skip
    at = open_page(admin)
    row = at.dataframe[0].value.iloc[0]
    assert (row["items"], row["new"], row["saved"], row["submitted"], row["invalid"]) == (500, 498, 1, 1, 1)


def test_xlsx_with_several_sheets_choose_one(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    book = Workbook()
    notes = book.active
    notes.title = "notes"
    notes.append(["remark"])
    notes.append(["nothing to import here"])
    data = book.create_sheet("data")
    data.append(["id", "prompt", "response"])
    data.append(["r1", "What is 2+2?", "=2+2"])  # a formula: its cached value (none here) is read, never run
    data.append(["r2", "Capital of France?", "Paris"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    engine, admin = env
    at = open_page(admin)
    at.text_input(key="datasets.new_name").input("sheets")
    at.button[0].click().run()
    at.radio(key="datasets.kind").set_value("Server path").run()
    next(t for t in at.text_input if t.label == "Server path").input(str(path)).run()
    sheet = next(s for s in at.selectbox if s.label == "Sheet")
    assert sheet.options == ["notes", "data"]
    sheet.set_value("data").run()
    assert next(s for s in at.selectbox if s.label == "Prompt").value == "prompt"
    assert "**2 items**" in texts(at)
    next(b for b in at.button if b.label == "Import").click().run()
    assert "Imported into sheets: 2 items" in texts(at)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("select messages from item order by position")
        texts_in_db = [orjson.dumps(zjson_value(r[0])).decode() for r in rows]
    assert "Capital of France?" in texts_in_db[1] and "=2+2" not in texts_in_db[0]


def test_import_can_skip_near_duplicates_and_names_them(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, admin = env
    prompt = (
        "please write a short friendly email to my landlord asking when the broken heater will be repaired"
    )
    rows = [{"id": "a", "messages": [{"role": "user", "content": prompt}]},
            {"id": "b", "messages": [{"role": "user", "content": prompt.replace("friendly", "polite")}]},
            {"id": "c", "messages": [{"role": "user", "content": "name three rivers of south america and their lengths"}]}]  # fmt: skip
    path = tmp_path / "near.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    at = open_page(admin)
    at.text_input(key="datasets.new_name").input("near")
    at.button[0].click().run()
    at.radio(key="datasets.kind").set_value("Server path").run()
    next(t for t in at.text_input if t.label == "Server path").input(str(path)).run()
    next(c for c in at.checkbox if c.label == "Skip near duplicates").check().run()
    assert next(s for s in at.slider if s.label == "Similarity at least").value == 0.8
    next(b for b in at.button if b.label == "Import").click().run()
    assert "Imported into near: 2 items" in texts(at) and "1 skipped as near duplicates" in texts(at)
    assert any(e.label == "1 near duplicate left out" for e in at.expander) and "b ≈ a" in texts(at)
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("select external_id from item order by position")] == [
            "a",
            "c",
        ]


def test_the_items_list_pages_by_twenty_in_a_run_of_the_whole_page(env) -> None:  # type: ignore[no-untyped-def]
    """Previous / Next under AppTest, whose every run is the whole page's (the list is a fragment): each
    click shows the next 20 items in order, and the last page's Next is off."""
    from sqlalchemy import insert

    from tests.utils import make_dataset

    engine, admin = env
    with db.write_session(engine) as session:
        ds = make_dataset(session, "many").id
        session.execute(insert(Item), [
            {"dataset_id": ds, "external_id": f"n{i}", "position": i, "name": "", "meta": {},
             "messages": [{"role": "user", "text": f"question {i}"}], "candidates": []}
            for i in range(1, 46)
        ])  # fmt: skip
    at = open_page(admin)

    def button(label: str):  # type: ignore[no-untyped-def]
        return next(b for b in at.button if b.label == label)

    assert "1–20 of 45" in texts(at)
    for expected in ("21–40 of 45", "41–45 of 45"):
        button("Next").click().run()
        assert expected in texts(at)
    assert button("Next").disabled
    button("Previous").click().run()
    assert "21–40 of 45" in texts(at)
    items = next(s for s in at.selectbox if s.label == "Item")
    assert [o.split(" · ")[0] for o in items.options] == [f"n{i}" for i in range(21, 41)]
