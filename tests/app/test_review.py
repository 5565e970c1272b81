"""Review page (AppTest): the stream, Accept / Reject / Fix & accept change the store, a reason is required,
deep links, adjudication writes the final answer, annotators are refused; the Datasets page's team settings."""

from __future__ import annotations

import pytest
from sqlalchemy import false, true
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from components.auth import USER_KEY
from store import db
from store.annotations import saved_work
from store.models import Annotation, Dataset, Item, User
from store.team.settings import team_settings
from tests.conftest import ROOT
from tests.review_data import build
from tests.utils import statements

PAGE = str(ROOT / "pages" / "review.py")


@pytest.fixture
def data(app_engine):  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        return build(session)


def open_page(user: User, path: str = PAGE, **params: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=30)
    at.session_state[USER_KEY] = user.id
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def annotation(app_engine, ext: str, who: str) -> Annotation:  # type: ignore[no-untyped-def]
    with db.read_session(app_engine) as session:
        return session.exec(
            select(Annotation)
            .join(Item, Item.id == Annotation.item_id)
            .join(User, User.id == Annotation.annotator_id)
            .where(Item.external_id == ext, User.username == who, Annotation.final == false())
        ).one()


def shown(at: AppTest) -> str:
    pick = at.selectbox(key="review.pick")
    return pick.format_func(pick.value)


def test_stream_lists_submissions_and_accept_moves_on(data, app_engine):
    at = open_page(data["rita"])
    assert not at.exception
    assert len(at.selectbox(key="review.pick").options) == 6
    assert "6** awaiting review" in "".join(m.value for m in at.markdown)
    assert shown(at).startswith("i1 · dialogue i1 · alice")
    assert at.query_params["item"] == "i1" and at.query_params["annotator"] == "alice"
    at.button(key="review.accept").click().run()
    assert annotation(app_engine, "i1", "alice").status == "accepted"
    assert shown(at).startswith("i2 · dialogue i2 · alice")
    assert len(at.selectbox(key="review.pick").options) == 5
    assert "Accepted alice on item i1." in [t.value for t in at.toast]


def test_the_stream_counts_all_it_holds_and_lists_the_oldest_page(data, app_engine, monkeypatch):
    """Past a page (STREAM_PAGE), the count is still the whole stream's and says how many are listed; under
    "Disagreements only" (checked item by item, as far as a page) a full page shows as n+."""
    from components.review import stream

    monkeypatch.setattr(stream, "STREAM_PAGE", 4)
    at = open_page(data["rita"])
    counted = "".join(m.value for m in at.markdown)
    assert "**6** awaiting review · oldest 4 listed" in counted, counted
    assert len(at.selectbox(key="review.pick").options) == 4
    assert shown(at).startswith("i1 · dialogue i1 · alice")
    assert stream._count_label(4, None, "awaiting review") == "**4+** awaiting review"
    assert stream._count_label(3, None, "awaiting review") == "**3** awaiting review"
    assert stream._count_label(1, 1_234, "awaiting review") == "**1,234** awaiting review · oldest 1 listed"
    # A page that is not full is the whole stream: nothing is counted.
    monkeypatch.setattr(stream, "STREAM_PAGE", 10)
    with statements(app_engine) as seen:
        at.run()
    assert "**6** awaiting review" in "".join(m.value for m in at.markdown)
    assert not [s for s in seen if s.startswith("select count(*)") and "from annotation" in s], seen


def test_result_panel_shows_values_answers_and_reply_diff(data, app_engine):
    at = open_page(data["rita"])
    text = "\n".join(m.value for m in at.markdown)
    assert "Helpfulness" in text and "Candidate A" in text and "score: <b>4</b>" in text
    assert "**topic**: chat" in text
    at.selectbox(key="review.pick").set_value(annotation(app_engine, "i3", "alice").id).run()
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert "<ins>" in html and "kinder." in html
    assert "Changes against the model's reply it started from" in "".join(c.value for c in at.caption)


def test_reject_needs_a_reason_then_sends_back(data, app_engine):
    at = open_page(data["rita"])
    at.button(key="review.reject").click().run()
    assert at.text_area(key="review.reason").label == "Reason"
    at.button(key="review.send_back").click().run()
    assert at.error and "Give a reason" in at.error[0].value
    assert annotation(app_engine, "i1", "alice").status == "submitted"
    at.text_area(key="review.reason").input("Score 4 is too generous.").run()
    at.button(key="review.send_back").click().run()
    ann = annotation(app_engine, "i1", "alice")
    assert (ann.status, ann.review_reason) == ("rejected", "Score 4 is too generous.")
    assert shown(at).startswith("i2 · dialogue i2 · alice")
    assert "Sent back to alice on item i1." in [t.value for t in at.toast]


