"""The RLHF evaluation panels: classes & attributes of the selected bubble, the result list, the
ranking / pairwise / score area and suggestions. The working copy (`work`) is the truth; every widget
is set from it before it is drawn and writes back through a callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import streamlit as st

from core import evaluation as ev
from core.dialogue import candidate_label

PREFIX = "evaluate."
INHERIT_KEY = "evaluate.inherit"
EXPAND_KEY = "evaluate.expand"


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


# ---------------------------------------------------------------- focus (chosen class, attribute)


def _focus_key(view: EvalView) -> str:
    return f"{PREFIX}focus.{view.item_id}"


def get_focus(view: EvalView) -> ev.Focus:
    """The chosen class and focused attribute on the selected bubble (kept per item and bubble)."""
    stored = st.session_state.get(_focus_key(view), {})
    return stored.get(view.selected, ev.Focus())


def set_focus(view: EvalView, focus: ev.Focus) -> None:
    st.session_state.setdefault(_focus_key(view), {})[view.selected] = focus
    if view.selected is not None and focus.class_id is not None:
        inheritance(view).remember(ev.bubble_role(view.selected, view.messages), focus.class_id)


def inheritance(view: EvalView) -> ev.Inheritance:
    state = st.session_state.setdefault(f"{PREFIX}inheritance", ev.Inheritance())
    state.enabled = bool(st.session_state.get(INHERIT_KEY, False))
    return state


def on_selection(view: EvalView) -> None:
    """A newly selected bubble: inherit the class last chosen for its role (if on), else keep what it had."""
    last_key = f"{PREFIX}last_selected"
    here = (view.item_id, view.selected)
    if st.session_state.get(last_key) == here:
        return
    st.session_state[last_key] = here
    if view.selected is None:
        return
    stored = st.session_state.setdefault(_focus_key(view), {})
    role = ev.bubble_role(view.selected, view.messages)
    offered = ev.offered_classes(view.classes, role)
    inherited = inheritance(view).preselect(role, offered)
    if inherited is not None:
        cls = next(c for c in offered if c.id == inherited)
        keyable = ev.keyable_attributes(cls)
        stored[view.selected] = ev.Focus(inherited, keyable[0] if keyable else 0)
    elif view.selected not in stored:
        existing = ev.results_for(view.work, view.selected)
        stored[view.selected] = ev.Focus(int(existing[0]["class_id"]) if existing else None, 0)


def handle_key(view: EvalView, key: str | None) -> str:
    """A hotkey from the shell: numbers choose a class / pick an option, Tab the next attribute,
    `a` accepts the first suggestion, Escape un-chooses the class. Returns a note for the user."""
    if not key or not view.editable:
        return ""
    if key == "a":
        return accept_first_suggestion(view)
    if view.selected is None:
        return "Select a bubble first (↑/↓)." if key in ev.NUMBER_KEYS else ""
    offered = ev.offered_classes(view.classes, ev.bubble_role(view.selected, view.messages))
    focus = get_focus(view)
    if key in ("tab", "Tab"):
        cls = next((c for c in offered if c.id == focus.class_id), None)
        if cls is not None:
            set_focus(view, ev.Focus(cls.id, ev.next_attribute(cls, focus.attribute)))
        return ""
    if key in ("escape", "Escape"):
        set_focus(view, ev.Focus())
        return ""
    if key not in ev.NUMBER_KEYS:
        return ""
    outcome = ev.handle_number_key(view.work, key=key, ref=view.selected, offered=offered, focus=focus)
    set_focus(view, outcome.focus)
    if outcome.changed:
        view.changed()
    return outcome.note if not outcome.changed else ""


# ---------------------------------------------------------------- class & attribute panel


def _attribute_help(cls: ev.ClassDef) -> str:
    if not cls.attributes:
        return f"**{cls.label}**: no attributes"
    lines = [f"**{cls.label}** (`{cls.name}`)"]
    for a in cls.attributes:
        options = ", ".join(str(o) for o in a.get("options") or ())
        required = " · required" if a.get("required") else ""
        lines.append(f"- {a['name']} ({a.get('type', 'radio')}{required}){': ' + options if options else ''}")
    return "\n".join(lines)


def _widget_key(view: EvalView, cls: ev.ClassDef, name: str) -> str:
    return f"{PREFIX}attr.{view.item_id}.{view.selected}.{cls.id}.{name}"


def _write(view: EvalView, cls: ev.ClassDef, ref: str, name: str, index: int) -> None:
    value = st.session_state.get(_widget_key(view, cls, name))
    ev.set_value(view.work, cls, ref, name, value)
    set_focus(view, ev.Focus(cls.id, index))
    view.changed()


def _choose(view: EvalView, cls: ev.ClassDef) -> None:
    ev.add_result(view.work, cls, view.selected)  # type: ignore[arg-type]
    keyable = ev.keyable_attributes(cls)
    set_focus(view, ev.Focus(cls.id, keyable[0] if keyable else 0))
    view.changed()


def _attribute_ui(view: EvalView, cls: ev.ClassDef, index: int, focused: bool) -> None:
    attribute = cls.attributes[index]
    name, kind = attribute["name"], attribute.get("type", "radio")
    ref = view.selected
    result = ev.find_result(view.work, cls.id, ref) or {}  # type: ignore[arg-type]
    value = (result.get("values") or {}).get(name)
    key = _widget_key(view, cls, name)
    options = [str(o) for o in attribute.get("options") or ()]
    label = f"{'▸ ' if focused else ''}{name}{' *' if attribute.get('required') else ''}"
    if focused and kind != "text":
        label += " — keys 1–9, 0"
    common = {
        "key": key,
        "on_change": _write,
        "args": (view, cls, ref, name, index),
        "disabled": not view.editable,
    }
    if kind == "radio":
        st.session_state[key] = value if value in options else None
        st.radio(label, options, horizontal=True, **common)
    elif kind == "checkbox":
        st.session_state[key] = [v for v in (value or []) if v in options]
        st.pills(label, options, selection_mode="multi", **common)
    elif kind == "rating":
        stars = list(range(1, ev.rating_max(attribute) + 1))
        st.session_state[key] = value if value in stars else None
        st.pills(label, stars, format_func=lambda n: f"{n}★", **common)
    elif kind == "number":
        st.session_state[key] = value
        st.number_input(label, min_value=attribute.get("min"), max_value=attribute.get("max"), **common)
    else:
        st.session_state[key] = value or ""
        st.text_area(label, height=80, **common)


def class_panel_ui(view: EvalView) -> None:
    """The classes offered for the selected bubble and the attributes of the chosen one."""
    if view.selected is None:
        st.caption("Select a bubble (click it, or ↑/↓) to tag it with a class.")
        return
    role = ev.bubble_role(view.selected, view.messages)
    offered = ev.offered_classes(view.classes, role)
    st.markdown(f"**{ev.bubble_name(view.selected, view.order)}** · {role}")
    if not offered:
        st.caption(f"No class in this dataset's ontology targets {role} bubbles.")
        return
    focus = get_focus(view)
    for cls in offered:
        has = ev.find_result(view.work, cls.id, view.selected) is not None
        mark = "✓ " if has else ""
        st.button(
            f"{cls.number} · {mark}{cls.label}",
            key=f"{PREFIX}class.{view.item_id}.{view.selected}.{cls.id}",
            help=_attribute_help(cls),
            type="primary" if cls.id == focus.class_id else "secondary",
            on_click=_choose,
            args=(view, cls),
            disabled=not view.editable,
            use_container_width=True,
        )
    chosen = next((c for c in offered if c.id == focus.class_id), None)
    if chosen is None:
        st.caption("Press a class's number to choose it.")
        return
    st.markdown(
        f"<span style='color:{escape(chosen.color)}'>●</span> **{escape(chosen.label)}** attributes "
        "<small>(Tab: next attribute, Esc: other class)</small>",
        unsafe_allow_html=True,
    )
    for index in range(len(chosen.attributes)):
        _attribute_ui(view, chosen, index, focused=index == focus.attribute)


# ---------------------------------------------------------------- result panel


def _delete(view: EvalView, class_id: int, ref: str) -> None:
    ev.remove_result(view.work, class_id, ref)
    st.session_state.pop(f"{PREFIX}confirm", None)
    stored = st.session_state.get(_focus_key(view), {})
    if ref in stored and stored[ref].class_id == class_id:
        stored[ref] = ev.Focus()
    view.changed()


def _values_text(result: dict[str, Any]) -> str:
    parts = []
    for name, value in (result.get("values") or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{name}: {shown}")
    return " · ".join(parts) or "no values yet"


def result_panel_ui(view: EvalView, *, expand: bool) -> None:
    """Every result with its bubble and class colour; click selects the bubble; 🗑 deletes after a
    second confirmation; `expand` unfolds every result's attribute values."""
    by_id = {c.id: c for c in view.classes}
    position = {ref: i for i, ref in enumerate(view.refs)}
    results = sorted(view.work.get("results", []), key=lambda r: position.get(ev.result_ref(r) or "", 10**9))
    results = [r for r in results if ev.result_ref(r) is not None]
    st.markdown(f"**Results ({len(results)})**")
    if not results:
        st.caption("No results yet.")
    confirm = st.session_state.get(f"{PREFIX}confirm")
    for result in results:
        ref = ev.result_ref(result)
        cls = by_id.get(int(result["class_id"]))
        label = cls.label if cls else f"class {result['class_id']}"
        color = cls.color if cls else "#888"
        left, right = st.columns([5, 1], vertical_alignment="center")
        with left:
            st.markdown(
                f"<span style='color:{escape(color)}'>■</span> {escape(label)}", unsafe_allow_html=True
            )
            st.button(
                ev.bubble_name(ref, view.order),  # type: ignore[arg-type]
                key=f"{PREFIX}goto.{view.item_id}.{ref}.{result['class_id']}",
                on_click=view.select,
                args=(ref,),
                type="tertiary",
            )
            if expand:
                st.caption(_values_text(result))
        with right:
            st.button(
                "🗑",
                key=f"{PREFIX}del.{view.item_id}.{ref}.{result['class_id']}",
                help=f"Delete {label} on {ev.bubble_name(ref, view.order)}",  # type: ignore[arg-type]
                disabled=not view.editable,
                on_click=lambda c=result["class_id"], r=ref: st.session_state.__setitem__(
                    f"{PREFIX}confirm", (c, r)
                ),
            )
        if confirm == (result["class_id"], ref):
            st.warning(f"Delete {label} on {ev.bubble_name(ref, view.order)}?")  # type: ignore[arg-type]
            yes, no = st.columns(2)
            yes.button(
                "Delete", key=f"{PREFIX}yes", type="primary", on_click=_delete, args=(view, confirm[0], ref)
            )
            no.button(
                "Cancel", key=f"{PREFIX}no", on_click=lambda: st.session_state.pop(f"{PREFIX}confirm", None)
            )


