"""The tool-page shell shared by Evaluate (pages/evaluate.py) and Respond (pages/respond.py).

Use it like this (the whole contract; everything else is drawn and handled by the shell):

    user = require_role()
    with tool_page(kind="evaluate", user=user) as ctx:     # or: ctx = tool_page(...); ...; ctx.finish()
        with ctx.result_panel:                             # right column, under Validity/Classification
            ...  your classes & attributes / result list; read ctx.work, write into it, then ctx.changed()
        with ctx.bottom_left:                              # under the canvas (Respond's buttons + text box)
            ...
        if ctx.key in DIGITS: ...                          # a hotkey the page interprets (see below)
        ctx.add_check(lambda work: ["Score the selected reply"] if ... else [])
        ctx.badges = {"m3": [{"text": "Helpfulness", "detail": "score 4", "color": "#2e7d32"}]}

The toolbar is a fragment: a Save that can be done at
once (button, or Ctrl+S, which the canvas turns into a click on it) reruns only the toolbar.
`tool_page()` draws: the toolbar (dataset picker, status filter, "12 / 300", ◀ ▶, Edit/View switch, Save,
Submit, "?" shortcut list), the right panels (Validity, Classification = the ontology's item-level
questions incl. ranking and pairwise, the page's Result panel slot, Comments) and the slots. It handles the
item queue, the deep link `?dataset=NAME&item=EXTERNAL_ID`, hotkeys, drafts and Save/Submit.
`ctx.finish()` (called by the `with` block's end) must run AFTER the page has applied its widgets to
ctx.work: it draws the canvas (with ctx.badges), runs a pending Save/Submit, and saves a draft on the
server when ctx.work changed in this run (every rerun that changed it: drafts are never > 1 rerun old).

ToolContext fields (read-only unless said):
    ctx.kind           "evaluate" | "respond"
    ctx.user           the signed-in User
    ctx.dataset        Dataset row;  ctx.item  Item row (messages, candidates, external_id, …)
    ctx.classes        the dataset's OntologyClass rows (cached ~10 s), ctx.classifications likewise
    ctx.work           the working copy (store/annotations.py shape); MUTATE IT IN PLACE, then ctx.changed()
                       (a changed dict is also detected by comparison at finish)
    ctx.status         "new" | "draft" | "saved" | "submitted" (this annotator's annotation)
    ctx.editable       False in View mode (submitted items open in View; Edit reopens them).
                       When False: draw your widgets with disabled=True and ignore ctx.key.
    ctx.selected       "m3" / "c1" / None: the selected bubble (survives reruns); ctx.select(id) sets it
    ctx.key            the hotkey for the page this run: "1".."9", "0" (only when editable), else None
    ctx.expand         the canvas's Expand Attributes switch (bool)
    ctx.result_panel   st container (right column) for the page's own panel
    ctx.bottom_left    st container under the canvas
    ctx.badges         dict bubble id -> [{"text", "detail"?, "color"?}] drawn on the bubbles (set before finish)
    ctx.add_check(fn)  fn(work) -> list of problems, each a str or (str, bubble_id); Submit refuses with the
                       list and selects the first named bubble. An invalid item skips checks (submittable).
    ctx.message(text)  show a one-line note (a toast) after this run (e.g. "Class 3 is not defined")
    ctx.wkey(name)     widget key unique to this item AND this load of its work ("tool.<kind>.w.<item>.<n>.name"):
                       key every widget that shows ctx.work with it, or "Reload item" after a conflict
                       would show (and write back) the widget's stale value

Hotkeys (DESIGN.md) are read by the canvas's own document-level key listener, so they keep working after a
page switch and never fire single keys while a text box has focus: ↑/↓ bubble, p pin, / search (browser
only); ←/→ item, e Edit/View, ? shortcut list, Ctrl+S Save, Ctrl+Enter Submit and next (shell); digits →
ctx.key (page); r then a digit ranks the selected candidate (a click on its rank in the first ranking
question). Ctrl+S / Ctrl+Enter also fire while typing: the canvas first blurs the focused text box, which
makes Streamlit commit its newest text in the same rerun, so a st.text_area works as is; the page must
apply that text to ctx.work in the script (not only in an on_change callback).

Session-state keys, all "tool.<kind>.*": dataset_id, item_id, filter, mode ("Edit"/"View"), work, stored
(_Stored: version, base, status, draft_at), loaded (item id the work belongs to), sel ({"id", "seq"}),
expand, key, pending, note, conflict, problems, user, nav, gen, painted (the first paint is done).
Widgets of the shell are keyed with ctx.wkey(...).
A pending Save/Submit may also be requested by a page component: st.session_state["tool.<kind>.pending"] =
"save" | "submit" before finish (components/response_box does, with its own Ctrl+S / Ctrl+Enter).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import streamlit as st
from sqlmodel import Session

from components import item_filter
from components.dialogue import ahead_entry, bubbles, canvas_value, dialogue_canvas, message_link
from components.rank_list import last_drop, rank_list, valid_drop
from components.toolpage import team
from core.dialogue import candidate_label
from core.evaluation import (
    blind_settings,
    bubble_name,
    candidate_order,
    order_to_ranking,
    ranking_order,
    ranking_to_ranks,
    set_rank,
)
from core.filters import ItemFilter
from store import db
from store.annotations import load_work, save_annotation, save_draft
from store.comments import add_comment, list_comments
from store.datasets import list_datasets
from store.errors import Conflict, InputError, NotFound
from store.models import Classification, Dataset, Item, OntologyClass, User
from store.ontology import list_classes, list_classifications
from store.queue import (
    FILTER_LABELS,
    FILTERS,
    count_items,
    following,
    item_by_external_id,
    neighbour,
    next_todo,
    rank_after,
    rank_of,
    selected,
)
from store.team.queue import claim, holds_slot, next_in_queue, queue_before

Problem = str | tuple[str, str]
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
DIGITS = tuple("1234567890")


def _k(kind: str, name: str) -> str:
    return f"tool.{kind}.{name}"


def _dump(work: dict[str, Any]) -> bytes:
    return orjson.dumps(work, option=orjson.OPT_SORT_KEYS)


_ONTOLOGY_TTL = 10.0
_ontology_cache: dict[tuple[str, int], tuple[float, Any]] = {}
_ontology_lock = threading.Lock()


def _ontology(dataset_id: int) -> tuple[tuple[OntologyClass, ...], tuple[Classification, ...]]:
    """The dataset's classes and classifications, read at most every 10 s per process.

    (A plain dict, not st.cache_resource(ttl=…): its TTL cache raised KeyError under concurrent reruns.)
    """
    key = (db.database_url(), dataset_id)
    now = time.monotonic()
    with _ontology_lock:
        hit = _ontology_cache.get(key)
    if hit is not None and now - hit[0] < _ONTOLOGY_TTL:
        return hit[1]
    with db.read_session() as session:
        value = (
            tuple(list_classes(session=session, dataset_id=dataset_id)),
            tuple(list_classifications(session=session, dataset_id=dataset_id)),
        )
    with _ontology_lock:
        _ontology_cache[key] = (now, value)
    return value


@dataclass
class _Stored:
    """What this tab knows of its annotation as stored: one object, changed only by plain attribute writes.

    Every st.session_state access is a point where Streamlit may stop the script for a newer rerun (the
    user pressed on). "Commit, then st.session_state[version] = new" could therefore commit and never
    record the new version, and the tab's next save was refused as a conflict with itself ("changed in
    another tab"). After a commit the fields of this object are set with no such point in between.
    """

    version: int
    base: bytes  # the stored work (_dump), to tell whether the working copy changed
    status: str  # "new" | "draft" | "saved" | "submitted"
    draft_at: str | None = None  # when a draft newer than the saved state was kept


def _stored(kind: str) -> _Stored | None:
    return st.session_state.get(_k(kind, "stored"))


@dataclass
class ToolContext:
    kind: str
    user: User
    dataset: Dataset
    item: Item
    work: dict[str, Any]
    status: str
    editable: bool
    selected: str | None
    key: str | None
    expand: bool
    classes: tuple[OntologyClass, ...]
    classifications: tuple[Classification, ...]
    result_panel: Any
    bottom_left: Any
    candidate_order: list[int] = field(default_factory=list)
    hide_models: bool = False
    badges: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _checks: list[Callable[[dict[str, Any]], list[Problem]]] = field(default_factory=list)
    _canvas_slot: Any = None
    _status_slot: Any = None
    _changed: bool = False
    _finished: bool = False

    # ------------------------------------------------------------------ page API
    def changed(self) -> None:
        """Say ctx.work changed (a draft is saved at finish)."""
        self._changed = True

    def add_check(self, fn: Callable[[dict[str, Any]], list[Problem]]) -> None:
        """Add a Submit check: fn(work) -> problems (str, or (str, bubble id) to select that bubble)."""
        self._checks.append(fn)

    def select(self, bubble_id: str | None) -> None:
        """Select a bubble from Python (the browser applies it when the canvas is drawn)."""
        sel = st.session_state.get(_k(self.kind, "sel")) or {"id": None, "seq": 0}
        st.session_state[_k(self.kind, "sel")] = {"id": bubble_id, "seq": int(sel["seq"]) + 1}
        self.selected = bubble_id

    def wkey(self, name: str) -> str:
        """A widget key for this item AND this load of its work: use it for every widget showing ctx.work.

        After "Reload item" (a conflict) or a reopen, widgets get fresh keys, so they show the loaded
        values instead of their old state (which would otherwise be written back into ctx.work).
        """
        gen = st.session_state.get(_k(self.kind, "gen"), 0)
        return f"tool.{self.kind}.w.{self.item.id}.{gen}.{name}"

    def message(self, text: str) -> None:
        """A one-line note shown in the toolbar after this run."""
        st.session_state[_k(self.kind, "note")] = text

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> ToolContext:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.finish()
            except BaseException as err:  # Streamlit's rerun/stop are BaseExceptions
                # A newer rerun interrupted the drawing (or finish() reran on purpose): keep what changed.
                if _is_control_flow(err):
                    self._autosave(rerun_on_conflict=False)
                raise
        elif _is_control_flow(exc):
            # st.rerun()/st.stop() inside the page: keep what changed, draw nothing.
            self._autosave(rerun_on_conflict=False)

    def finish(self) -> None:
        """Draw the canvas, run a pending Save/Submit, save a draft if ctx.work changed. Call once, last."""
        if self._finished:
            return
        self._finished = True
        kind = self.kind
        self._draw_canvas()
        pending = st.session_state.pop(_k(kind, "pending"), None)
        if pending in ("save", "submit") and self.editable:
            self._save(submit=pending == "submit")
        else:
            self._autosave()
        st.session_state[_k(kind, "complete")] = True
        _record_applied(kind)
        nav = st.session_state.pop(_k(kind, "nav"), None)
        if nav:
            # A move that arrived together with other widget changes: those are in ctx.work now.
            _go(kind, *nav)
            st.rerun()
        self._draw_status()

    def _draw_canvas(self, *, first_paint: bool = False) -> None:
        kind = self.kind
        with self._canvas_slot:
            sel = st.session_state.get(_k(kind, "sel")) or {"id": None, "seq": 0}
            dialogue_canvas(
                key=_k(kind, "canvas"),
                item_key=f"{self.dataset.id}:{self.item.id}",
                content=bubbles(
                    item_id=self.item.id,
                    messages=self.item.messages or [],
                    candidates=self.item.candidates or [],
                    order=self.candidate_order,
                    hide_models=self.hide_models,
                ),
                selected=sel["id"],
                sel_seq=int(sel["seq"]),
                expand=self.expand,
                editable=self.editable,
                open_url=message_link(dataset=self.dataset.name, external_id=self.item.external_id),
                badges=self.badges or None,
                ahead=None if first_paint else _ahead(kind, self.user, self.dataset, self.item),
                first_paint=first_paint,
                activity=True,
                ack=int(st.session_state.get(_k(kind, "ack"), 0)),
                search=self._filter_words(),
                save_button=_k(kind, "save"),
                on_selected=lambda: _on_canvas_state(kind),
                on_expand=lambda: _on_canvas_state(kind),
                on_key=lambda: _on_key(kind),
            )

    def _filter_words(self) -> str:
        """The search words of the item filter "Show" walks, marked on the canvas ("" for none)."""
        choice = st.session_state.get(_k(self.kind, "filter")) or ""
        flt = _nav(self.kind, self.user, self.dataset.id, choice)[1]
        return flt.search if flt is not None else ""

    # ------------------------------------------------------------------ persistence
    def _dirty(self) -> bool:
        return self._changed or _dump(self.work) != _stored(self.kind).base

    def _autosave(self, *, rerun_on_conflict: bool = True) -> None:
        kind = self.kind
        if not self.editable or st.session_state.get(_k(kind, "conflict")) or not self._dirty():
            return
        if not _persist_draft(kind, self.user, self.item.id, self.work) and rerun_on_conflict:
            st.rerun()  # the conflict message is drawn at the top of the page

    def _problems(self) -> list[Problem]:
        if self.work.get("validity") == "invalid":
            if not str(self.work.get("invalid_reason") or "").strip():
                return ["Give a reason why the item is invalid."]
            return []
        problems: list[Problem] = []
        answers = self.work.get("classifications") or {}
        for question in self.classifications:
            if question.required and answers.get(str(question.id)) in (None, "", [], {}):
                problems.append(f"Answer “{question.title or question.name}”.")
        for check in self._checks:
            problems.extend(check(self.work) or [])
        return problems

    def _save(self, *, submit: bool) -> None:
        kind = self.kind
        if st.session_state.get(_k(kind, "conflict")):
            return
        if submit:
            problems = self._problems()
            if problems:
                st.session_state[_k(kind, "problems")] = [p if isinstance(p, str) else p[0] for p in problems]
                first = next((p[1] for p in problems if not isinstance(p, str)), None)
                if first:
                    self.select(first)
                # (The list is drawn at the top of the page, which this run has drawn already.)
                st.rerun()
        was = _stored(kind).status
        # (read before _write, which drops them under a filter)
        place, total = st.session_state.get(_k(kind, "rank")), st.session_state.get(_k(kind, "total"))
        if not _write(kind, submit=submit):
            if st.session_state.get(_k(kind, "conflict")):
                st.rerun()  # the conflict message is drawn at the top of the page
            return
        self.status = _stored(kind).status
        if submit:
            if team.in_queue(kind):
                team.count_submit(kind, resubmit=was in ("submitted", "accepted"))
                nxt = team.next_item(self.user, self.dataset.id, self.item)
            else:
                choice = st.session_state.get(_k(kind, "filter"), "all")
                walk, flt = _nav(kind, self.user, self.dataset.id, choice)
                with db.read_session() as session:
                    nxt = next_todo(
                        session=session, user=self.user, dataset_id=self.dataset.id, after=self.item, flt=flt
                    )
                    if nxt is not None and place and place[:2] == (self.item.id, choice) and place[2] > 0:
                        # "12 / 300" for the next item from this one's place: the items between them are
                        # counted, not every item before it (0.1-0.4 s at 1M items); the total changes only
                        # if this item left the list (its count is still redone when 30 s old)
                        rank = rank_after(session=session, user=self.user, item=nxt, before=self.item,
                                          before_rank=place[2], status=walk, flt=flt)  # fmt: skip
                        st.session_state[_k(kind, "rank")] = (nxt.id, choice, rank)
                        if total and total[0] == (self.dataset.id, choice):
                            kept = selected(
                                session=session, user=self.user, item=self.item, status=walk, flt=flt
                            )
                            st.session_state[_k(kind, "total")] = (
                                total[0],
                                total[1],
                                total[2] - 1 + int(kept),
                            )
            st.session_state[_k(kind, "note")] = "Submitted." + ("" if nxt else " Every item is submitted.")
            if nxt is not None:
                _open_item(kind, nxt.id)
            st.rerun()
        st.toast(st.session_state.pop(_k(kind, "note"), "Saved."))

    def _draw_status(self) -> None:
        _status_ui(self._status_slot, self.kind, self.status)


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


def _shown(user: User, dataset: Dataset, item: Item) -> dict[str, Any]:
    """How this annotator sees the item's candidates: `order` (shuffled in a blind comparison) and
    `hide_models` (the dataset's settings), as `bubbles()` takes them."""
    shuffle, hide = blind_settings(dataset.settings)
    order = candidate_order(len(item.candidates or []), user_id=user.id, item_id=item.id, shuffle=shuffle)
    return {"order": order, "hide_models": hide}


AHEAD = 2  # items on each side the canvas can show at once on ←/→ (two: a quick double press too)


def _ahead(kind: str, user: User, dataset: Dataset, item: Item) -> list[dict[str, Any]]:
    """The canvas's `ahead` entries: the AHEAD items before and after this one under the status filter.

    Read when the item opens (and after Save/Submit, which can change the filters), kept per item.
    """
    status = st.session_state.get(_k(kind, "filter"), "all")
    walk, flt = _nav(kind, user, dataset.id, status)
    # (The blind-comparison settings are in the key: a change shows on the neighbours too.)
    key = (item.id, status, st.session_state.get(_k(kind, "epoch"), 0), blind_settings(dataset.settings))
    cached = st.session_state.get(_k(kind, "ahead"))
    if cached and cached[0] == key:
        return cached[1]
    rank = st.session_state.get(_k(kind, "rank"))
    # The place of a neighbour is this item's place ± n while the filter keeps items in place (see _go).
    here = rank[2] if rank and rank[0] == item.id and rank[1] == status and status in _STABLE else None
    entries: list[dict[str, Any]] = []
    with db.read_session() as session:
        for direction in (1, -1):
            if status == team.QUEUE:
                found = team.neighbours(session, user, dataset.id, item, direction, AHEAD)
            else:
                found = following(session=session, user=user, dataset_id=dataset.id, item=item, step=direction,
                                  status=walk, limit=AHEAD, flt=flt)  # fmt: skip
            for distance, other in enumerate(found, start=1):
                step = direction * distance
                entries.append(ahead_entry(
                    item_key=f"{dataset.id}:{other.id}", item_id=other.id, step=step,
                    rank=here + step if here else None,
                    open_url=message_link(dataset=dataset.name, external_id=other.external_id),
                    content=bubbles(item_id=other.id, messages=other.messages or [],
                                    candidates=other.candidates or [], **_shown(user, dataset, other)),
                ))  # fmt: skip
    st.session_state[_k(kind, "ahead")] = (key, entries)
    return entries


def _is_control_flow(exc: BaseException | None) -> bool:
    name = type(exc).__name__
    return name in ("RerunException", "StopException")


# ---------------------------------------------------------------------- state transitions


def _persist_draft(kind: str, user: User, item_id: int, work: dict[str, Any]) -> bool:
    """Save `work` as the server-side draft; on a stale version keep the conflict message instead."""
    stored = _stored(kind)
    base, at = _dump(work), time.strftime("%H:%M:%S")
    try:
        with db.write_session() as session:
            version = save_draft(
                session=session, user=user, item_id=item_id, work=work, version=stored.version
            )
    except Conflict as err:
        st.session_state[_k(kind, "conflict")] = str(err)
        return False
    # (No st.session_state access between the commit and these lines: see _Stored.)
    stored.version, stored.base, stored.draft_at = version, base, at
    if stored.status == "new":
        stored.status = "draft"
    return True


def _write(kind: str, *, submit: bool) -> bool:
    """Save (or submit) the working copy of the loaded item; False with the conflict or problem kept.

    A submitted item saved again stays submitted. The caller checks Submit's requirements first.
    """
    state = st.session_state
    user, item_id, work = (
        state.get(_k(kind, "user")),
        state.get(_k(kind, "loaded")),
        state.get(_k(kind, "work")),
    )
    if state.get(_k(kind, "conflict")) or user is None or item_id is None or work is None:
        return False
    state.pop(_k(kind, "problems"), None)
    stored = _stored(kind)
    submit = submit or stored.status == "submitted"
    base = _dump(work)
    try:
        with db.write_session() as session:
            version = save_annotation(session=session, user=user, item_id=item_id, work=work,
                                      version=stored.version, submit=submit)  # fmt: skip
    except Conflict as err:
        state[_k(kind, "conflict")] = str(err)
        return False
    except InputError as err:
        state[_k(kind, "problems")] = [str(err)]
        return False
    # (No st.session_state access between the commit and these lines: see _Stored.)
    stored.version, stored.base, stored.draft_at = version, base, None
    stored.status = "submitted" if submit else ("rejected" if stored.status == "rejected" else "saved")
    state[_k(kind, "note")] = "Saved."
    if state.get(_k(kind, "filter"), "all") != "all":
        # Saving moves the item between the per-annotator filters: count and look around afresh.
        state.pop(_k(kind, "total"), None)
        state.pop(_k(kind, "rank"), None)
        state[_k(kind, "epoch")] = state.get(_k(kind, "epoch"), 0) + 1
    return True


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
    if _dump(work) != _stored(kind).base:  # (loaded is set after stored: see _load)
        return _persist_draft(kind, user, item_id, work)
    return True


_STABLE = ("all", "todo", "submitted")  # filters under which a neighbour's place is this place ± 1


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
        if found is False:
            return  # not an item of this dataset (a stale or forged event): stay
    else:
        found = _filter_step(user, dataset_id, item_id, step, target, *_nav(kind, user, dataset_id, status))
        if found is False:
            return
    _arrive(kind, found, item_id, step, target, rank, status)


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
) -> None:
    """Open `found` after a move (a note at either end), carrying the item's place along where it can."""
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
    # (Drafts move items in and out of "new"/"progress", so those are counted afresh.)
    if target is not None and rank and status in _STABLE:
        st.session_state[_k(kind, "rank")] = (found.id, status, int(rank))
    elif (
        target is None
        and status in _STABLE
        and old_rank
        and old_rank[:2] == (item_id, status)
        and old_rank[2] > 0
    ):
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


