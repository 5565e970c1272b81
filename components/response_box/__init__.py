"""The reply text box (components v2): live character/word counter, hard max, drafts, Ctrl+S/Ctrl+Enter.

Why not `st.text_area`: a native shortcut pressed while typing in it sends the text area's OLD value
(STACK-NOTES), and it cannot refuse typing past a maximum counted in code points. This box sends its text
as component state (debounced 300 ms, and at once on blur, on page hide and before Ctrl+S/Ctrl+Enter), and
Ctrl+S / Ctrl+Enter as state too ({"action", "seed", "text", "nonce"}; a state survives a run interrupted
by the next keystrokes, a trigger would not), carrying the exact text, so a save stores what was typed.
The page runs each nonce once.

The text is (re)seeded from `value` only when `seed` changes; any rerun with the same seed leaves what the
annotator is typing alone. Build the seed from what the box is about (item, class) and a revision the page
bumps whenever it changes the text itself (delete, start from the model's reply).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).parent
_component = st.components.v2.component(
    "parley.response_box",
    css=(_HERE / "response_box.css").read_text(encoding="utf-8"),
    js=(_HERE / "response_box.js").read_text(encoding="utf-8"),
    isolate_styles=True,
)


@dataclass(frozen=True)
class BoxEvent:
    """What the box reported in this run.

    draft: {"seed", "text"} — the latest text the box sent (it persists across reruns; check its seed).
    action: {"action": "save" | "submit", "seed", "text", "nonce"} — the last shortcut pressed (persists;
    act on a nonce once), or None.
    """

    draft: dict[str, Any] | None
    action: dict[str, Any] | None


def _noop() -> None:
    """Callbacks must exist for Streamlit to report the state/trigger; the page reads the result."""


def response_box(
    *,
    key: str,
    seed: str,
    value: str,
    label: str = "",
    min_chars: int | None = None,
    max_chars: int | None = None,
    disabled: bool = False,
    placeholder: str = "",
    focus: bool = True,
    rows: int = 6,
    backup_key: str = "",
) -> BoxEvent:
    """Mount the reply box under a stable `key` and return what it reported this run.

    backup_key: a localStorage key for what is typed but not yet on the server (per user, item and class),
    so a reload within the debounce window loses nothing; "" for none.
    """
    result = _component(
        key=key,
        data={
            "seed": seed,
            "value": value,
            "label": label,
            "min": min_chars or 0,
            "max": max_chars or 0,
            "disabled": disabled,
            "placeholder": placeholder,
            "focus": focus,
            "rows": rows,
            "backup_key": backup_key,
        },
        default={"draft": None, "action": None},
        on_draft_change=_noop,
        on_action_change=_noop,
    )
    draft = result.get("draft") if hasattr(result, "get") else getattr(result, "draft", None)
    action = result.get("action") if hasattr(result, "get") else getattr(result, "action", None)
    return BoxEvent(
        draft=draft if isinstance(draft, dict) else None, action=action if isinstance(action, dict) else None
    )
