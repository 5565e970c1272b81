"""The Report page under AppTest: its sections, charts and tables draw with no exception, the filters
rerun it, a second visit answers from the cache, and an annotator is refused."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from tests.conftest import ROOT
from tests.store.test_report import build

PAGE = str(ROOT / "pages" / "report.py")


@pytest.fixture
def data(app_engine):  # type: ignore[no-untyped-def]
    with db.write_session(app_engine) as session:
        return build(session)


def page(user) -> AppTest:  # type: ignore[no-untyped-def]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user_id"] = user.id
    return at.run()


def charts(at: AppTest) -> list:
    return [e for e in at.get("arrow_vega_lite_chart")] or [e for e in at.get("vega_lite_chart")]


def test_sections_charts_and_tables(data):
    at = page(data["users"]["boss"])
    assert not at.exception
    assert [h.value for h in at.header] == ["Progress", "Agreement", "Models", "Annotators"]
    assert len(charts(at)) == 5  # progress, submissions, agreement, leaderboard, win rates
    assert len(at.dataframe) >= 5
    assert [m.value for m in at.metric][0] == "6"
    # numbers rounded for reading (strength 1112.0191 and 51.4286 items / hour were shown in full)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    board = next(t for cols, t in tables.items() if "strength" in cols)
    people = next(t for cols, t in tables.items() if "items / hour" in cols)
    for value in [*board["strength"], *people["items / hour"]]:
        assert value == round(value, 1), value
    at.selectbox(key="report.status").set_value("final").run()
    assert not at.exception and "agreement needs overlap" in at.info[0].value
    at.selectbox(key="report.status").set_value("submitted").run()
    at.multiselect(key="report.annotators").set_value(["bob"]).run()
    assert not at.exception and len(charts(at)) == 4  # one annotator: no agreement


def test_second_visit_answers_from_cache(data):
    boss = data["users"]["boss"]
    page(boss)
    start = time.perf_counter()
    at = page(boss)
    assert not at.exception and time.perf_counter() - start < 3  # the figures are not computed again


def test_reviewer_sees_it_annotator_is_refused(data):
    assert not page(data["users"]["rv"]).exception
    at = page(data["users"]["alice"])
    assert not at.header and not at.metric


def test_a_saved_filter_narrows_the_items(data, app_engine):
    from core.filters import ItemFilter
    from store.saved_filters import save_filter

    boss, ds = data["users"]["boss"], data["dataset"]
    with db.write_session(app_engine) as session:
        save_filter(
            session=session, user=boss, dataset_id=ds.id, name="carol's", flt=ItemFilter(annotators=["carol"])
        )
    at = page(boss)
    at.selectbox(key=f"report.items.{ds.id}").set_value("carol's").run()
    assert not at.exception and [m.value for m in at.metric][0] == "1"  # item i5 only
