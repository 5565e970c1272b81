"""The tool page's toolbar (a fragment: dataset, Show, place, ←/→, Edit/View, Save, Submit, help, Skip), its
first-paint stand-in, the status line under it, and the keyboard shortcuts' help."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import item_filter
from components.toolpage import team
from components.toolpage.navigation import (
    _go_or_defer,
    _pending,
    _pick_dataset,
    _pick_filter,
    _pick_mode,
    _skip,
)
from components.toolpage.work import _k, _stored
from store.models import Dataset, Item
from store.queue import FILTER_LABELS, FILTERS

SHORTCUTS = [
    ("↑ / ↓", "previous / next bubble"),
    ("1 – 9, 0", "pick an option of the focused attribute (a class number when no class is chosen)"),
    ("← / →", "previous / next item"),
    ("Ctrl+S", "save"),
    ("Ctrl+Enter", "submit and go to the next item"),
    ("e", "switch Edit / View"),
    ("p", "pin / unpin the selected bubble"),
    ("s", "skip this item (My queue): it goes back to the queue for someone else"),
    ("/", "search the dialogue (Enter / Shift+Enter: next / previous match)"),
    ("r, then 1 – 9", "rank the selected candidate reply (1 = best)"),
    ("Tab", "Evaluate: the next attribute of the chosen class"),
    ("Esc", "Evaluate: let go of the chosen class (number keys choose a class again)"),
    ("a", "Evaluate: accept the first open suggestion"),
    ("?", "this list"),
]


def _status_ui(slot: Any, kind: str, fallback: str) -> None:
    """The status line in `slot`, and beside it in My queue what is left and how complete the dataset is."""
    user, dataset_id = st.session_state.get(_k(kind, "user")), st.session_state.get(_k(kind, "dataset_id"))
    if not (team.in_queue(kind) and user is not None and dataset_id is not None):
        slot.caption(_status_text(kind, fallback))
        return
    line = slot.container(horizontal=True, gap="medium")
    line.caption(_status_text(kind, fallback))
    line.caption(team.counts_text(kind, user, dataset_id))


def _status_text(kind: str, fallback: str) -> str:
    """The toolbar's status line: "draft · kept 12:01:02", "saved", "saved · newer changes kept as a draft …"."""
    stored = _stored(kind)
    status = stored.status if stored else fallback  # a draft saved this run counts
    labels = {"new": "not started", "draft": "draft", "saved": "saved", "submitted": "submitted",
              "accepted": "accepted by a reviewer", "rejected": "sent back by a reviewer"}  # fmt: skip
    text = labels.get(status, status)
    kept = stored.draft_at if stored else None
    if kept:
        text += f" · kept {kept}" if status == "draft" else f" · newer changes kept as a draft {kept}"
    return text


# The toolbar's row of widgets (its stand-in in the first paint has the key too).
TOOLBAR_ROW = "parley-toolbar"
# The row's height on a wide screen, kept while the widgets' code loads (their stand-ins are lower), so the
# dialogue under it does not jump on a cold open; a narrow screen's wrapped row is higher and simply grows.
TOOLBAR_CSS = f"<style>.st-key-{TOOLBAR_ROW} {{ min-height: 68px; }}</style>"


def _toolbar_stand_in(kind: str, dataset: Dataset) -> Any:
    """The first paint's toolbar: the dataset's name in a row as high as the toolbar's, and the status line."""
    with st.container():  # one block, like the toolbar's fragment, so what follows keeps its place
        st.container(key=TOOLBAR_ROW).caption(dataset.name)
        slot = st.empty()
        slot.caption(_status_text(kind, "new"))
    return slot


def _fragment_run() -> bool:
    """Is this a rerun of a fragment only (not of the whole page)?"""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