def _load(kind: str, session: Session, user: User, item_id: int) -> None:
    loaded = load_work(session=session, user=user, item_id=item_id)
    status = "draft" if loaded.status == "saved" and loaded.has_unsaved_draft else loaded.status
    st.session_state[_k(kind, "work")] = loaded.work
    st.session_state[_k(kind, "review")] = (loaded.status, loaded.review_reason, loaded.review_rounds)
    st.session_state[_k(kind, "stored")] = _Stored(
        version=loaded.version, base=_dump(loaded.work), status=status
    )
    st.session_state[_k(kind, "loaded")] = item_id  # last: a load cut short is done again by the next run
    st.session_state[_k(kind, "gen")] = st.session_state.get(_k(kind, "gen"), 0) + 1
    mode_key = _k(kind, "mode")
    if loaded.status in ("submitted", "accepted"):
        if st.session_state.get(mode_key, "Edit") == "Edit":
            st.session_state[_k(kind, "auto_view")] = True
        st.session_state[mode_key] = "View"
    elif st.session_state.pop(_k(kind, "auto_view"), False):
        st.session_state[mode_key] = "Edit"


# ---------------------------------------------------------------------- drawing


def tool_page(*, kind: str, user: User) -> ToolContext:
    """Draw the shell for `kind` ("evaluate" | "respond") and return the page's context (see module doc)."""
    if kind not in ("evaluate", "respond"):
        raise ValueError(f"tool_page kind {kind!r}")
    state = st.session_state
    note = state.pop(_k(kind, "note"), None)
    if note:
        st.toast(note)  # first: "Saved." is on screen before the rest of the page is drawn
    state[_k(kind, "user")] = user
    state[_k(kind, "complete")] = False  # set again by finish() once ctx.work is persisted
    shown = state.get(_k(kind, "dataset_id"))
    extra = item_filter.show_choices(kind, user, shown) if shown else []
    if state.get(_k(kind, "filter")) not in (*team.filters_for(user, FILTERS), *extra):
        state[_k(kind, "filter")] = team.default_filter(user)
    state.setdefault(_k(kind, "mode"), "Edit")
    with db.read_session() as session:
        datasets = _datasets(kind, session, user)
        if not datasets:
            st.info("No datasets yet. An admin creates one on the Datasets page.")
            st.stop()
        _apply_deep_link(kind, session, user, datasets)
        by_id = {d.id: d for d in datasets}
        dataset = by_id.get(state.get(_k(kind, "dataset_id"))) or datasets[0]
        if state.get(_k(kind, "dataset_id")) != dataset.id:
            state[_k(kind, "dataset_id")] = dataset.id
            _open_item(kind, None)
        item = session.get(Item, state[_k(kind, "item_id")]) if state.get(_k(kind, "item_id")) else None
        if item is None or item.dataset_id != dataset.id:
            if team.in_queue(kind):
                item = team.next_item(user, dataset.id, None)
            else:
                walk, flt = _nav(kind, user, dataset.id, state[_k(kind, "filter")])
                item = next_todo(session=session, user=user, dataset_id=dataset.id, flt=flt) or neighbour(
                    session=session, user=user, dataset_id=dataset.id, item=None, step=1, status=walk, flt=flt
                )
            if item is not None:
                _open_item(kind, item.id)
        if item is None:
            _toolbar_ui(kind, datasets, dataset, None, 0, 0)
            if team.in_queue(kind):
                st.success(
                    f"Your queue in {dataset.name} is empty: every item has the annotators it needs, or you "
                    "have done it. Thank you! (“Submitted by me” shows your work.)"
                )
            else:
                st.info(f"Dataset {dataset.name} has no items yet.")
            st.stop()
        if state.get(_k(kind, "loaded")) != item.id:
            _load(kind, session, user, item.id)
        # A session's first run paints the dialogue first (see _first_paint); the rest follows at once.
        first_paint = not state.get(_k(kind, "painted"))
        if not first_paint:
            total, rank = _position(kind, session, user, dataset.id, item, state[_k(kind, "filter")])
    if state.get(_k(kind, "link")) != (dataset.name, item.external_id):
        st.query_params.update({"dataset": dataset.name, "item": item.external_id})
        state[_k(kind, "link")] = (dataset.name, item.external_id)
        written = [*state.get(_k(kind, "links_written"), ()), (dataset.name, item.external_id)]
        state[_k(kind, "links_written")] = written[-LINKS_KEPT:]

    classes, questions = _ontology(dataset.id)
    status = _stored(kind).status
    editable = state[_k(kind, "mode")] == "Edit"
    key = state.pop(_k(kind, "key"), None)
    sel = state.get(_k(kind, "sel")) or {"id": None, "seq": 0}
    st.html(TOOLBAR_CSS)
    if first_paint:
        status_slot = _toolbar_stand_in(kind, dataset)
    else:
        status_slot = _toolbar_ui(kind, datasets, dataset, item, rank, total)
    _messages_ui(kind)
    team.sent_back_ui(*state.get(_k(kind, "review"), ("", "", 0)))
    left, right = st.columns([2.3, 1], gap="medium")
    with left:
        canvas_slot = st.container()
        bottom_left = st.container()
    ctx = ToolContext(
        kind=kind,
        user=user,
        dataset=dataset,
        item=item,
        work=state[_k(kind, "work")],
        status=status,
        editable=editable,
        selected=sel["id"],
        key=key if editable else None,
        expand=bool(state.get(_k(kind, "expand"), False)),
        classes=classes,
        classifications=questions,
        result_panel=None,
        bottom_left=bottom_left,
        _canvas_slot=canvas_slot,
        _status_slot=status_slot,
    )
    shown = _shown(user, dataset, item)
    ctx.candidate_order, ctx.hide_models = shown["order"], shown["hide_models"]
    if first_paint:
        _first_paint(ctx)
    with right:
        _validity_ui(ctx)
        if questions:
            _classification_ui(ctx)
        ctx.result_panel = st.container()
        _comments_ui(ctx)
        team.history_ui(kind, user, item.id, _stored(kind).version)
    return ctx


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


