"""The dialogue canvas: a components-v2 custom component drawing an item's bubbles (canvas.js/.css beside it).

    state = dialogue_canvas(key="tool.evaluate.canvas", item=item, ...)

What it does in the browser, with no server trip: select a bubble (click, ↑/↓), pin up to 4 bubbles (hover
"Pin" or `p`; a fifth is refused with a message), search with "3 of 12" and Enter/Shift+Enter, text size,
Hide Avatar, image thumbnails opening full size in an overlay, "Open in New Tab" links (a deep link to
pages/message.py). What it reports to Python: the selected bubble (state, survives reruns), the Expand
Attributes switch (state) and hotkeys (a trigger for one rerun): "next", "prev", "save", "submit", "painted",
"mode", "help" and the digits "0".."9" (digits only when `editable`).

Message text is rendered by components/markdown.py (raw HTML off, nh3-sanitized); every other string is
set with textContent in canvas.js, so nothing from the data runs as markup or script.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import streamlit as st

from components.markdown import render_markdown
from core.dialogue import candidate_label

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "parley_dialogue_canvas",
    css=(_HERE / "canvas.css").read_text(encoding="utf-8"),
    js=(_HERE / "canvas.js").read_text(encoding="utf-8"),
)
ROLE_NAMES = {"user": "User", "bot": "Bot", "system": "System"}
_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_CACHE_MAX = 512


@dataclass
class CanvasState:
    selected: str | None  # "m3", "c1" or None
    expand: bool  # the Expand Attributes switch
    key: str | None  # the hotkey pressed this run (see the module docstring), or None


def image_url(asset_id: str) -> str:
    """A URL the browser can load for an image asset (components/media.py's signed-in route)."""
    try:
        from components.media import asset_url
    except ImportError:  # media route not there yet: an inline data: URI of the bytes
        return _data_uri(asset_id)
    return asset_url(asset_id)


@functools.lru_cache(maxsize=256)
def _data_uri(asset_id: str) -> str:
    import base64

    from store import db
    from store.blobs import get_blob_store
    from store.models import Asset

    with db.read_session() as session:
        asset = session.get(Asset, asset_id)
    if asset is None or asset.mime not in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return ""
    return f"data:{asset.mime};base64," + base64.b64encode(get_blob_store().get(asset_id)).decode()


def bubbles(
    *,
    item_id: int | None,
    messages: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    order: list[int] | None = None,
    hide_models: bool = False,
) -> dict[str, Any]:
    """The canvas payload of an item's bubbles (Markdown rendered and sanitized), cached by item id.

    Items never change after import, so the rendering is kept per item row. `order`: the original
    candidate indexes in the order shown (a blind comparison shuffles them per annotator); a candidate
    keeps its id "c<original index>" and is labelled A, B… by its place. A candidate's `model` shows
    beside its label unless `hide_models`.
    """
    order = list(order) if order is not None else list(range(len(candidates)))
    cache_key = (item_id, len(messages), tuple(order), hide_models) if item_id is not None else None
    if cache_key is not None and cache_key in _CACHE:
        return _CACHE[cache_key]
    out_messages = [
        {
            "id": f"m{i}",
            "role": m.get("role", "user"),
            "name": ROLE_NAMES.get(m.get("role", "user"), str(m.get("role", "")).title()),
            "sub": f"#{i + 1}",
            "html": render_markdown(str(m.get("text") or "")),
            "images": [u for u in (image_url(a) for a in (m.get("images") or [])) if u],
        }
        for i, m in enumerate(messages)
    ]
    out_candidates = []
    for place, k in enumerate(order):
        c = candidates[k]
        model = c.get("model")
        out_candidates.append({
            "id": f"c{k}",
            "role": "bot",
            "name": f"Candidate {candidate_label(place)}",
            "label": candidate_label(place),
            "sub": str(model) if model and not hide_models else "",
            "html": render_markdown(str(c.get("text") or "")),
            "images": [u for u in (image_url(a) for a in (c.get("images") or [])) if u],
        })  # fmt: skip
    payload = {"messages": out_messages, "candidates": out_candidates}
    if cache_key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[cache_key] = payload
    return payload


def ahead_entry(*, item_key: str, item_id: int, step: int, rank: int | None, open_url: str,
                content: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """A neighbouring item the canvas can show at once on ←/→ (`step` places away), before the server's rerun.

    The canvas then asks Python to open exactly this item ({"k": "goto", "id", "rank"}), so what is shown
    and what is opened are the same even when reruns overtake each other.
    """
    return {
        "step": step,
        "item_key": item_key,
        "goto": item_id,
        "rank": rank,
        "open_url": open_url,
        **content,
    }


def message_link(*, dataset: str, external_id: str) -> str:
    """The "Open in New Tab" URL prefix; the canvas appends the bubble id ("m3" / "c1")."""
    return "/message?" + urlencode({"dataset": dataset, "item": external_id}) + "&bubble="


def dialogue_canvas(
    *,
    key: str,
    item_key: str,
    content: dict[str, Any],
    selected: str | None = None,
    sel_seq: int = 0,
    expand: bool = False,
    editable: bool = True,
    open_url: str | None = None,
    badges: dict[str, list[dict[str, str]]] | None = None,
    mode: str = "tool",
    ahead: list[dict[str, Any]] | None = None,
    ack: int = 0,
    save_button: str | None = None,
    first_paint: bool = False,
    activity: bool = False,
    search: str = "",
    on_selected: Callable[[], None] | None = None,
    on_key: Callable[[], None] | None = None,
    on_expand: Callable[[], None] | None = None,
) -> CanvasState:
    """Draw the canvas for one item and return what the user did.

    content: `bubbles(...)`'s payload. item_key: changes when the item changes (pins are kept per item).
    selected/sel_seq: the selection Python wants; the browser applies it when the canvas first mounts or
    when sel_seq is higher than the last selection it sent (so a stale rerun never undoes a keypress).
    badges: {"m3": [{"text": "Helpfulness", "detail": "score 4", "color": "#2e7d32"}]}; the detail shows
    when Expand Attributes is on. mode "single" draws the bubbles only (pages/message.py), no hotkeys.
    ahead: `ahead_entry(...)`s of the items ←/→ lead to, shown at once on the key (no server trip); ack: the
    number `n` of the last ←/→ key event Python has acted on (until it arrives, the canvas keeps showing
    the item it moved to instead of an older rerun's).
    first_paint: the canvas is drawn alone (a session's first run, see components/toolpage): once its bubbles
    are painted it sends the key "painted", whose rerun draws the page around it.
    activity: report the annotator's active seconds on the item to /activity (the tool pages).
    search: words to mark in the bubbles (the active filter's search), put in the canvas's search box.
    save_button: the `key` of a Streamlit button that Ctrl+S clicks (so the save reruns only that button's
    fragment); without it, or while that button is not on the page or disabled, Ctrl+S is sent as "save".
    Callbacks (no arguments) run before the script like any widget callback; read the values with
    `canvas_value(key)`.
    """
    messages = content["messages"]
    candidates = content["candidates"]
    if badges:
        messages = [{**m, "badges": badges.get(m["id"], [])} for m in messages]
        candidates = [{**c, "badges": badges.get(c["id"], [])} for c in candidates]
    rev_source = orjson.dumps([item_key, badges or {}, editable, open_url, mode, id(content)])
    data = {
        "item_key": item_key,
        "rev": hashlib.blake2b(rev_source, digest_size=8).hexdigest(),
        "messages": messages,
        "candidates": candidates,
        "sel": {"id": selected, "seq": sel_seq},
        "expand": expand,
        "editable": editable,
        "open_url": open_url,
        "mode": mode,
        "ahead": ahead or [],
        "ack": ack,
        "save_button": save_button,
        "first_paint": first_paint,
        "activity": activity,
        "search": search,
    }
    noop = _noop
    result = _COMPONENT(
        key=key,
        data=data,
        default={"selected": None, "expand": expand},
        on_selected_change=on_selected or noop,
        on_expand_change=on_expand or noop,
        on_key_change=on_key or noop,
    )
    sel = result.get("selected") if hasattr(result, "get") else getattr(result, "selected", None)
    key_event = result.get("key") if hasattr(result, "get") else getattr(result, "key", None)
    return CanvasState(
        selected=(sel or {}).get("id") if isinstance(sel, dict) else None,
        expand=bool(result.get("expand") if hasattr(result, "get") else getattr(result, "expand", expand)),
        key=(key_event or {}).get("k") if isinstance(key_event, dict) else None,
    )


def canvas_value(key: str) -> dict[str, Any]:
    """The canvas's values in a callback: {"selected": {"id", "seq"}, "expand": bool, "key": {"k", "n"}}."""
    value = st.session_state.get(key)
    return dict(value) if value else {}


def _noop() -> None:
    return None