# ---------------------------------------------------------------- ranking, pairwise, scores


def _answer_key(view: EvalView, question: ev.QuestionDef, part: str) -> str:
    return f"{PREFIX}q.{view.item_id}.{question.id}.{part}"


def _set_rank(view: EvalView, question: ev.QuestionDef, candidate: int) -> None:
    answers = view.work.setdefault("classifications", {})
    ranks = ev.ranking_to_ranks(answers.get(str(question.id)))
    rank = st.session_state.get(_answer_key(view, question, f"c{candidate}"))
    if rank is None:
        ranks.pop(candidate, None)
    else:
        ranks[candidate] = int(rank)
        if not question.allow_ties:  # a rank taken by another candidate moves to this one
            for other, r in list(ranks.items()):
                if other != candidate and r == int(rank):
                    ranks.pop(other)
    answers[str(question.id)] = ev.ranks_to_ranking(ranks) if ranks else None
    if not ranks:
        answers.pop(str(question.id), None)
    view.changed()


def ranking_ui(view: EvalView, question: ev.QuestionDef) -> None:
    n = len(view.candidates)
    ranks = ev.ranking_to_ranks((view.work.get("classifications") or {}).get(str(question.id)))
    st.markdown(f"**{escape(question.label)}**{' *' if question.required else ''} — 1 is best")
    for position, original in enumerate(view.order):
        key = _answer_key(view, question, f"c{original}")
        st.session_state[key] = ranks.get(original)
        st.segmented_control(
            f"Rank of {candidate_label(position)}",
            list(range(1, n + 1)),
            key=key,
            on_change=_set_rank,
            args=(view, question, original),
            disabled=not view.editable,
        )