def _first_paint(ctx: ToolContext) -> None:
    """The session's first run draws only the dialogue (and the toolbar's stand-in), then stops.

    On a cold open the browser's main thread is what the user waits for: mounting the toolbar's and the
    panels' ~40 widgets (their code loads lazily) came before the canvas's bubbles (bench/ui_latency.py,
    timed in the page: first bubble 1.95 s before, ~1.3 s now; a bare one-button page 0.8 s). Alone, the
    canvas paints first; once it has painted, it sends "painted" (a rerun), and that run, like every later
    one, draws the whole page around it. Any other rerun in between (a key, a click) draws the whole page
    too: the flag is set here.
    """
    st.session_state[_k(ctx.kind, "painted")] = True
    ctx._draw_canvas(first_paint=True)
    st.stop()


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
        cols = st.columns([1.5, 1.6, 0.8, 0.5, 0.5, 1.25, 0.7, 0.85, 0.45, 0.8], vertical_alignment="bottom")
    cols[0].selectbox("Dataset", list(names), key=pick_key, on_change=_pick_dataset, args=(kind, names))
    user = st.session_state.get(_k(kind, "user"))
    shows = (*team.filters_for(user, FILTERS), *item_filter.show_choices(kind, user, dataset.id))
    cols[1].selectbox(
        "Show", shows, key=filter_key, on_change=_pick_filter, args=(kind,),
        format_func=lambda f: FILTER_LABELS.get(f) or item_filter.show_label(kind, f) or team.QUEUE_LABEL,
    )  # fmt: skip
    with cols[2]:
        position = f"{rank} / {total}" if rank else f"– / {total}"
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


