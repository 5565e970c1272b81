"""The evaluate page under AppTest: the canvas's selection and hotkeys injected through session state
(custom components are UnknownElements there), the panels and the stored work checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from store.annotations import load_work
from tests.app import open_tool_page
from tests.browser.test_evaluate_data import make_hh_dataset
from tests.conftest import ROOT
from tests.utils import make_user

PAGE = str(ROOT / "pages" / "evaluate.py")


@pytest.fixture
def env(app_engine, datasets_dir: Path):  # type: ignore[no-untyped-def]
    engine = app_engine
    make_hh_dataset(engine, datasets_dir, n=2, user_class=True)
    with db.write_session(engine) as session:
        user = make_user(session, "ann", role="annotator")
    return engine, user


def select(at: AppTest, ref: str) -> AppTest:
    seq = (
        (at.session_state["tool.evaluate.sel"] or {"seq": 0})["seq"]
        if "tool.evaluate.sel" in at.session_state
        else 0
    )
    at.session_state["tool.evaluate.sel"] = {"id": ref, "seq": seq + 1}
    return at.run()


def key(at: AppTest, k: str) -> AppTest:
    at.session_state["tool.evaluate.key"] = k
    return at.run()


def texts(at: AppTest) -> str:
    return " ".join(
        str(e.value) for kind in ("markdown", "caption", "error", "warning") for e in getattr(at, kind)
    )


def work(engine, user):  # type: ignore[no-untyped-def]
    from sqlmodel import Session
    from sqlmodel import select as sql_select

    from store.models import Item

    with Session(engine) as session:
        item = session.exec(sql_select(Item).where(Item.external_id == "1")).one()
        return load_work(session=session, user=user, item_id=item.id).work


def test_classes_by_role_number_keys_and_delete(env) -> None:  # type: ignore[no-untyped-def]
    engine, user = env
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = user.id
    open_tool_page(at)
    assert not at.exception
    assert "Select a bubble" in texts(at)

    select(at, "m0")  # a user bubble: only the user class is offered
    labels = [b.label for b in at.button if b.key and b.key.startswith("evaluate.class.")]
    assert labels == ["3 · Request"]
    select(at, "m1")  # a bot bubble: Helpfulness (the response class never shows here)
    labels = [b.label for b in at.button if b.key and b.key.startswith("evaluate.class.")]
    assert labels == ["1 · Helpfulness"]

    key(at, "3")  # not a class of this bubble: nothing happens, a note says so
    assert work(engine, user)["results"] == []
    key(at, "1")
    key(at, "4")
    assert at.radio(key=next(r.key for r in at.radio if r.key and ".score" in r.key)).value == "4"
    (result,) = work(engine, user)["results"]
    assert (result["message"], result["values"]) == (1, {"score": "4"})
    key(at, "0")  # score has 5 options: 0 (the tenth) picks nothing
    assert work(engine, user)["results"][0]["values"] == {"score": "4"}

    # the result panel lists it; delete asks first
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("evaluate.del."))).click().run()
    assert "Delete Helpfulness on Message 2 and its values?" in texts(at)
    at.button(key="evaluate.yes").click().run()
    assert work(engine, user)["results"] == []
    assert "No results yet." in texts(at)


def test_a_value_picked_as_the_selection_moves_on_is_kept(env) -> None:  # type: ignore[no-untyped-def]
    """The score is clicked and ↑ comes before the run that applies it: that run draws the panel of the
    next bubble, not the score's widget. The score must still reach the work (it used to be lost)."""
    engine, user = env
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = user.id
    open_tool_page(at)
    select(at, "m1")
    key(at, "1")  # Helpfulness on Message 2; its score widget is drawn
    score = next(r.key for r in at.radio if r.key and ".score" in r.key)
    at.radio(key=score).set_value("4")
    seq = at.session_state["tool.evaluate.sel"]["seq"]
    at.session_state["tool.evaluate.sel"] = {"id": "m3", "seq": seq + 1}  # in the same request
    at.run()
    assert not at.exception, at.exception
    assert "Message 4" in texts(at)  # the panel is for the next bubble
    (result,) = work(engine, user)["results"]
    assert (result["message"], result["values"]) == (1, {"score": "4"})


def test_view_mode_changes_nothing(env) -> None:  # type: ignore[no-untyped-def]
    engine, user = env
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = user.id
    open_tool_page(at)
    at.session_state["tool.evaluate.mode"] = "View"
    select(at, "m1")
    key(at, "1")
    assert work(engine, user)["results"] == []
    assert all(b.disabled for b in at.button if b.key and b.key.startswith("evaluate.class."))


def test_the_place_is_carried_along_under_an_item_filter_drafts_cannot_change(
    app_engine, datasets_dir, monkeypatch
):
    """ "12 / 300" under a saved filter (or one from the Datasets page): ←/→ carry the place along (counting it took ~200 ms
    a move at 1M items) where keeping the draft of the item left cannot change the selection; under one it
    can ("untouched") the place is counted on every move. Either way the place shown is the item's."""
    from sqlmodel import Session, select

    from components.toolpage import navigation
    from core.filters import ItemFilter
    from store.comments import add_comment
    from store.models import Item
    from store.queue import rank_of
    from store.saved_filters import save_filter

    ds = make_hh_dataset(app_engine, datasets_dir, n=8)
    with db.write_session(app_engine) as session:
        admin = make_user(session, "boss", role="admin")
        items = session.exec(select(Item).where(Item.dataset_id == ds).order_by(Item.position)).all()
        for item in items[1::2]:  # items 2, 4, 6, 8
            add_comment(session=session, user=admin, item_id=item.id, text="look")
    counted: list[int] = []

    def counting(**kw):  # type: ignore[no-untyped-def]
        counted.append(kw["item"].id)
        return rank_of(**kw)

    monkeypatch.setattr(navigation, "rank_of", counting)
    for name, flt, carried in (("commented", ItemFilter(comments=True), True),
                               ("untouched", ItemFilter(status=["untouched"]), False)):  # fmt: skip
        with db.write_session(app_engine) as session:
            save_filter(session=session, user=admin, dataset_id=ds, name=name, flt=flt)
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.session_state["auth.user_id"] = admin.id
        at.session_state["tool.evaluate.dataset_id"] = ds
        at.session_state["tool.evaluate.filter"] = "saved:" + name  # (a filter handed over works alike)
        open_tool_page(at)
        counted.clear()
        places = []
        for _ in range(3):
            at.button(key="tool.evaluate.next").click().run()
            assert not at.exception, at.exception
            places.append(next(m.value for m in at.markdown if " / " in str(m.value)))
        with Session(app_engine) as session:
            shown = session.get(Item, at.session_state["tool.evaluate.item_id"])
            place = rank_of(session=session, user=admin, item=shown, flt=flt)
        total = 4 if flt.comments else 8
        assert [p.strip("*") for p in places] == [f"{k} / {total}" for k in (2, 3, 4)], (flt, places)
        assert place == 4, flt
        assert (counted == []) == carried, (flt, counted)
