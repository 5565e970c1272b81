"""The app starts under `streamlit run` and a user signs in through the real form."""

from tests.conftest import sign_in


def test_sign_in_shows_pages(app_server, page):
    app_server.add_user("admin1", "password1", role="admin")
    sign_in(page, app_server, "admin1", "password1")
    page.get_by_role("link", name="Datasets").wait_for()
    assert page.get_by_role("link", name="Team").is_visible()