def _set_pair(view: EvalView, question: ev.QuestionDef, a: int, b: int) -> None:
    choice = st.session_state.get(_answer_key(view, question, "choice"))
    middle = (len(question.strengths) + 1) // 2
    strength = st.session_state.get(_answer_key(view, question, "strength")) or middle
    answers = view.work.setdefault("classifications", {})
    if choice is None:
        answers.pop(str(question.id), None)
    elif choice == "Tie":
        answers[str(question.id)] = ev.pairwise_answer(None, None, tie=True)
    else:
        chosen = a if choice.endswith(candidate_label(view.order.index(a))) else b
        rejected = b if chosen == a else a
        answers[str(question.id)] = ev.pairwise_answer(chosen, rejected, strength=strength)
    view.changed()


def pairwise_ui(view: EvalView, question: ev.QuestionDef) -> None:
    """A/B with tie and strength; with more than two candidates the pair can be chosen."""
    if len(view.candidates) < 2:
        return
    answer = (view.work.get("classifications") or {}).get(str(question.id)) or {}
    pairs = [
        (view.order[i], view.order[j]) for i in range(len(view.order)) for j in range(i + 1, len(view.order))
    ]
    st.markdown(f"**{escape(question.label)}**{' *' if question.required else ''}")
    pair = pairs[0]
    if "chosen" in answer:
        pair = next((p for p in pairs if set(p) == {answer["chosen"], answer["rejected"]}), pair)
    if len(pairs) > 1:
        pair_key = _answer_key(view, question, "pair")
        if pair_key not in st.session_state:
            st.session_state[pair_key] = pair
        pair = st.selectbox(
            "Compare",
            pairs,
            key=pair_key,
            format_func=lambda p: (
                f"{candidate_label(view.order.index(p[0]))} vs {candidate_label(view.order.index(p[1]))}"
            ),
            disabled=not view.editable,
        )
    a, b = pair
    la, lb = candidate_label(view.order.index(a)), candidate_label(view.order.index(b))
    options = (
        [f"Better: {la}", "Tie", f"Better: {lb}"]
        if question.allow_tie
        else [f"Better: {la}", f"Better: {lb}"]
    )
    choice_key, strength_key = _answer_key(view, question, "choice"), _answer_key(view, question, "strength")
    if answer.get("tie"):
        st.session_state[choice_key] = "Tie"
    elif answer.get("chosen") in (a, b):
        st.session_state[choice_key] = options[0] if answer["chosen"] == a else options[-1]
    else:
        st.session_state[choice_key] = None
    middle = (len(question.strengths) + 1) // 2
    st.session_state[strength_key] = answer.get("strength", middle) if "chosen" in answer else middle
    st.segmented_control(
        "Which reply is better?", options, key=choice_key, on_change=_set_pair, args=(view, question, a, b),
        disabled=not view.editable,
    )  # fmt: skip
    if "chosen" in answer:
        st.segmented_control(
            "How much better?", list(range(1, len(question.strengths) + 1)),
            format_func=lambda s: question.strengths[s - 1],
            key=strength_key, on_change=_set_pair, args=(view, question, a, b), disabled=not view.editable,
        )  # fmt: skip


