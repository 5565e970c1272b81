"""AppTest tests of the pages."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def open_tool_page(at: AppTest) -> AppTest:
    """Open a tool page as a browser does: a session's first run paints the dialogue alone (see
    components/toolpage `_first_paint`), and the canvas, once painted, asks for the rerun that draws the
    page around it. AppTest has no canvas in a browser, so the second run is asked for here."""
    at.run()
    assert not at.exception, at.exception
    return at.run()
