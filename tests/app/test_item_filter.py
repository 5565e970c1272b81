"""The Datasets page's item filters under AppTest: search with highlighted words, a status filter, the count,
a saved filter that reopens, and "Annotate these" handing the filter to Evaluate's Show menu."""

from __future__ import annotations

from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from core.filters import ItemFilter
from store import db
from store.annotations import save_annotation
from store.models import Item, User
from store.search import rebuild_index
from tests.conftest import ROOT
from tests.utils import make_dataset

PAGE = str(ROOT / "pages" / "datasets.py")


def test_search_filter_save_and_hand_over(app_engine) -> None:  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        admin, ann = User(username="root", role="admin"), User(username="ann1", role="annotator")
        session.add_all([admin, ann])
        session.flush()
        ds = make_dataset(session, "chats").id
        session.execute(insert(Item), [
            {"dataset_id": ds, "external_id": f"c{i}", "position": i, "name": "", "meta": {},
             "messages": [{"role": "user", "text": f"Where is my refund {i}?" if i % 2 else f"Hello {i}"}],
             "candidates": [{"text": "Soon.", "model": "m-large"}]}
            for i in range(1, 7)
        ])  # fmt: skip
        rebuild_index(session.connection(), ds)
        session.flush()
        ids = dict(
            session.execute(Item.__table__.select().with_only_columns(Item.external_id, Item.id)).all()
        )
        for ext in ("c1", "c2"):
            save_annotation(session=session, user=ann, item_id=ids[ext], work={}, version=0, submit=True)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = admin.id
    at.run()
    assert any("6 items" in m.value for m in at.markdown)

    at.text_input(key=f"datasets.search.{ds}").input("refund").run()
    assert any("3 items match" in m.value for m in at.markdown)
    table = next(h.proto.body for h in at.get("html") if "parley-matches" in h.proto.body)
    assert "<mark>refund</mark>" in table and "c1" in table and "c2" not in table

    at.multiselect(key=f"datasets.filter.{ds}.status").set_value(["submitted"]).run()
    assert any("1 item matches" in m.value for m in at.markdown)
    at.text_input(key=f"datasets.filter.{ds}.save_name").input("done refunds").run()
    at.button(key=f"datasets.filter.{ds}.save").click().run()
    # Reopen: clear the form, then pick the saved filter.
    at.multiselect(key=f"datasets.filter.{ds}.status").set_value([]).run()
    at.selectbox(key=f"datasets.filter.{ds}.saved").set_value("done refunds").run()
    assert at.multiselect(key=f"datasets.filter.{ds}.status").value == ["submitted"]

    at.button(key=f"datasets.annotate.{ds}").click().run()
    assert at.session_state["tool.evaluate.handed"] == (
        ds,
        ItemFilter(search="refund", status=["submitted"]).to_dict(),
    )
    assert at.session_state["tool.evaluate.filter"] == "handed"
