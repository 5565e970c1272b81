"""Evaluation-page hotkeys the dialogue canvas does not send (components v2, keys.js beside it):
Tab → next attribute, `a` → accept the first open suggestion, Escape → un-choose the class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "parley_evaluate_keys", html="<span></span>", js=(_HERE / "keys.js").read_text(encoding="utf-8")
)


def evaluate_keys(*, key: str, tab: bool, accept: bool, escape: bool, on_key: Callable[[str], None]) -> None:
    """Mount the listener; `on_key("tab" | "a" | "escape")` runs before the next script run, like a widget
    callback, so what it changes is drawn by every widget of that run.

    Each key is listened for only while its flag is on, so Tab keeps moving browser focus otherwise.
    """

    def fire() -> None:
        event = (st.session_state.get(key) or {}).get("key")
        if isinstance(event, dict) and event.get("k"):
            on_key(str(event["k"]))

    _COMPONENT(key=key, data={"tab": tab, "accept": accept, "escape": escape}, on_key_change=fire)