@st.fragment
def _toolbar_ui(
    kind: str, datasets: list[Dataset], dataset: Dataset, item: Item | None, rank: int, total: int
) -> Any:
    """The toolbar and the status line under it, as a fragment: a Save (button or Ctrl+S, which the canvas
    turns into a click on it) that could be done in its callback reruns only this, so "Saved." and the new
    status show without redrawing the page. Anything else asked of the toolbar reruns the whole page."""
    if _fragment_run():
        if not st.session_state.pop(_k(kind, "saved_now"), False):
            st.rerun()  # a move, a pick, Submit, or a Save that waits for the page to apply new values
        note = st.session_state.pop(_k(kind, "note"), None)
        if note:
            st.toast(note)
    st.session_state.pop(_k(kind, "saved_now"), None)
    names = {d.name: d.id for d in datasets}
    pick_key = _k(kind, "dataset_pick")
    if st.session_state.get(pick_key) != dataset.name:
        st.session_state[pick_key] = dataset.name
    filter_key = _k(kind, "filter_pick")
    st.session_state[filter_key] = st.session_state.get(_k(kind, "filter"), "all")
    with st.container(key=TOOLBAR_ROW):
        cols = st.columns([1.4, 1.6, 0.8, 0.5, 0.5, 1.4, 0.7, 0.85, 0.45, 0.8], vertical_alignment="bottom")
    cols[0].selectbox("Dataset", list(names), key=pick_key, on_change=_pick_dataset, args=(kind, names))
    user = st.session_state.get(_k(kind, "user"))
    shows = (*team.filters_for(user, FILTERS), *item_filter.show_choices(kind, user, dataset.id))
    cols[1].selectbox(
        "Show", shows, key=filter_key, on_change=_pick_filter, args=(kind,),
        format_func=lambda f: FILTER_LABELS.get(f) or item_filter.show_label(kind, f) or team.QUEUE_LABEL,
        # a filter's description is longer than the box: whole, in the label's tooltip
        help=item_filter.show_label(kind, st.session_state[filter_key]),
    )  # fmt: skip
    with cols[2]:
        position = f"{rank:,} / {total:,}" if rank else f"– / {total:,}"
        st.markdown(f"**{position}**", help="Place of this item among the items shown")
    has_item = item is not None
    cols[3].button("", icon=":material/chevron_left:", key=_k(kind, "prev"), help="Previous item (←)",
                   on_click=_go_or_defer, args=(kind, -1), disabled=not has_item)  # fmt: skip
    cols[4].button("", icon=":material/chevron_right:", key=_k(kind, "next"), help="Next item (→)",
                   on_click=_go_or_defer, args=(kind, 1), disabled=not has_item)  # fmt: skip
    # Widget state is dropped when the user visits another page; the plain keys "mode"/"filter" are not.
    st.session_state[_k(kind, "mode_pick")] = st.session_state.get(_k(kind, "mode"), "Edit")
    cols[5].segmented_control(
        "Mode", ["Edit", "View"], key=_k(kind, "mode_pick"), required=True, label_visibility="collapsed",
        help="Edit / View (e). View is read-only.", on_change=_pick_mode, args=(kind,),
    )  # fmt: skip
    view = st.session_state.get(_k(kind, "mode")) == "View"
    cols[6].button("Save", key=_k(kind, "save"), on_click=_pending, args=(kind, "save"), disabled=view or not has_item,
                   help="Save (Ctrl+S)")  # fmt: skip
    cols[7].button("Submit", key=_k(kind, "submit"), type="primary", on_click=_pending, args=(kind, "submit"),
                   disabled=view or not has_item, help="Submit and go to the next item (Ctrl+Enter)")  # fmt: skip
    cols[8].button(
        "?", key=_k(kind, "help_button"), help="Keyboard shortcuts (?)", on_click=_open_help, args=(kind,)
    )
    if team.in_queue(kind):
        cols[9].button("Skip", key=_k(kind, "skip"), on_click=_skip, args=(kind,), disabled=not has_item,
                       help="Skip this item (s): it goes back to the queue for someone else")  # fmt: skip
    if st.session_state.pop(_k(kind, "help"), False):
        _shortcuts_dialog()
    slot = st.empty()
    # (Drawn now in every run, so the line holds its place while the page is drawn; finish() brings it
    # up to date once the page has applied its changes.)
    _status_ui(slot, kind, "new")
    return slot


def _open_help(kind: str) -> None:
    st.session_state[_k(kind, "help")] = True


def _shortcuts_ui() -> None:
    rows = "\n".join(f"| `{keys}` | {what} |" for keys, what in SHORTCUTS)
    st.markdown("**Keyboard shortcuts** (single keys work when no text box has focus)\n\n"
                f"| Key | Does |\n|---|---|\n{rows}")  # fmt: skip


@st.dialog("Keyboard shortcuts")
def _shortcuts_dialog() -> None:
    _shortcuts_ui()
