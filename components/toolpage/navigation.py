"""Where the user is and how they move: the tool page's callbacks (←/→ and the canvas's other keys, Skip,
Save, the toolbar's picks) as state transitions between items, the deep link, the datasets shown and the
item's place ("12 / 300")."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from sqlmodel import Session

from components import item_filter
from components.dialogue import canvas_value
from components.toolpage import team
from components.toolpage.work import _dump, _k, _persist_draft, _stored, _write
from core.filters import ItemFilter
from store import db
from store.datasets import list_datasets
from store.errors import NotFound
from store.models import Dataset, Item, User
from store.queue import count_items, item_by_external_id, neighbour, rank_of
from store.team.queue import claim, holds_slot, next_in_queue, queue_before

DIGITS = tuple("1234567890")

_STABLE = ("all", "todo", "submitted")  # filters under which a neighbour's place is this place ± 1


def _save_now_or_defer(kind: str) -> None:
    """Save (Ctrl+S, the Save button): at once in the callback when ctx.work already holds everything (see
    _unapplied), so the run that follows starts by showing "Saved."; otherwise at finish(), after the page
    applied the new values."""
    if st.session_state.get(_k(kind, "mode")) == "View":
        return
    if _unapplied(kind):
        st.session_state[_k(kind, "pending")] = "save"
    elif _write(kind, submit=False):
        st.session_state[_k(kind, "saved_now")] = True


def _open_item(kind: str, item_id: int | None) -> None:
    """Make `item_id` the current item; its work is loaded by the next tool_page()."""
    st.session_state[_k(kind, "item_id")] = item_id
    st.session_state.pop(_k(kind, "loaded"), None)
    st.session_state.pop(_k(kind, "problems"), None)
    st.session_state.pop(_k(kind, "conflict"), None)
    sel = st.session_state.get(_k(kind, "sel")) or {"id": None, "seq": 0}
    st.session_state[_k(kind, "sel")] = {"id": None, "seq": int(sel["seq"]) + 1}


def _leave_item(kind: str) -> bool:
    """Keep unsaved changes of the current item as a draft before moving away; False on a conflict."""
    work = st.session_state.get(_k(kind, "work"))
    user = st.session_state.get(_k(kind, "user"))
    item_id = st.session_state.get(_k(kind, "loaded"))
    if work is None or user is None or item_id is None or st.session_state.get(_k(kind, "conflict")):
        return True
    if st.session_state.get(_k(kind, "mode")) == "View":
        return True
    if _dump(work) != _stored(kind).base:  # (loaded is set after stored: see work._load)
        return _persist_draft(kind, user, item_id, work)
    return True


def _go(kind: str, step: int, target: int | None = None, rank: int | None = None, event: int = 0) -> None:
    """← / → (and the ◀ ▶ buttons): the previous/next item under the status filter, or exactly `target`
    (the item the canvas already shows, from its `ahead`; `rank` its place). `event` is the key event's
    number, echoed to the canvas as `ack` once acted on (moved, or refused)."""
    user = st.session_state.get(_k(kind, "user"))
    dataset_id = st.session_state.get(_k(kind, "dataset_id"))
    item_id = st.session_state.get(_k(kind, "item_id"))
    if event:
        st.session_state[_k(kind, "ack")] = event
    if user is None or dataset_id is None:
        return
    status = st.session_state.get(_k(kind, "filter"), "all")
    if status == team.QUEUE:
        found = _queue_step(user, dataset_id, item_id, step, target)
        stable = False
        if found is False:
            return  # not an item of this dataset (a stale or forged event): stay
    else:
        nav = _nav(kind, user, dataset_id, status)
        found = _filter_step(user, dataset_id, item_id, step, target, *nav)
        stable = _stable(*nav)
        if found is False:
            return
    _arrive(kind, found, item_id, step, target, rank, status, stable)


def _stable(walk: str, flt: ItemFilter | None) -> bool:
    """Whether, under this (status filter, item filter), the neighbour of an item is one place on after a
    move, whose only change is the draft kept of the item left (see ItemFilter.unchanged_by_drafts)."""
    return walk in _STABLE and (flt is None or flt.unchanged_by_drafts())


def _nav(kind: str, user: User, dataset_id: int, choice: str) -> tuple[str, ItemFilter | None]:
    """The "Show" choice as the store's (status filter, item filter): a saved filter, or the one the Datasets
    page handed over, walks every item it selects (components/item_filter.py)."""
    flt = item_filter.show_filter(kind, user, dataset_id, choice)
    return ("all", flt) if flt is not None else (choice, None)


def _filter_step(
    user: User,
    dataset_id: int,
    item_id: int | None,
    step: int,
    target: int | None,
    status: str,
    flt: ItemFilter | None = None,
) -> Item | None | bool:
    """Where ←/→ lead under a status filter (False: a target that is not this dataset's)."""
    with db.read_session() as session:
        if target is not None:
            found = session.get(Item, target)
            if found is None or found.dataset_id != dataset_id:
                return False
            return found
        current = session.get(Item, item_id) if item_id else None
        return neighbour(
            session=session, user=user, dataset_id=dataset_id, item=current, step=step, status=status, flt=flt
        )


def _queue_step(
    user: User, dataset_id: int, item_id: int | None, step: int, target: int | None
) -> Item | None | bool:
    """Where ←/→ lead in My queue: the item the canvas showed ahead if its slot can still be had (else the
    next queue item), the next queue item, or back through the annotator's own items."""
    with db.write_session() as session:
        current = session.get(Item, item_id) if item_id else None
        if target is not None:
            found = session.get(Item, target)
            if found is None or found.dataset_id != dataset_id:
                return False
            if holds_slot(session, user, found.id) or claim(session, user, found, enforce=False):
                return found
            return next_in_queue(session=session, user=user, dataset_id=dataset_id, after=current)
        if step > 0:
            return next_in_queue(session=session, user=user, dataset_id=dataset_id, after=current)
        if current is None:
            return None
        before = queue_before(session=session, user=user, dataset_id=dataset_id, item=current, limit=1)
        return before[0] if before else None


def _arrive(
    kind: str,
    found: Item | None,
    item_id: int | None,
    step: int,
    target: int | None,
    rank: int | None,
    status: str,
    stable: bool,
) -> None:
    """Open `found` after a move (a note at either end), carrying the item's place along where it can
    (`stable`: see _stable)."""
    if found is None:
        if status == team.QUEUE:
            note = "No more items in your queue." if step > 0 else "This is the first item you worked on."
        else:
            note = "This is the last item." if step > 0 else "This is the first item."
        st.session_state[_k(kind, "note")] = note
        return
    if found.id == item_id:
        return
    if not _leave_item(kind):
        return  # the draft could not be kept (a conflict): stay, the message says what to do
    old_rank = st.session_state.get(_k(kind, "rank"))
    _open_item(kind, found.id)
    # (Drafts move items in and out of "new"/"progress", so those are counted afresh. Under an item filter a
    # draft could not change, as under "all", the place is carried: counting it took ~200 ms a move at 1M.)
    if target is not None and rank and stable:
        st.session_state[_k(kind, "rank")] = (found.id, status, int(rank))
    elif target is None and stable and old_rank and old_rank[:2] == (item_id, status) and old_rank[2] > 0:
        # The neighbour under the same filter is one place on: no COUNT over the dataset per move.
        st.session_state[_k(kind, "rank")] = (found.id, status, old_rank[2] + step)


def _widget_values(kind: str, ids: Any = None) -> str | None:
    """A fingerprint of the widgets' values (all but the canvas and buttons): those of `ids` (the widgets a
    run drew) or, in a callback, those the browser just sent. None when Streamlit's internals move."""
    try:
        from streamlit.runtime.state.session_state_proxy import get_session_state

        inner = get_session_state()._state
        states = inner._new_widget_state
        canvas_id = inner._key_id_mapper.get_id_from_key(_k(kind, "canvas"), "")
        values = []
        for wid in sorted(ids if ids is not None else list(states)):
            meta = states.widget_metadata.get(wid)
            if (canvas_id and canvas_id in wid) or meta is None or "trigger" in str(meta.value_type):
                continue
            value = states.get(wid)
            if value is not None:  # a component with triggers only has no value to send back
                values.append((wid, value))
        return repr(values)
    except Exception:
        return None


def _record_applied(kind: str) -> None:
    """At the end of a run that applied every widget value to ctx.work: remember those values."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        ctx = get_script_run_ctx()
        ids = list(ctx.shared.widget_ids_this_run.snapshot()) if ctx is not None else None
    except Exception:
        ids = None
    st.session_state[_k(kind, "applied")] = _widget_values(kind, ids) if ids is not None else None


def _unapplied(kind: str) -> bool:
    """In a key's callback: may the browser have sent widget values that ctx.work does not hold yet?

    True when the last run did not reach its end, or when the values now differ from those the last
    complete run applied (a text box committed with the key, or by a run that was cut short before the
    page read it). Then a move or a save waits for the page to apply them (the slower, safe path).
    """
    if not st.session_state.get(_k(kind, "complete"), True):
        return True
    applied = st.session_state.get(_k(kind, "applied"))
    return applied is None or _widget_values(kind) != applied


def _go_or_defer(
    kind: str, step: int, target: int | None = None, rank: int | None = None, event: int = 0
) -> None:
    """Move now (one rerun) unless ctx.work may miss widget values (see _unapplied): then after the page
    applied them."""
    if _unapplied(kind):
        st.session_state[_k(kind, "nav")] = (step, target, rank, event)
    else:
        _go(kind, step, target, rank, event)


def _toggle_mode(kind: str) -> None:
    mode_key = _k(kind, "mode")
    st.session_state[mode_key] = "Edit" if st.session_state.get(mode_key, "Edit") == "View" else "View"


def _on_key(kind: str) -> None:
    event = canvas_value(_k(kind, "canvas")).get("key") or {}
    key = event.get("k") if isinstance(event, dict) else None
    number = event.get("n") if isinstance(event, dict) and isinstance(event.get("n"), int) else 0
    if key == "goto":
        target, rank = event.get("id"), event.get("rank")
        if isinstance(target, int):
            _go_or_defer(kind, 0, target, rank if isinstance(rank, int) else None, number)
    elif key == "next":
        _go_or_defer(kind, 1, event=number)
    elif key == "prev":
        _go_or_defer(kind, -1, event=number)
    elif key == "mode":
        _toggle_mode(kind)
    elif key == "skip":
        _skip(kind)
    elif key == "help":
        st.session_state[_k(kind, "help")] = not st.session_state.get(_k(kind, "help"), False)
    elif key == "save":
        _save_now_or_defer(kind)
    elif key == "submit":
        st.session_state[_k(kind, "pending")] = key
    elif key in DIGITS:
        if "sel" in event and event.get("sel") != _selection_now(kind):
            return  # pressed on a bubble that is no longer the selected one (a late or replayed event)
        st.session_state[_k(kind, "key")] = key


def _selection_now(kind: str) -> str | None:
    """The selected bubble as of this request, whichever callback runs first (see _on_canvas_state)."""
    current = st.session_state.get(_k(kind, "sel")) or {"id": None, "seq": 0}
    reported = canvas_value(_k(kind, "canvas")).get("selected")
    if isinstance(reported, dict) and int(reported.get("seq") or 0) >= int(current["seq"]):
        return reported.get("id")
    return current["id"]


def _on_canvas_state(kind: str) -> None:
    value = canvas_value(_k(kind, "canvas"))
    sel = value.get("selected")
    if isinstance(sel, dict):
        current = st.session_state.get(_k(kind, "sel")) or {"id": None, "seq": 0}
        if int(sel.get("seq") or 0) >= int(current["seq"]):
            st.session_state[_k(kind, "sel")] = {"id": sel.get("id"), "seq": int(sel.get("seq") or 0)}
    if "expand" in value:
        st.session_state[_k(kind, "expand")] = bool(value["expand"])


def _skip(kind: str) -> None:
    """Skip (button or s, My queue only): keep unsaved changes as a draft, release the item, open the next."""
    user = st.session_state.get(_k(kind, "user"))
    dataset_id = st.session_state.get(_k(kind, "dataset_id"))
    item_id = st.session_state.get(_k(kind, "item_id"))
    if (
        not team.in_queue(kind)
        or user is None
        or dataset_id is None
        or item_id is None
        or not _leave_item(kind)
    ):
        return
    found = team.skip_item(user, item_id, dataset_id)
    st.session_state[_k(kind, "epoch")] = st.session_state.get(_k(kind, "epoch"), 0) + 1
    st.session_state[_k(kind, "note")] = "Skipped." + ("" if found else " Your queue is empty.")
    _open_item(kind, found.id if found else None)


def _pending(kind: str, action: str) -> None:
    if action == "save":
        _save_now_or_defer(kind)
    else:
        st.session_state[_k(kind, "pending")] = action


def _reload_item(kind: str) -> None:
    """After a conflict: drop this tab's copy and load the newest saved state."""
    _open_item(kind, st.session_state.get(_k(kind, "item_id")))


def _pick_dataset(kind: str, names: dict[str, int]) -> None:
    name = st.session_state.get(_k(kind, "dataset_pick"))
    if name in names and names[name] != st.session_state.get(_k(kind, "dataset_id")):
        _leave_item(kind)
        st.session_state[_k(kind, "dataset_id")] = names[name]
        _open_item(kind, None)


def _pick_mode(kind: str) -> None:
    st.session_state[_k(kind, "mode")] = st.session_state.get(_k(kind, "mode_pick")) or "Edit"


def _pick_filter(kind: str) -> None:
    st.session_state[_k(kind, "filter")] = st.session_state[_k(kind, "filter_pick")]


# ---------------------------------------------------------------------- resolving where the user is


def _apply_deep_link(kind: str, session: Session, user: User, datasets: list[Dataset]) -> None:
    """`?dataset=NAME&item=ID` opens that item once (a later navigation changes the URL itself)."""
    params = st.query_params
    name, external = params.get("dataset"), params.get("item")
    link = (name, external)
    if not name or link == st.session_state.get(_k(kind, "link")):
        return
    if link in st.session_state.get(_k(kind, "links_written"), ()):
        # A query string the page itself wrote a few moves ago, sent back by a browser that had not caught
        # up yet (fast ←/→): not the user opening a link, so it must not take the user back there.
        return
    st.session_state[_k(kind, "link")] = (name, external)
    dataset = next((d for d in datasets if d.name == name), None)
    if dataset is None:
        st.session_state[_k(kind, "note")] = f"Dataset {name!r} not found."
        return
    if dataset.id != st.session_state.get(_k(kind, "dataset_id")) or external:
        _leave_item(kind)
    st.session_state[_k(kind, "dataset_id")] = dataset.id
    if external:
        try:
            item = item_by_external_id(
                session=session, user=user, dataset_id=dataset.id, external_id=external
            )
        except NotFound:
            st.session_state[_k(kind, "note")] = f"Item {external!r} not found in {name}."
            return
        if item.id != st.session_state.get(_k(kind, "item_id")):
            _open_item(kind, item.id)
    st.session_state[_k(kind, "filter")] = team.default_filter(user)


_COUNT_TTL = 30.0
LINKS_KEPT = 32  # query strings the page wrote that a lagging browser may still send back


def _datasets(kind: str, session: Session, user: User) -> list[Dataset]:
    """Datasets visible to the user, re-read every 30 s (at once when a deep link names an unknown one)."""
    key = _k(kind, "datasets")
    cached = st.session_state.get(key)
    now = time.monotonic()
    wanted = st.query_params.get("dataset")
    fresh = cached and cached[0] == user.id and now - cached[1] < _COUNT_TTL
    if fresh and (not wanted or any(d.name == wanted for d in cached[2])):
        return cached[2]
    datasets = list_datasets(session=session, user=user)
    st.session_state[key] = (user.id, now, datasets)
    return datasets


def _position(
    kind: str, session: Session, user: User, dataset_id: int, item: Item, status: str
) -> tuple[int, int]:
    """("12 / 300") total under the filter and the item's place, without a COUNT over 100k rows per move.

    The total is kept 30 s (dropped on Save/Submit, which change the per-annotator filters); the place is
    carried along by ←/→ (see _go) and counted only when the user lands somewhere else.
    """
    state = st.session_state
    if status == team.QUEUE:
        status = "all"  # in the queue, "12 / 300" is the item's place in the dataset
    cached = state.get(_k(kind, "total"))
    now = time.monotonic()
    walk, flt = _nav(kind, user, dataset_id, status)
    if cached and cached[0] == (dataset_id, status) and now - cached[1] < _COUNT_TTL:
        total = cached[2]
    else:
        total = count_items(session=session, user=user, dataset_id=dataset_id, status=walk, flt=flt)
        state[_k(kind, "total")] = ((dataset_id, status), now, total)
    rank = state.get(_k(kind, "rank"))
    if not (rank and rank[0] == item.id and rank[1] == status):
        rank = (item.id, status, rank_of(session=session, user=user, item=item, status=walk, flt=flt))
        state[_k(kind, "rank")] = rank
    return total, rank[2]
