"""The app starts under `streamlit run`, a user signs in through the real form, and Home shows the demo."""

from tests.conftest import ARTIFACTS, sign_in


def test_sign_in_shows_pages(app_server, page):
    app_server.add_user("admin1", "password1", role="admin")
    sign_in(page, app_server, "admin1", "password1")
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Datasets").wait_for()
    assert nav.get_by_role("link", name="Team").is_visible()


def test_home_lists_the_demo_dataset(app_server, page):
    done = app_server.cli("setup")
    assert done.returncode == 0, done.stderr
    assert "loaded the demo dataset 'Demo'" in done.stdout
    app_server.add_user("ann", "password1", role="annotator")
    sign_in(page, app_server, "ann", "password1")
    page.get_by_text("Welcome, ann").wait_for()
    page.get_by_text("Demo", exact=True).wait_for()
    main = page.get_by_test_id("stMain")
    assert main.get_by_role("link", name="Evaluate").get_attribute("href").endswith("evaluate?dataset=Demo")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-signed-in.png"), full_page=True)