def _messages_ui(kind: str) -> None:
    conflict = st.session_state.get(_k(kind, "conflict"))
    if conflict:
        with st.container(border=True):
            st.error(conflict, icon="⚠️")
            st.button("Reload item", key=_k(kind, "reload"), on_click=_reload_item, args=(kind,))
    problems = st.session_state.get(_k(kind, "problems"))
    if problems:
        st.error("Not submitted:\n" + "\n".join(f"- {p}" for p in problems))


def _wkey(ctx: ToolContext, name: str) -> str:
    return ctx.wkey(name)


def _validity_ui(ctx: ToolContext) -> None:
    work = ctx.work
    with st.container(border=True):
        st.markdown("**Validity**")
        choice = st.radio(
            "Validity", ["valid", "invalid"], index=0 if work.get("validity", "valid") == "valid" else 1,
            format_func=lambda v: "Valid" if v == "valid" else "Invalid", horizontal=True,
            key=_wkey(ctx, "validity"), disabled=not ctx.editable, label_visibility="collapsed",
        )  # fmt: skip
        if ctx.editable and choice != work.get("validity", "valid"):
            work["validity"] = choice
        if choice == "invalid":
            reason = st.text_input(
                "Why is it invalid?", value=work.get("invalid_reason", ""), key=_wkey(ctx, "reason"),
                disabled=not ctx.editable, placeholder="e.g. garbled text, wrong language",
            )  # fmt: skip
            if ctx.editable and reason != work.get("invalid_reason", ""):
                work["invalid_reason"] = reason


