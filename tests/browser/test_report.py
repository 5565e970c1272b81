"""Browser: the Report page draws its sections and charts with no exception; the HTML report written by
`python -m store report` opens in chromium with every network request refused and shows its SVG charts."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session

from store.db import upgrade
from tests.conftest import ARTIFACTS, sign_in
from tests.store.test_report import build


def test_report_page_draws_its_charts(app_server, page):
    upgrade(app_server.database_url)
    with Session(app_server.engine(), expire_on_commit=False) as session:
        build(session)  # admin "boss" (password1), dataset "pilot"
    sign_in(page, app_server, "boss", "password1", path="/report")
    page.get_by_role("heading", name="Report").wait_for()
    for section in ("Progress", "Agreement", "Models", "Annotators"):
        page.get_by_role("heading", name=section).wait_for()
    charts = page.locator("[data-testid='stVegaLiteChart']")
    expect(charts).to_have_count(5)
    # Vega draws each chart once it has its data: its marks (an svg or a canvas) appear inside
    for i in range(5):
        charts.nth(i).locator("canvas, svg").first.wait_for()
    page.get_by_text("Bradley–Terry strength").first.wait_for()
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.get_by_role("button", name="Download the report (HTML)")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its own container: a tall window shows the whole page in the screenshot
    page.set_viewport_size({"width": 1400, "height": 3800})
    page.get_by_role("heading", name="Annotators").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "report_page.png"), full_page=True)


def test_html_report_opens_offline_with_its_charts(app_server, browser, tmp_path):
    upgrade(app_server.database_url)
    with Session(app_server.engine(), expire_on_commit=False) as session:
        build(session)
    out = tmp_path / "pilot.html"
    done = app_server.cli("report", "pilot", "--out", str(out))
    assert done.returncode == 0, done.stderr
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    asked: list[str] = []

    def refuse(route) -> None:  # type: ignore[no-untyped-def]
        if not route.request.url.startswith("file://"):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    try:
        pg = context.new_page()
        pg.route("**/*", refuse)
        pg.goto(out.as_uri())
        expect(pg.get_by_role("heading", name="Pilot report: pilot")).to_be_visible()
        figures = pg.locator("figure.chart svg")
        expect(figures).to_have_count(5)
        for i in range(5):
            box = figures.nth(i).bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
        # the marks are drawn: the leaderboard's points, the heat map's cells
        assert pg.locator("figure[data-chart='leaderboard'] svg path").count() > 2
        assert pg.locator("figure[data-chart='winrate'] svg path").count() > 2
        assert asked == []  # nothing outside the file was wanted
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "report_html_offline.png"), full_page=True)
    finally:
        context.close()
