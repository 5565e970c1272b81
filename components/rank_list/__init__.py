"""Drag-to-rank list of an item's candidates (components v2; rank_list.js/.css beside it, no build step).

The browser draws a drop at once and sends the new order as component state {"order", "nonce"} (a state
survives a run cut short by the next event, a one-run trigger would not; a later drop carries the whole
order, so it makes up for an earlier one a cut-short run missed). `rank_list` returns a nonce's order once,
in the first run that sees it: a drop never comes back over a change made later by another widget. Take
the returned order in at once (before drawing anything else), or do it in `on_change` with `last_drop(key)`,
which runs before the script and cannot be cut short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).parent
_component = st.components.v2.component(
    "parley.rank_list",
    css=(_HERE / "rank_list.css").read_text(encoding="utf-8"),
    js=(_HERE / "rank_list.js").read_text(encoding="utf-8"),
    isolate_styles=True,
)


def _noop() -> None:
    """Callbacks must exist for Streamlit to report the state; the page reads the result."""


def _seen_key(key: str) -> str:
    return f"rank_list.seen.{key}"


def last_drop(key: str) -> list[int] | None:
    """The order last dropped in the list mounted under `key` (ids best first), or None. Readable inside
    `on_change`, which runs before the script, so a callback can store the new ranking itself."""
    state = st.session_state.get(key)
    drop = state.get("drop") if hasattr(state, "get") else None
    if not isinstance(drop, dict) or not isinstance(drop.get("order"), list):
        return None
    try:
        return [int(x) for x in drop["order"]]
    except (TypeError, ValueError):
        return None


def valid_drop(dropped: Any, ids: list[int]) -> list[int] | None:
    """`dropped` as ids best first if it names only known row ids, each once; else None."""
    if not isinstance(dropped, list):
        return None
    try:
        order = [int(x) for x in dropped]
    except (TypeError, ValueError):
        return None
    if len(set(order)) != len(order) or not set(order) <= set(ids):
        return None
    return order


def rank_list(
    *,
    key: str,
    rows: list[dict],
    order: list[int],
    disabled: bool = False,
    ranks: dict[int, int] | None = None,
    on_change: Callable[[], None] | None = None,
) -> list[int] | None:
    """Mount the list under a stable `key`.

    rows: [{"id": int (original candidate index), "label": "Candidate A", "sub": "gpt-4" | "",
    "hint": "first words…"}]; order: ids best first (the ranked ones; others are unranked); ranks: the
    rank shown on each ranked row (tied candidates share one), by default its place.
    Returns the order the user last dropped (ids best first, every id once) when it differs from
    `order`, else None. `on_change` runs (like a widget callback, before the next run) after a drop.
    """
    ids = [int(r["id"]) for r in rows]
    shown = [int(x) for x in order if int(x) in ids]
    payload_rows = [
        {"id": int(r["id"]), "label": str(r.get("label", "")), "sub": str(r.get("sub") or ""),
         "hint": str(r.get("hint") or "")[:200]}
        for r in rows
    ]  # fmt: skip
    result = _component(
        key=key,
        data={
            "rows": payload_rows,
            "order": shown,
            "disabled": bool(disabled),
            "ranks": {str(k): int(v) for k, v in (ranks or {}).items()},
        },
        default={"drop": None},
        on_drop_change=on_change or _noop,
    )
    drop = result.get("drop") if hasattr(result, "get") else getattr(result, "drop", None)
    if not isinstance(drop, dict) or not drop.get("nonce"):
        return None
    nonce = str(drop["nonce"])
    seen = _seen_key(key)
    if st.session_state.get(seen) == nonce:
        return None
    st.session_state[seen] = nonce  # act on each drop once, also a refused one (View mode, unknown ids)
    dropped = valid_drop(drop.get("order"), ids)
    if disabled or dropped is None or dropped == shown:
        return None
    return dropped