def _classification_ui(ctx: ToolContext) -> None:
    answers = ctx.work.setdefault("classifications", {})
    # Candidates are named by the place they are shown at (a blind comparison shuffles them).
    labels = candidate_labels(ctx.candidate_order)
    with st.container(border=True):
        st.markdown("**Classification**")
        ranked = False
        for q in ctx.classifications:
            qid = str(q.id)
            title = (q.title or q.name) + (" *" if q.required else "")
            current = answers.get(qid)
            wkey = _wkey(ctx, f"q{qid}")
            off = not ctx.editable
            options = list(q.options or [])
            if q.type == "radio":
                value = st.radio(title, options, index=options.index(current) if current in options else None,
                                 key=wkey, disabled=off, horizontal=len(options) <= 4)  # fmt: skip
            elif q.type == "checkbox":
                value = st.pills(title, options, selection_mode="multi",
                                 default=[o for o in (current or []) if o in options], key=wkey, disabled=off)  # fmt: skip
                value = list(value) or None
            elif q.type == "text":
                value = st.text_input(title, value=current or "", key=wkey, disabled=off) or None
            elif q.type == "ranking":
                # The first ranking question is the one `r` + a number answers (its rows are keyed for it).
                _ranking_ui(ctx, q, title, current, labels, wkey, hotkeys=not ranked)
                ranked = True
                continue
            elif q.type == "pairwise":
                value = _pairwise_ui(q, title, current, labels, wkey, off)
            else:
                st.caption(f"{title}: type {q.type} is not supported here")
                continue
            if ctx.editable and value != current:
                if value is None:
                    answers.pop(qid, None)
                else:
                    answers[qid] = value


