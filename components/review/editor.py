"""Fix & accept: the reviewer's editor for an annotator's answers (attributes, classifications, replies)."""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from components.review.describe import Ontology, bubble, results_sorted
from core import evaluation as ev
from core.dialogue import candidate_label


def _attribute_widget(attribute: dict[str, Any], value: Any, key: str) -> Any:
    name, kind = str(attribute.get("name")), attribute.get("type", "radio")
    options = [str(o) for o in attribute.get("options") or ()]
    label = name + (" *" if attribute.get("required") else "")
    if kind == "radio":
        index = options.index(value) if value in options else None
        return st.radio(label, options, index=index, horizontal=True, key=key)
    if kind == "checkbox":
        chosen = st.multiselect(label, options, default=[o for o in value or [] if o in options], key=key)
        return [o for o in options if o in chosen]
    if kind == "rating":
        stars = list(range(1, ev.rating_max(attribute) + 1))
        return st.pills(label, stars, default=value if value in stars else None, format_func=lambda n: f"{n}★",
                        key=key)  # fmt: skip
    if kind == "number":
        return st.number_input(label, value=value if isinstance(value, int | float) else None, key=key)
    return st.text_input(label, value=str(value or ""), key=key) or None


def _ranking_widget(question: ev.QuestionDef, answer: Any, n: int, key: str) -> list[Any] | None:
    """One rank picker a candidate (1 = best; equal ranks make a tie)."""
    st.markdown(f"**{question.label}** · rank each candidate, 1 = best")
    ranks = ev.ranking_to_ranks(answer if isinstance(answer, list) else [])
    picked: dict[int, int] = {}
    for k in range(n):
        rank = st.segmented_control(
            f"Candidate {candidate_label(k)}", list(range(1, n + 1)), default=ranks.get(k), key=f"{key}.{k}"
        )
        if rank is not None:
            picked[k] = int(rank)
    return ev.ranks_to_ranking(picked) or None


def _pairwise_widget(question: ev.QuestionDef, answer: Any, n: int, key: str) -> dict[str, Any] | None:
    pair = (question.settings.get("pair") or [0, 1])[:2]
    a, b = sorted(int(p) for p in pair)
    if n < 2 or b >= n:
        st.caption(f"{question.label}: needs two candidates")
        return answer if isinstance(answer, dict) else None
    options = [candidate_label(a), "Tie", candidate_label(b)]
    now = None
    if isinstance(answer, dict):
        now = "Tie" if answer.get("tie") else candidate_label(int(answer.get("chosen", -1)))
    pick = st.segmented_control(question.label, options, default=now if now in options else None, key=key)
    if pick is None:
        return None
    if pick == "Tie":
        return {"tie": True}
    strengths = question.strengths
    old = answer.get("strength") if isinstance(answer, dict) else None
    strength = st.segmented_control(
        "How much better", list(range(1, len(strengths) + 1)), format_func=lambda s: strengths[s - 1],
        default=old if old in range(1, len(strengths) + 1) else None, key=f"{key}.s",
    )  # fmt: skip
    chosen = a if pick == candidate_label(a) else b
    out: dict[str, Any] = {"chosen": chosen, "rejected": b if chosen == a else a}
    if strength is not None:
        out["strength"] = strength
    return out


def _question_widget(question: ev.QuestionDef, answer: Any, n: int, key: str) -> Any:
    options = list(question.options)
    if question.type == "radio":
        index = options.index(answer) if answer in options else None
        return st.radio(question.label, options, index=index, horizontal=True, key=key)
    if question.type == "checkbox":
        chosen = st.multiselect(
            question.label, options, default=[o for o in answer or [] if o in options], key=key
        )
        return [o for o in options if o in chosen] or None
    if question.type == "text":
        return st.text_input(question.label, value=str(answer or ""), key=key) or None
    if question.type == "ranking":
        return _ranking_widget(question, answer, n, key)
    if question.type == "pairwise":
        return _pairwise_widget(question, answer, n, key)
    return answer


def fix_editor_ui(
    work: dict[str, Any], *, onto: Ontology, candidates: int, key: str
) -> tuple[dict[str, Any], str, bool]:
    """The editor, seeded from `work`; returns (the corrected work, the reviewer's note, Fix & accept clicked).

    `key` must change with the annotation's version, so a newer version is never edited with older widgets.
    """
    fixed = copy.deepcopy(work)
    with st.container(border=True):
        st.markdown("**Your fix**")
        validity = st.radio(
            "Validity", ["valid", "invalid"], index=0 if work.get("validity", "valid") == "valid" else 1,
            horizontal=True, key=f"{key}.validity",
        )  # fmt: skip
        fixed["validity"] = validity
        fixed["invalid_reason"] = (
            st.text_input("Why invalid", value=work.get("invalid_reason") or "", key=f"{key}.invalid")
            if validity == "invalid"
            else ""
        )
        kept = []
        for i, result in enumerate(results_sorted(fixed)):
            class_id = int(result["class_id"])
            ref = ev.result_ref(result)
            where = bubble(ref) if ref else "reply"
            st.markdown(f"**{onto.class_label(class_id)}** · {where}")
            if st.checkbox("Remove this result", key=f"{key}.r{i}.remove"):
                continue
            if ref is None:
                result["text"] = st.text_area("Reply", value=str(result.get("text") or ""), height=140,
                                              key=f"{key}.r{i}.text")  # fmt: skip
            else:
                cls = onto.classes.get(class_id)
                values = dict(result.get("values") or {})
                for attribute in cls.attributes if cls else ():
                    name = str(attribute.get("name"))
                    value = _attribute_widget(attribute, values.get(name), f"{key}.r{i}.a.{name}")
                    if value in (None, "", []):
                        values.pop(name, None)
                    else:
                        values[name] = value
                result["values"] = values
            kept.append(result)
        fixed["results"] = kept
        answers = dict(work.get("classifications") or {})
        for qid, question in onto.questions.items():
            if qid in onto.retired and str(qid) not in answers:
                continue
            value = _question_widget(question, answers.get(str(qid)), candidates, f"{key}.q{qid}")
            if value in (None, "", [], {}):
                answers.pop(str(qid), None)
            else:
                answers[str(qid)] = value
        fixed["classifications"] = answers
        note = st.text_input("Note for the annotator (optional)", key=f"{key}.note")
        clicked = st.button("Fix & accept", type="primary", key=f"{key}.save", icon=":material/done_all:")
    return fixed, note, clicked
