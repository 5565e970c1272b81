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

This module is the page: ToolContext and tool_page. Beside it: toolbar.py (the toolbar, its status line and
the shortcuts' help), work.py (the working copy and its session keys: load, draft, Save/Submit), navigation.py (the callbacks that move between items,
and where the user is), questions.py (Validity, Classification, Comments) and team.py (My queue, history).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from components import item_filter
from components.dialogue import ahead_entry, bubbles, dialogue_canvas, message_link
from components.toolpage import team
from components.toolpage.navigation import (
    DIGITS,
    LINKS_KEPT,
    _apply_deep_link,
    _datasets,
    _go,
    _nav,
    _on_canvas_state,
    _on_key,
    _open_item,
    _position,
    _record_applied,
    _reload_item,
    _stable,
)
from components.toolpage.questions import _classification_ui, _comments_ui, _validity_ui
from components.toolpage.toolbar import (
    SHORTCUTS,
    TOOLBAR_CSS,
    _status_ui,
    _toolbar_stand_in,
    _toolbar_ui,
)
from components.toolpage.work import _dump, _k, _load, _persist_draft, _stored, _write
from core.evaluation import blind_settings, candidate_order
from store import db
from store.models import Classification, Dataset, Item, OntologyClass, User
from store.ontology import list_classes, list_classifications
from store.queue import FILTERS, following, neighbour, next_todo, rank_after, selected

Problem = str | tuple[str, str]
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
    here = rank[2] if rank and rank[0] == item.id and rank[1] == status and _stable(walk, flt) else None
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


def _messages_ui(kind: str) -> None:
    conflict = st.session_state.get(_k(kind, "conflict"))
    if conflict:
        with st.container(border=True):
            st.error(conflict, icon="⚠️")
            st.button("Reload item", key=_k(kind, "reload"), on_click=_reload_item, args=(kind,))
    problems = st.session_state.get(_k(kind, "problems"))
    if problems:
        st.error("Not submitted:\n" + "\n".join(f"- {p}" for p in problems))


__all__ = ["DIGITS", "SHORTCUTS", "ToolContext", "tool_page"]