def candidate_labels(order: list[int]) -> dict[int, str]:
    """Original candidate index → the letter it is shown with ("A" for the first shown)."""
    return {original: candidate_label(place) for place, original in enumerate(order)}


def _ranking_ui(
    ctx: ToolContext,
    q: Classification,
    title: str,
    current: Any,
    labels: dict[int, str],
    wkey: str,
    *,
    hotkeys: bool,
) -> None:
    """One row a candidate (in the order shown) with its rank 1…n, 1 the best. Ties only where the question
    allows them; otherwise taking a rank another candidate holds swaps the two. With `hotkeys`, each row
    sits in a container "parley-rank-c<candidate>" where the canvas's `r` + number clicks the rank."""
    allow_ties = bool((q.settings or {}).get("allow_ties"))
    ranking = current if isinstance(current, list) else []
    ranks = ranking_to_ranks(ranking)
    n = len(labels)
    st.markdown(f"**{title}**")
    st.caption(
        "Drag to order (or Alt+↑/↓), or pick each rank · 1 = best" + (" · ties allowed" if allow_ties else "")
    )
    candidates = ctx.item.candidates or []
    rows = [
        {"id": original, "label": f"Candidate {label}",
         "sub": "" if ctx.hide_models else str(candidates[original].get("model") or ""),
         "hint": " ".join(str(candidates[original].get("text") or "").split())[:80]}
        for original, label in labels.items()
    ]  # fmt: skip
    drag_key = f"{wkey}.drag"
    rank_list(
        key=drag_key, rows=rows, order=ranking_order(ranking), ranks=ranks, disabled=not ctx.editable,
        on_change=functools.partial(_rank_dropped, ctx.kind, str(q.id), wkey, list(labels), drag_key),
    )  # fmt: skip
    for original, label in labels.items():
        key = f"{wkey}.{original}"
        if key not in st.session_state:
            st.session_state[key] = ranks.get(original)
        with st.container(key=f"parley-rank-c{original}") if hotkeys else contextlib.nullcontext():
            st.segmented_control(
                f"Candidate {label}", list(range(1, n + 1)), key=key, disabled=not ctx.editable,
                on_change=_rank_changed, args=(ctx.kind, str(q.id), original, wkey, list(labels), allow_ties),
            )  # fmt: skip


