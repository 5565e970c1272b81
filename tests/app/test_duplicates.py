"""The Datasets page's Duplicates tab under AppTest: the groups appear on Find, with their similarity and
members; the threshold and the prompt / dialogue choice change them; the result stays for the dataset."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from components import duplicates
from store import db
from store.users import get_user_by_name
from tests.app.test_datasets import PAGE
from tests.store.test_duplicates import build


def test_find_duplicates(app_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        build(session)  # dataset "demo" and its admin "root"
        admin = get_user_by_name(session=session, username="root")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = admin.id
    at.run()
    assert "Press Find duplicates" in " ".join(c.value for c in at.caption)
    find = next(b for b in at.button if b.label == "Find duplicates")
    find.click().run()
    shown = " ".join(m.value for m in at.markdown)
    assert "**1 group** (3 items) with prompt similarity ≥ 0.80" in shown
    assert "**Group 1** · 3 items · similarity 0.9" in shown
    table = next(d.value for d in at.table if "similarity" in d.value.columns)
    assert table["id"].tolist() == ["a1", "a2", "a3"]
    assert table["prompt"][0].startswith("Be helpful. Write a short friendly email")

    at.radio(key="duplicates.1.over").set_value("dialogue").run()
    assert "(3 items) with prompt similarity" in " ".join(m.value for m in at.markdown)  # kept until Find
    next(b for b in at.button if b.label == "Find duplicates").click().run()
    assert "**2 groups** (5 items) with dialogue similarity ≥ 0.80" in " ".join(m.value for m in at.markdown)
    tables = [d.value["id"].tolist() for d in at.table if "similarity" in d.value.columns]
    assert tables == [["a1", "a2", "a3"], ["c1", "c2"]]

    at.radio(key="duplicates.1.over").set_value("prompt")
    at.slider(key="duplicates.1.threshold").set_value(1.0).run()
    next(b for b in at.button if b.label == "Find duplicates").click().run()
    assert "**1 group** (2 items) with prompt similarity ≥ 1.00" in " ".join(m.value for m in at.markdown)
    tables = [d.value["id"].tolist() for d in at.table if "similarity" in d.value.columns]
    assert tables == [["a1", "a3"]]

    monkeypatch.setattr(duplicates, "MEMBERS_SHOWN", 2)  # a large group: its first items, and how many more
    at.slider(key="duplicates.1.threshold").set_value(0.8).run()
    next(b for b in at.button if b.label == "Find duplicates").click().run()
    tables = [d.value["id"].tolist() for d in at.table if "similarity" in d.value.columns]
    assert tables == [["a1", "a2"]]
    assert "and 1 more item: `python -m store duplicates demo --out FILE`" in " ".join(
        c.value for c in at.caption
    )