def scores_ui(view: EvalView) -> None:
    """Per-candidate scores given through evaluation classes (mean of numeric values)."""
    scores = ev.candidate_scores(view.work, view.classes)
    if not scores:
        return
    shown = [
        f"{candidate_label(pos)}: {scores[orig]:g}" for pos, orig in enumerate(view.order) if orig in scores
    ]
    st.caption("Scores — " + " · ".join(shown))


def compare_ui(view: EvalView) -> None:
    for question in view.questions:
        if question.type == "ranking":
            ranking_ui(view, question)
        elif question.type == "pairwise":
            pairwise_ui(view, question)
    scores_ui(view)


# ---------------------------------------------------------------- suggestions


def accept_first_suggestion(view: EvalView) -> str:
    if not view.suggestions:
        return "No suggestion to accept."
    return accept(view, 0)


def accept(view: EvalView, index: int) -> str:
    why = ev.accept_suggestion(
        view.work, view.suggestions[index], classes=view.classes, questions=view.questions
    )
    if why:
        return f"Cannot accept: {why}."
    view.changed()
    return "Suggestion accepted."


def suggestions_ui(view: EvalView) -> None:
    """Imported or model-made suggestions, shown apart; accept (button, or `a` for the first) or overrule
    by answering yourself. They are never results until accepted."""
    if not view.suggestions:
        return
    st.markdown(
        "**Suggestions** <small>(not your answers; `a` accepts the first)</small>", unsafe_allow_html=True
    )
    for index, suggestion in enumerate(view.suggestions):
        text, button = st.columns([4, 1], vertical_alignment="center")
        text.caption("💡 " + ev.describe_suggestion(suggestion, view.order))
        button.button(
            "Accept",
            key=f"{PREFIX}accept.{view.item_id}.{index}",
            disabled=not view.editable,
            on_click=lambda i=index: st.session_state.__setitem__(f"{PREFIX}note", accept(view, i)),
        )