def _rank_changed(
    kind: str, qid: str, original: int, wkey: str, candidates: list[int], allow_ties: bool
) -> None:
    """A rank picked: the ranking in the work, and every candidate's row (a swap moves another one too)."""
    work = st.session_state.get(_k(kind, "work"))
    if work is None:
        return
    answers = work.setdefault("classifications", {})
    ranking = set_rank(
        answers.get(qid), original, st.session_state.get(f"{wkey}.{original}"), allow_ties=allow_ties
    )
    _put_ranking(answers, qid, ranking, wkey, candidates)


def _put_ranking(
    answers: dict[str, Any], qid: str, ranking: list[Any], wkey: str, candidates: list[int]
) -> None:
    """Store a ranking answer (none when empty) and set every candidate's rank row to match it."""
    if ranking:
        answers[qid] = ranking
    else:
        answers.pop(qid, None)
    ranks = ranking_to_ranks(ranking)
    for other in candidates:
        st.session_state[f"{wkey}.{other}"] = ranks.get(other)


def _rank_dropped(kind: str, qid: str, wkey: str, candidates: list[int], drag_key: str) -> None:
    """A drop in the drag list: the ranking in the work (ties kept while they stay together), and every
    candidate's rank row."""
    work = st.session_state.get(_k(kind, "work"))
    order = valid_drop(last_drop(drag_key), candidates)
    if work is None or order is None or st.session_state.get(_k(kind, "mode")) == "View":
        return
    answers = work.setdefault("classifications", {})
    ranking = order_to_ranking(order, answers.get(qid) if isinstance(answers.get(qid), list) else None)
    _put_ranking(answers, qid, ranking, wkey, candidates)


