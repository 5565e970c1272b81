"""The RLHF evaluation panels drawn in the tool-page shell's result slot: classes & attributes of the
selected bubble, the result list (click to select, delete with confirmation), suggestions, scores; plus
the hotkey handling, class inheritance state, canvas badges and the Submit check.

The working copy (`work`, the shell's dict) is the truth. Widgets are read in the script and applied to
it; when something else changes it (a number key, an accepted suggestion, a delete) the widget's state is
dropped so it is drawn again from the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import streamlit as st

from core import evaluation as ev
from core.dialogue import candidate_label

P = "evaluate."
INHERIT = "evaluate.inherit"  # Class Inheritance on/off (a plain key: widget state dies on page switch)
WORK = "tool.evaluate.work"  # the shell's working copy, for callbacks that run before the script


@dataclass
class EvalView:
    """Everything the panels need about the item on screen."""

    item_id: int
    messages: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    order: list[int]  # original candidate indexes in the order shown
    classes: list[ev.ClassDef]
    questions: list[ev.QuestionDef]
    work: dict[str, Any]
    editable: bool
    changed: Callable[[], None]
    select: Callable[[str | None], None]
    selected: str | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refs(self) -> list[str]:
        return ev.bubble_refs(self.messages, self.candidates, self.order)

    def live(self) -> dict[str, Any]:
        """The working copy as it is now (callbacks run before the next script run)."""
        return st.session_state.get(WORK, self.work)


# ---------------------------------------------------------------- focus and inheritance


def _focus_store(view: EvalView) -> dict[str | None, ev.Focus]:
    return st.session_state.setdefault(f"{P}focus.{view.item_id}", {})


def get_focus(view: EvalView) -> ev.Focus:
    """The chosen class and focused attribute on the selected bubble."""
    return _focus_store(view).get(view.selected, ev.Focus())


def inheritance() -> ev.Inheritance:
    state = st.session_state.setdefault(f"{P}inheritance", ev.Inheritance())
    state.enabled = bool(st.session_state.get(INHERIT, False))
    return state


def set_focus(view: EvalView, focus: ev.Focus) -> None:
    _focus_store(view)[view.selected] = focus
    if view.selected is not None and focus.class_id is not None:
        inheritance().remember(ev.bubble_role(view.selected, view.messages), focus.class_id)


def on_selection(view: EvalView) -> None:
    """A newly selected bubble: with Class Inheritance on, pre-select the class last chosen for its role."""
    here = (view.item_id, view.selected)
    if st.session_state.get(f"{P}last_selected") == here:
        return
    st.session_state[f"{P}last_selected"] = here
    if view.selected is None:
        return
    role = ev.bubble_role(view.selected, view.messages)
    offered = ev.offered_classes(view.classes, role)
    inherited = inheritance().preselect(role, offered)
    stored = _focus_store(view)
    if inherited is not None:
        cls = next(c for c in offered if c.id == inherited)
        keyable = ev.keyable_attributes(cls)
        stored[view.selected] = ev.Focus(inherited, keyable[0] if keyable else 0)
    elif view.selected not in stored or stored[view.selected].class_id is None:
        existing = [
            r for r in ev.results_for(view.work, view.selected) if any(c.id == r["class_id"] for c in offered)
        ]
        stored[view.selected] = ev.Focus(int(existing[0]["class_id"]) if existing else None, 0)


def inherit_toggle_ui() -> None:
    """The Class Inheritance switch (top left, above the toolbar's Edit/View)."""
    pick = f"{P}inherit_pick"
    if pick not in st.session_state:
        st.session_state[pick] = bool(st.session_state.get(INHERIT, False))
    st.toggle(
        "Class Inheritance",
        key=pick,
        on_change=lambda: st.session_state.__setitem__(INHERIT, bool(st.session_state.get(pick))),
        help="On: selecting another bubble of the same role pre-selects the class last chosen for that role "
        "(never across user and bot).",
    )


# ---------------------------------------------------------------- hotkeys


def _gen() -> int:
    """The shell's load generation of the work (bumped on reload/reopen), part of every widget key so a
    reloaded work is shown instead of old widget state (see ToolContext.wkey)."""
    return int(st.session_state.get("tool.evaluate.gen", 0))


def _widget_key(view: EvalView, class_id: int, name: str, ref: str | None = None) -> str:
    return f"{P}attr.{view.item_id}.{_gen()}.{ref or view.selected}.{class_id}.{name}"


def fresh_key(key: str | None) -> str | None:
    """The shell's digit for this run, unless it is the same key event again: seen in the browser test, a
    digit's trigger can be delivered a second time when fast ↑/↓ reruns interrupt each other (Streamlit
    replays the trigger of a run cut short), which would tag another bubble. Events carry the canvas's
    counter `n` (it starts at the time the canvas mounted, so it never repeats); one (k, n) is applied
    once."""
    if key is None:
        return None
    event = (st.session_state.get("tool.evaluate.canvas") or {}).get("key")
    if not isinstance(event, dict) or event.get("k") != key:
        return key
    stamp = (event.get("k"), event.get("n"))
    last = st.session_state.get(f"{P}last_key")
    st.session_state[f"{P}last_key"] = stamp
    return None if last == stamp else key


def handle_key(view: EvalView, key: str | None) -> str:
    """A page hotkey: digits choose a class / pick an option, "tab" the next attribute, "a" accepts the first
    open suggestion, "escape" un-chooses the class. Returns a note for the annotator ("" when none)."""
    if not key or not view.editable:
        return ""
    if key == "a":
        return accept_first(view)
    if view.selected is None:
        return "Select a bubble first (↑/↓)." if key in ev.NUMBER_KEYS else ""
    offered = ev.offered_classes(view.classes, ev.bubble_role(view.selected, view.messages))
    focus = get_focus(view)
    if key == "tab":
        cls = next((c for c in offered if c.id == focus.class_id), None)
        if cls is not None:
            set_focus(view, ev.Focus(cls.id, ev.next_attribute(cls, focus.attribute)))
        return ""
    if key == "escape":
        set_focus(view, ev.Focus())
        return ""
    if key not in ev.NUMBER_KEYS:
        return ""
    outcome = ev.handle_number_key(view.work, key=key, ref=view.selected, offered=offered, focus=focus)
    set_focus(view, outcome.focus)
    if outcome.changed:
        if outcome.focus.class_id is not None:
            _sync_widgets(view, outcome.focus.class_id, view.selected, view.work)
        view.changed()
        return ""
    return outcome.note


# ---------------------------------------------------------------- class & attribute panel


def _attribute_help(cls: ev.ClassDef) -> str:
    lines = [f"**{cls.label}** (`{cls.name}`), number {cls.number}"]
    for a in cls.attributes:
        options = ", ".join(str(o) for o in a.get("options") or ())
        required = ", required" if a.get("required") else ""
        lines.append(f"- {a['name']} ({a.get('type', 'radio')}{required}){': ' + options if options else ''}")
    return "\n".join(lines) if cls.attributes else lines[0] + "\n\nNo attributes."


def _choose(view: EvalView, cls: ev.ClassDef, ref: str) -> None:
    ev.add_result(view.live(), cls, ref)
    _sync_widgets(view, cls.id, ref)
    keyable = ev.keyable_attributes(cls)
    set_focus(view, ev.Focus(cls.id, keyable[0] if keyable else 0))


def _shaped(attribute: dict[str, Any], value: Any) -> Any:
    """A stored value as its widget holds it."""
    kind = attribute.get("type", "radio")
    options = [str(o) for o in attribute.get("options") or ()]
    if kind == "radio":
        return value if value in options else None
    if kind == "checkbox":
        return [o for o in value or [] if o in options]
    if kind == "rating":
        return value if isinstance(value, int) and 1 <= value <= ev.rating_max(attribute) else None
    if kind == "number":
        return value if isinstance(value, int | float) else None
    return value or ""


def _sync_widgets(view: EvalView, class_id: int, ref: str, work: dict[str, Any] | None = None) -> None:
    """Set the attribute widgets of (class, bubble) from the work after a change made elsewhere (a key, a
    suggestion, a delete): a value set through session state is what the browser then shows."""
    cls = next((c for c in view.classes if c.id == class_id), None)
    result = ev.find_result(work if work is not None else view.live(), class_id, ref) or {}
    for attribute in cls.attributes if cls else ():
        value = (result.get("values") or {}).get(attribute["name"])
        st.session_state[_widget_key(view, class_id, attribute["name"], ref)] = _shaped(attribute, value)


def _attribute_ui(view: EvalView, cls: ev.ClassDef, index: int, focused: bool) -> None:
    """One attribute's widget; a change is applied to the work here, in the script."""
    attribute = cls.attributes[index]
    name, kind = attribute["name"], attribute.get("type", "radio")
    ref = view.selected
    assert ref is not None
    result = ev.find_result(view.work, cls.id, ref) or {}
    current = _shaped(attribute, (result.get("values") or {}).get(name))
    key = _widget_key(view, cls.id, name)
    if key not in st.session_state:
        st.session_state[key] = current
    options = [str(o) for o in attribute.get("options") or ()]
    label = f"{'▸ ' if focused else ''}{name}{' *' if attribute.get('required') else ''}"
    hint = "Number keys 1–9, 0 pick an option when this attribute is focused (▸); Tab moves on."
    common: dict[str, Any] = {"key": key, "disabled": not view.editable, "on_change": _value_changed,
                              "args": (view, cls, index, ref, key)}  # fmt: skip
    # The focused radio/checkbox is marked for the canvas, which clicks its option on a number key at
    # once in the browser (components/dialogue/canvas.js pickLocally); the click reaches us as a change.
    marker = (
        {"radio": "parley-digits-radio", "checkbox": "parley-digits-toggle"}.get(kind) if focused else None
    )
    with st.container(key=marker) if marker else contextlib.nullcontext():
        value = _attribute_widget(attribute, kind, label, hint, options, common)
    if view.editable and value != current:
        ev.set_value(view.work, cls, ref, name, value)
        set_focus(view, ev.Focus(cls.id, index))
        view.changed()


def _value_changed(view: EvalView, cls: ev.ClassDef, index: int, ref: str, key: str) -> None:
    """An attribute widget's change, applied before the run that follows: that run may draw the panel for
    another bubble (the selection moved on meanwhile, e.g. a number picked the score and ↑ came right
    after), and a change of a widget the run does not draw again was never applied, so it was lost. The
    script's own check in _attribute_ui then finds nothing left to apply."""
    if not view.editable or st.session_state.get("tool.evaluate.loaded") != view.item_id:
        return  # (another item is being opened: its work replaces this one)
    attribute = cls.attributes[index]
    value = _widget_value(attribute, st.session_state.get(key))
    work = view.live()
    result = ev.find_result(work, cls.id, ref) or {}
    if value != _shaped(attribute, (result.get("values") or {}).get(attribute["name"])):
        ev.set_value(work, cls, ref, attribute["name"], value)
        set_focus(view, ev.Focus(cls.id, index))  # (view.selected is ref: the run that drew the widget)


def _widget_value(attribute: dict[str, Any], raw: Any) -> Any:
    """What an attribute widget returned, as the work holds it (pills keep the options' order)."""
    if attribute.get("type", "radio") == "checkbox":
        return [o for o in (str(o) for o in attribute.get("options") or ()) if o in (raw or [])]
    return raw


def _attribute_widget(
    attribute: dict[str, Any], kind: str, label: str, hint: str, options: list[str], common: dict[str, Any]
) -> Any:
    if kind == "radio":
        value: Any = st.radio(label, options, index=None, horizontal=True, help=hint, **common)
    elif kind == "checkbox":
        value = _widget_value(
            attribute, st.pills(label, options, selection_mode="multi", help=hint, **common)
        )
    elif kind == "rating":
        stars = list(range(1, ev.rating_max(attribute) + 1))
        value = st.pills(label, stars, format_func=lambda n: f"{n}★", help=hint, **common)
    elif kind == "number":
        value = st.number_input(label, value=None, min_value=attribute.get("min"), max_value=attribute.get("max"),
                                step=attribute.get("step"), **common)  # fmt: skip
    else:
        value = st.text_area(label, height=80, **common)
    return value


def class_panel_ui(view: EvalView) -> None:
    """The classes offered for the selected bubble (hover one for its attributes) and the chosen one's
    attributes."""
    with st.container(border=True):
        if view.selected is None:
            st.markdown("**Classes**")
            st.caption("Select a bubble (click it, or ↑/↓) to tag it with a class.")
            return
        role = ev.bubble_role(view.selected, view.messages)
        offered = ev.offered_classes(view.classes, role)
        st.markdown(f"**Classes** · {ev.bubble_name(view.selected, view.order)} ({role})")
        if not offered:
            st.caption(f"No class of this dataset's ontology targets {role} bubbles.")
            return
        focus = get_focus(view)
        for cls in offered:
            has = ev.find_result(view.work, cls.id, view.selected) is not None
            st.button(
                f"{cls.number} · {cls.label}{' ✓' if has else ''}",
                key=f"{P}class.{view.item_id}.{view.selected}.{cls.id}",
                help=_attribute_help(cls),
                type="primary" if cls.id == focus.class_id else "secondary",
                on_click=_choose,
                args=(view, cls, view.selected),
                disabled=not view.editable,
                width="stretch",
            )
        chosen = next((c for c in offered if c.id == focus.class_id), None)
        if chosen is None:
            st.caption("Press a class's number (or click it) to choose it.")
            return
        st.markdown(
            f"<span style='color:{escape(chosen.color)}'>●</span> <b>{escape(chosen.label)}</b> "
            "<small>Tab: next attribute · Esc: choose another class</small>",
            unsafe_allow_html=True,
        )
        for index in range(len(chosen.attributes)):
            _attribute_ui(view, chosen, index, focused=index == focus.attribute)


# ---------------------------------------------------------------- result panel


def _ask_delete(class_id: int, ref: str) -> None:
    st.session_state[f"{P}confirm"] = (class_id, ref)


def _delete(view: EvalView, class_id: int, ref: str) -> None:
    ev.remove_result(view.live(), class_id, ref)
    st.session_state.pop(f"{P}confirm", None)
    _sync_widgets(view, class_id, ref)
    store = _focus_store(view)
    if ref in store and store[ref].class_id == class_id:
        store[ref] = ev.Focus()


def values_text(result: dict[str, Any]) -> str:
    parts = []
    for name, value in (result.get("values") or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{name}: {shown}")
    return " · ".join(parts) or "no values yet"


def sorted_results(view: EvalView) -> list[dict[str, Any]]:
    position = {ref: i for i, ref in enumerate(view.refs)}
    results = [r for r in view.work.get("results", []) if ev.result_ref(r) is not None]
    return sorted(results, key=lambda r: position.get(ev.result_ref(r) or "", 10**9))


def result_panel_ui(view: EvalView, *, expand: bool) -> None:
    """Every result with its bubble and class colour; the bubble button selects it; the bin deletes after a
    second confirmation; `expand` (the canvas's Expand Attributes) unfolds the attribute values."""
    by_id = {c.id: c for c in view.classes}
    results = sorted_results(view)
    confirm = st.session_state.get(f"{P}confirm")
    with st.container(border=True):
        st.markdown(f"**Results** ({len(results)})")
        if not results:
            st.caption("No results yet.")
        for result in results:
            ref = ev.result_ref(result)
            assert ref is not None
            class_id = int(result["class_id"])
            cls = by_id.get(class_id)
            label, color = (cls.label, cls.color) if cls else (f"class {class_id}", "#888888")
            where = ev.bubble_name(ref, view.order)
            left, mid, right = st.columns([0.35, 4, 1.3], vertical_alignment="center", gap="small")
            left.markdown(
                f"<span style='color:{escape(color)};font-size:1.3em'>■</span>", unsafe_allow_html=True
            )
            mid.button(
                f"{where} · {label}",
                key=f"{P}goto.{view.item_id}.{ref}.{class_id}",
                on_click=view.select,
                args=(ref,),
                type="tertiary",
                help="Select this bubble",
            )
            right.button(
                "",
                icon=":material/delete:",
                key=f"{P}del.{view.item_id}.{ref}.{class_id}",
                help=f"Delete {label} on {where}",
                disabled=not view.editable,
                on_click=_ask_delete,
                args=(class_id, ref),
            )
            if expand:
                st.caption(values_text(result))
            if confirm == (class_id, ref) and view.editable:
                st.warning(f"Delete {label} on {where} and its values?")
                yes, no = st.columns(2)
                yes.button(
                    "Delete", key=f"{P}yes", type="primary", on_click=_delete, args=(view, class_id, ref)
                )
                no.button("Cancel", key=f"{P}no", on_click=lambda: st.session_state.pop(f"{P}confirm", None))
        scores = ev.candidate_scores(view.work, view.classes)
        if scores:
            shown = [
                f"{ev.bubble_name(f'c{k}', view.order)[10:]}: {scores[k]:g}"
                for k in view.order
                if k in scores
            ]
            st.caption("Candidate scores · " + " · ".join(shown))


def badges(view: EvalView) -> dict[str, list[dict[str, str]]]:
    """The class chips the canvas draws on each bubble (details show with Expand Attributes)."""
    by_id = {c.id: c for c in view.classes}
    out: dict[str, list[dict[str, str]]] = {}
    for result in sorted_results(view):
        cls = by_id.get(int(result["class_id"]))
        if cls is None:
            continue
        chip = {"text": cls.label, "detail": values_text(result), "color": cls.color}
        out.setdefault(ev.result_ref(result) or "", []).append(chip)
    return out


def check(view: EvalView) -> Callable[[dict[str, Any]], list[Any]]:
    """The Submit check for the shell: (message, bubble) for each missing required attribute, then
    ranking / pairwise answers that break the rules (the shell itself asks for required questions)."""

    def run(work: dict[str, Any]) -> list[Any]:
        missing = ev.validate(
            work, classes=view.classes, questions=view.questions, messages=view.messages,
            candidates=view.candidates, order=view.order, require_answers=False,
        )  # fmt: skip
        return [(m.message, m.ref) if m.ref else m.message for m in missing]

    return run


# ---------------------------------------------------------------- suggestions


def _sync_answer_widgets(view: EvalView, suggestion: dict[str, Any], work: dict[str, Any]) -> None:
    """Set the widgets that show what an accepted suggestion changed, so the browser shows the new answer
    (the shell's Classification widgets are keyed ctx.wkey("q<id>"): "tool.evaluate.w.<item>.<gen>.q<id>")."""
    kind = suggestion.get("kind")
    answers = work.get("classifications") or {}
    for question in view.questions:
        base = f"tool.evaluate.w.{view.item_id}.{_gen()}.q{question.id}"
        answer = answers.get(str(question.id))
        if kind == "preference" and question.type == "pairwise" and isinstance(answer, dict):
            if answer.get("tie"):
                st.session_state[base] = "Tie"
            elif "chosen" in answer:
                place = view.order.index(int(answer["chosen"])) if int(answer["chosen"]) in view.order else 0
                st.session_state[base] = candidate_label(place)
                st.session_state[base + ".s"] = answer.get("strength")
        elif kind == "ranking" and question.type == "ranking" and isinstance(answer, list):
            ranks = ev.ranking_to_ranks(answer)
            for original in view.order:  # the shell's ranking rows: one widget a candidate
                st.session_state[f"{base}.{original}"] = ranks.get(original)
    if kind in ("score", "label") and suggestion.get("target"):
        for cls in view.classes:
            _sync_widgets(view, cls.id, str(suggestion["target"]), work)


def accept(view: EvalView, index: int, work: dict[str, Any] | None = None) -> str:
    suggestion = view.suggestions[index]
    work = work if work is not None else view.live()
    why = ev.accept_suggestion(work, suggestion, classes=view.classes, questions=view.questions)
    if why:
        return f"Cannot accept the suggestion: {why}."
    _sync_answer_widgets(view, suggestion, work)
    return "Suggestion accepted."


def _states(view: EvalView) -> list[str]:
    return [
        ev.suggestion_state(view.work, s, classes=view.classes, questions=view.questions)
        for s in view.suggestions
    ]


def accept_first(view: EvalView) -> str:
    """`a`: accept the first open suggestion. Runs as a callback, before the shell draws its widgets."""
    work = view.live()
    states = [
        ev.suggestion_state(work, s, classes=view.classes, questions=view.questions) for s in view.suggestions
    ]
    if "open" not in states:
        return "No open suggestion to accept."
    return accept(view, states.index("open"), work)


def on_extra_key(view: EvalView, key: str) -> None:
    """The keys component's callback (Tab, `a`, Escape), before the next script run."""
    view.work = view.live()
    note = handle_key(view, key)
    if note:
        st.session_state["tool.evaluate.note"] = note


def _accept_clicked(view: EvalView, index: int) -> None:
    st.session_state["tool.evaluate.note"] = accept(view, index)


def suggestions_ui(view: EvalView) -> None:
    """Imported or model-made suggestions, apart from the annotator's answers: Accept (or `a` for the first
    open one) copies one into the answers; answering otherwise overrules it. They are never results."""
    if not view.suggestions:
        return
    marks = {
        "open": ":material/lightbulb:",
        "accepted": "✓ accepted:",
        "overruled": "✗ overruled:",
        "unusable": "—",
    }
    with st.container(border=True):
        st.markdown("**Suggestions** <small>(not your answers · `a` accepts the first open one)</small>",
                    unsafe_allow_html=True)  # fmt: skip
        for index, (suggestion, state) in enumerate(zip(view.suggestions, _states(view), strict=True)):
            text, button = st.columns([3, 1.7], vertical_alignment="center")
            text.caption(f"{marks[state]} {ev.describe_suggestion(suggestion, view.order)}")
            if state in ("open", "overruled"):
                button.button(
                    "Accept",
                    key=f"{P}accept.{view.item_id}.{index}",
                    disabled=not view.editable,
                    on_click=_accept_clicked,
                    args=(view, index),
                )