def test_fix_and_accept_keeps_the_authors_version(data, app_engine):
    at = open_page(data["rita"])
    ann = annotation(app_engine, "i1", "alice")
    at.button(key="review.fix").click().run()
    base = f"review.fix.{ann.id}.{ann.version}"
    assert "alice's own version" in "".join(m.value for m in at.markdown)
    at.radio(key=f"{base}.r0.a.score").set_value("5").run()
    at.button(key=f"{base}.save").click().run()
    assert not at.exception
    fixed = annotation(app_engine, "i1", "alice")
    assert fixed.status == "accepted"
    assert fixed.original["results"][0]["values"]["score"] == "4"
    with db.read_session(app_engine) as session:
        assert saved_work(session, fixed)["results"][0]["values"]["score"] == "5"
    assert "Fixed and accepted alice's work on item i1." in [t.value for t in at.toast]


def test_deep_link_opens_the_annotation(data):
    at = open_page(data["rita"], dataset="team", item="i2", annotator="bob")
    assert shown(at).startswith("i2 · dialogue i2 · bob")
    at.button(key="review.next").click().run()
    assert shown(at).startswith("i3 · dialogue i3 · bob")
    assert at.query_params["item"] == "i3" and at.query_params["annotator"] == "bob"


def test_annotator_is_refused(data):
    at = open_page(data["alice"])
    assert at.error[0].value == "Your role does not allow this page."
    assert not at.selectbox


def adjudicate(user: User) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state[USER_KEY] = user.id
    at.session_state["review.mode"] = "Adjudicate"
    return at.run()


def test_adjudication_finalise_writes_the_final_answer(data, app_engine):
    at = adjudicate(data["rita"])
    assert not at.exception
    item = data["items"]["i1"]
    assert "i1 · dialogue i1 · 2 annotations · ⚠ differ" in at.selectbox(key="review.adj.pick").format_func(
        item.id
    )
    at.button(key="review.adj.finalise").click().run()
    assert (
        at.error
        and "pick an answer for" in at.error[0].value
        and "Helpfulness · Candidate A · score" in at.error[0].value
    )
    score = f"r:{data['classes']['helpfulness']}:c0:score"
    topic = f"q:{data['questions']['topic']}"
    at.selectbox(key=f"review.adj.{item.id}.{score}.take").set_value("bob").run()
    at.selectbox(key=f"review.adj.{item.id}.{topic}.take").set_value("Own answer").run()
    at.text_input(key=f"review.adj.{item.id}.{topic}.own").input("other").run()
    at.button(key="review.adj.finalise").click().run()
    assert not at.error
    with db.read_session(app_engine) as session:
        final = session.exec(
            select(Annotation).where(Annotation.item_id == item.id, Annotation.final == true())
        ).one()
        work = saved_work(session, final)
    assert work["results"][0]["values"] == {"score": "2"}
    assert work["classifications"] == {data["questions"]["topic"]: "other"}
    assert "final by **rita**" in "".join(m.value for m in at.markdown)
    at.button(key="review.adj.bulk").click().run()
    assert "Finalised 1 agreed item." in [t.value for t in at.toast]


def test_datasets_page_saves_team_settings(data, app_engine):
    at = open_page(data["admin"], path=str(ROOT / "pages" / "datasets.py"))
    p = f"datasets.team.{data['dataset'].id}"
    at.checkbox(key=f"{p}.all").uncheck()
    at.number_input(key=f"{p}.overlap").set_value(3)
    at.radio(key=f"{p}.review").set_value("sample")
    at.number_input(key=f"{p}.sample").set_value(30.0)
    at.text_area(key=f"{p}.reasons").input("Too short\nOff topic\n")
    at.button(key=f"FormSubmitter:{p}-Save team settings").click().run()
    assert not at.exception
    with db.read_session(app_engine) as session:
        saved = team_settings(session.get(Dataset, data["dataset"].id))
    assert (saved.overlap, saved.review, saved.sample) == (3, "sample", 30.0)
    assert saved.reject_reasons == ("Too short", "Off topic")