def _pairwise_ui(
    q: Classification, title: str, current: Any, labels: dict[int, str], wkey: str, off: bool
) -> dict[str, Any] | None:
    settings = q.settings or {}
    pair = settings.get("pair") or [0, 1]
    a, b = sorted((int(pair[0]), int(pair[1])), key=lambda k: labels.get(k, ""))  # in the order shown
    if a not in labels or b not in labels:
        st.caption(f"{title}: needs two candidates")
        return current
    options = [labels[a], "Tie", labels[b]]
    if isinstance(current, dict) and current.get("tie"):
        now = "Tie"
    elif isinstance(current, dict) and current.get("chosen") in (a, b):
        now = labels[current["chosen"]]
    else:
        now = None
    pick = st.segmented_control(title, options, default=now, key=wkey, disabled=off)
    if pick is None:
        return None
    if pick == "Tie":
        return {"tie": True}
    strengths = settings.get("strengths") or ["slightly better", "better", "much better"]
    old = current.get("strength") if isinstance(current, dict) else None
    strength = st.segmented_control(
        "How much better", list(range(1, len(strengths) + 1)), format_func=lambda s: strengths[s - 1],
        default=old if old in range(1, len(strengths) + 1) else None, key=wkey + ".s", disabled=off,
    )  # fmt: skip
    chosen = a if pick == labels[a] else b
    answer: dict[str, Any] = {"chosen": chosen, "rejected": b if chosen == a else a}
    if strength is not None:
        answer["strength"] = strength
    return answer


def _comments(ctx: ToolContext) -> list[Any]:
    """The item's comments, read when the item opens and then at most every 30 s (or after adding one)."""
    key = _k(ctx.kind, "comments")
    cached = st.session_state.get(key)
    now = time.monotonic()
    if cached and cached[0] == ctx.item.id and now - cached[1] < 30:
        return cached[2]
    with db.read_session() as session:
        comments = list_comments(session=session, user=ctx.user, item_id=ctx.item.id)
    st.session_state[key] = (ctx.item.id, now, comments)
    return comments


def _comments_ui(ctx: ToolContext) -> None:
    comments = _comments(ctx)
    with st.container(border=True):
        st.markdown(f"**Comments** ({len(comments)})")
        for c in comments[-20:]:
            where = f" · on {_bubble_name(c.target, ctx.candidate_order)}" if c.target else ""
            st.caption(f"**{c.author}** ({c.author_role}) · {c.created_at:%Y-%m-%d %H:%M}{where}")
            st.text(c.text)
        with st.form(_wkey(ctx, "comment"), clear_on_submit=True, border=False):
            text = st.text_area("Add a comment", height=68, placeholder="Visible to reviewers and admins")
            attach = st.checkbox(
                f"On the selected bubble ({_bubble_name(ctx.selected, ctx.candidate_order)})" if ctx.selected else "On the whole item",
                value=bool(ctx.selected), disabled=not ctx.selected,
            )  # fmt: skip
            if st.form_submit_button("Comment"):
                try:
                    with db.write_session() as session:
                        add_comment(session=session, user=ctx.user, item_id=ctx.item.id, text=text,
                                    target=ctx.selected if attach else None)  # fmt: skip
                except InputError as err:
                    st.error(str(err))
                else:
                    st.session_state.pop(_k(ctx.kind, "comments"), None)
                    st.rerun()


def _bubble_name(target: str | None, order: list[int]) -> str:
    return bubble_name(target, order) if target else "item"


__all__ = ["DIGITS", "SHORTCUTS", "ToolContext", "tool_page"]
