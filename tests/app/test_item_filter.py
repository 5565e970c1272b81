"""The Datasets page's item filters under AppTest: search with highlighted words, a status filter, the count,
a saved filter that reopens, and "Annotate these" handing the filter to Evaluate's Show menu."""

from __future__ import annotations

from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from core.filters import ItemFilter
from store import db
from store.annotations import save_annotation
from store.models import Item, User
from store.ontology import create_class, create_classification
from store.search import rebuild_index
from tests.conftest import ROOT
from tests.utils import make_dataset

PAGE = str(ROOT / "pages" / "datasets.py")


def _dataset(session, name: str, items: dict[str, tuple[str, list[dict]]]) -> tuple[User, User, int, dict]:  # type: ignore[no-untyped-def]
    """An admin, an annotator and a dataset of `items` (external id: the user's message, the candidates) with
    its search index; returns them and the items' ids by external id."""
    admin, ann = User(username="root", role="admin"), User(username="ann1", role="annotator")
    session.add_all([admin, ann])
    session.flush()
    ds = make_dataset(session, name).id
    session.execute(insert(Item), [
        {"dataset_id": ds, "external_id": ext, "position": i, "name": "", "meta": {},
         "messages": [{"role": "user", "text": text}], "candidates": candidates}
        for i, (ext, (text, candidates)) in enumerate(items.items(), start=1)
    ])  # fmt: skip
    rebuild_index(session.connection(), ds)
    session.flush()
    ids = dict(session.execute(Item.__table__.select().with_only_columns(Item.external_id, Item.id)).all())
    return admin, ann, ds, ids


def test_search_filter_save_and_hand_over(app_engine) -> None:  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        reply = [{"text": "Soon.", "model": "m-large"}]
        admin, ann, ds, ids = _dataset(session, "chats", {
            f"c{i}": (f"Where is my refund {i}?" if i % 2 else f"Hello {i}", reply) for i in range(1, 7)
        })  # fmt: skip
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
    assert any(c.value == "id c1 · 1 message · 1 candidate" for c in at.caption)  # the chosen item
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


def test_class_value_and_answer_filters_list_the_annotated_items(app_engine) -> None:  # type: ignore[no-untyped-def]
    """A class's attribute value and a classification answer, chosen in the form, list exactly the items whose
    saved work holds them (read from the annotation values, store/annotation_values.py)."""
    with db.write_session(app_engine) as session:
        items = {f"s{i}": (f"Question {i}", [{"text": "Reply."}]) for i in range(1, 6)}
        admin, ann, ds, ids = _dataset(session, "scored", items)
        quality = create_class(session=session, user=admin, dataset_id=ds, data={
            "name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
            "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3"]}]}).id  # fmt: skip
        topic = create_classification(session=session, user=admin, dataset_id=ds, data={
            "name": "topic", "type": "radio", "options": ["code", "chat"]}).id  # fmt: skip
        for ext, score, answer in (("s1", "3", "code"), ("s2", "1", "chat"), ("s3", "3", "chat")):
            work = {"classifications": {str(topic): answer},
                    "results": [{"class_id": quality, "candidate": 0, "values": {"score": score}}]}  # fmt: skip
            save_annotation(session=session, user=ann, item_id=ids[ext], work=work, version=0, submit=True)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = admin.id
    at.run()
    key = f"datasets.filter.{ds}"

    def listed() -> set[str]:
        shown = " ".join(str(d.value) for d in at.dataframe) + " ".join(h.proto.body for h in at.get("html"))
        return {f"s{i}" for i in range(1, 6) if f"s{i}" in shown}

    at.selectbox(key=f"{key}.label").set_value("quality").run()
    at.selectbox(key=f"{key}.attribute").set_value("score").run()
    at.text_input(key=f"{key}.value").input("3").run()
    assert any("2 items match" in m.value for m in at.markdown)
    assert listed() == {"s1", "s3"}
    at.selectbox(key=f"{key}.question").set_value("topic").run()
    at.text_input(key=f"{key}.answer").input("chat").run()
    assert any("1 item matches" in m.value for m in at.markdown)  # score 3 and chat: s3
    assert listed() == {"s3"}
