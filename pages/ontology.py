"""Ontology page (admins): a dataset's classes, classifications, guidelines; JSON download, upload and copy."""

from __future__ import annotations

import json
import uuid
from typing import Any

import streamlit as st

from components.auth import require_role
from core.ontology import (
    ATTRIBUTE_FORM,
    ATTRIBUTE_TYPES,
    CLASS_FORM,
    CLASSIFICATION_TYPES,
    QUESTION_FORM,
    TOOL_LABELS,
    attribute_form,
    class_form,
    class_from_form,
    describe_classification,
    describe_targets,
    question_form,
    question_from_form,
)
from store import db
from store import ontology as onto
from store import ontology_usage as usage
from store.datasets import list_datasets
from store.errors import Conflict, Forbidden, InputError, NotFound
from store.items import change_keys

S = st.session_state
K = "ontology."  # every session-state key of this page starts with it
FAILURES = (InputError, NotFound, Forbidden, Conflict)


def _write(action, **kw) -> Any:  # type: ignore[no-untyped-def]
    """Run a store write; on bad input show the message (naming class and field) and return None."""
    try:
        with db.write_session() as session:
            result = action(session=session, **kw)
    except FAILURES as exc:
        S[K + "error"] = str(exc)
        return None
    return True if result is None else result


def _flash(message: str) -> None:
    S[K + "flash"] = message


# ---------------------------------------------------------------- class editor state


def _ensure(prefix: str, fields: dict[str, Any]) -> None:
    """Refill what Streamlit cleared: a widget hidden for one run loses its state."""
    for key, value in fields.items():
        S.setdefault(prefix + key, value)


def _put(prefix: str, form: dict[str, Any]) -> None:
    for key, value in form.items():
        S[prefix + key] = value


def _open_class(cls: dict[str, Any] | None, class_id: int | None, number: int = 1) -> None:
    S[K + "edit"] = class_id or "new"
    S[K + "gen"] = S.get(K + "gen", 0) + 1
    S.pop(K + "confirm_save", None)
    form, attributes = class_form(cls, number=number)
    _put(K + "c.", form)
    S[K + "attrs"] = []
    for attr in attributes:
        _add_attr(attr)


def _add_attr(form: dict[str, Any] | None = None) -> None:
    uid = uuid.uuid4().hex[:8]
    _put(f"{K}a.{uid}.", form or attribute_form())
    S[K + "attrs"] = [*S.get(K + "attrs", []), uid]


def _move(key: str, i: int, step: int) -> None:
    items = list(S[key])
    j = i + step
    if 0 <= j < len(items):
        items[i], items[j] = items[j], items[i]
        S[key] = items


def _remove_attr(uid: str) -> None:
    S[K + "attrs"] = [u for u in S[K + "attrs"] if u != uid]


def _collected_class() -> tuple[dict[str, Any], dict[str, str]]:
    """The class JSON from the editor's widgets, and the attributes renamed {old: new}."""
    form = {key: S[K + "c." + key] for key in CLASS_FORM}
    attributes = [{key: S[f"{K}a.{uid}.{key}"] for key in ATTRIBUTE_FORM} for uid in S[K + "attrs"]]
    return class_from_form(form, attributes)


# ---------------------------------------------------------------- class list and editor


def _chip(color: str) -> str:
    return f'<span style="display:inline-block;width:1em;height:1em;border-radius:3px;background:{color}"></span>'


def classes_ui(user, dataset_id: int, counts: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        classes = onto.list_classes(session=session, dataset_id=dataset_id)
        deleted = [c for c in onto.list_classes(session=session, dataset_id=dataset_id, include_deleted=True)
                   if c.deleted_at is not None]  # fmt: skip
    widths = [0.3, 0.4, 1.5, 1.5, 1.5, 1, 0.6, 1.1, 1.0, 0.8, 1.0]
    head = st.columns(widths)
    for col, label in zip(
        head, ["", "No", "Name", "Alias", "Tool", "Targets", "Attrs", "Tags", "Results"], strict=False
    ):
        col.caption(label)
    for cls in classes:
        d = onto.class_to_dict(cls)
        row = st.columns(widths, vertical_alignment="center")
        row[0].markdown(_chip(d["color"]), unsafe_allow_html=True)
        row[1].write(f"**{d['number']}**")
        row[2].text(d["name"])
        row[3].text(d["alias"])
        row[4].text(TOOL_LABELS[d["tool"]])
        row[5].text(describe_targets(d))
        row[6].text(str(len(d.get("attributes", []))) if d["tool"] == "dialog_evaluation" else "–")
        row[7].text(", ".join(d["tags"]))
        row[8].text(f"{counts.get(cls.id, 0):,}")
        row[9].button("Edit", key=f"{K}edit.{cls.id}", on_click=_open_class, args=(d, cls.id))
        row[10].button(
            "Delete", key=f"{K}del.{cls.id}", on_click=S.__setitem__, args=(K + "confirm_delete", cls.id)
        )
        if S.get(K + "confirm_delete") == cls.id:
            n = counts.get(cls.id, 0)
            st.warning(f"Delete class **{d['name']}**? {n} results use it. They are kept, and exports keep "
                       "them under this class's name; the deletion is recorded.")  # fmt: skip
            yes, no = st.columns(2)
            if yes.button("Delete class", key=K + "del.yes", type="primary"):
                S.pop(K + "confirm_delete")
                if _write(onto.delete_class, user=user, class_id=cls.id) is not None:
                    _flash(f"Deleted class {d['name']} ({n} results kept).")
                st.rerun()
            no.button("Cancel", key=K + "del.no", on_click=S.pop, args=(K + "confirm_delete", None))
    if not classes:
        st.info("No classes yet.")
    numbers = [c.number for c in classes]
    st.button(
        "New class", key=K + "new", on_click=_open_class, args=(None, None, max(numbers, default=0) + 1)
    )
    if deleted:
        with st.expander(f"Deleted classes ({len(deleted)})"):
            for cls in deleted:
                a, b = st.columns([4, 1])
                a.text(f"{cls.name} — {counts.get(cls.id, 0)} results kept")
                if b.button("Restore", key=f"{K}restore.{cls.id}"):
                    _write(onto.restore_class, user=user, class_id=cls.id)
                    st.rerun()
    if S.get(K + "edit"):
        class_editor_ui(user, dataset_id)


def attribute_ui(uid: str, i: int, n: int) -> None:
    p = f"{K}a.{uid}."
    _ensure(p, ATTRIBUTE_FORM)
    with st.container(border=True):
        top = st.columns([3, 2, 1.3, 0.5, 0.5, 0.5], vertical_alignment="bottom")
        top[0].text_input("Attribute name", key=p + "name")
        kind = top[1].selectbox("Type", ATTRIBUTE_TYPES, key=p + "type")
        top[2].checkbox("Required", key=p + "required")
        top[3].button("↑", key=p + "up", on_click=_move, args=(K + "attrs", i, -1), disabled=i == 0)
        top[4].button("↓", key=p + "down", on_click=_move, args=(K + "attrs", i, 1), disabled=i == n - 1)
        top[5].button("✕", key=p + "remove", on_click=_remove_attr, args=(uid,), help="Remove this attribute")
        if kind in ("radio", "checkbox"):
            st.text_area("Options, one a line (the order is the hotkey order)", key=p + "options", height=100)
        cols = st.columns(4)
        if kind == "text":
            cols[0].text_input("Max length (blank: none)", key=p + "max_length")
        if kind == "number":
            for col, key in zip(cols, ("min", "max", "step"), strict=False):
                col.text_input(key.capitalize(), key=p + key)
        if kind == "rating":
            cols[0].number_input("Scale 1..N", min_value=2, max_value=10, step=1, key=p + "scale")
        hint = {"checkbox": "Default (comma-separated)"}.get(kind, "Default")
        cols[3].text_input(hint, key=p + "default")


def class_editor_ui(user, dataset_id: int) -> None:  # type: ignore[no-untyped-def]
    c = K + "c."
    editing = S[K + "edit"]
    _ensure(c, CLASS_FORM)
    S.setdefault(K + "attrs", [])
    with st.container(border=True):
        st.subheader("New class" if editing == "new" else f"Edit class {S[c + 'name']}")
        a, b, n, col = st.columns([3, 3, 1, 1])
        a.text_input("Name (used in exports)", key=c + "name")
        b.text_input("Alias (shown to annotators)", key=c + "alias")
        n.number_input("Number", min_value=1, step=1, key=c + "number", help="Unique; its number hotkey")
        # A new picker each time the editor opens: a keyed picker seeded through session state showed black.
        gen = S.get(K + "gen", 0)
        S[c + "color"] = col.color_picker("Color", value=S[c + "color"], key=f"{K}color.{gen}")
        st.text_input("Tags (comma-separated)", key=c + "tags")
        tool = st.radio(
            "Tool", list(TOOL_LABELS), format_func=TOOL_LABELS.get, key=c + "tool", horizontal=True
        )
        if tool == "dialog_evaluation":
            st.radio("Targets", ["bot", "user", "both"], key=c + "targets", horizontal=True)
            uids = S[K + "attrs"]
            for i, uid in enumerate(uids):
                attribute_ui(uid, i, len(uids))
            st.button("Add attribute", key=K + "attr.add", on_click=_add_attr)
        else:
            st.radio("Answer as", ["bot", "user"], key=c + "role", horizontal=True)
            lo, hi = st.columns(2)
            lo.text_input("Min characters", key=c + "min_chars")
            hi.text_input("Max characters", key=c + "max_chars")
            st.text_area("Instruction (shown above the text box)", key=c + "instruction")
        save, cancel = st.columns([1, 5])
        if save.button("Save class", key=K + "save", type="primary") or S.get(K + "confirm_save") == "yes":
            _save_class(user, dataset_id)
        cancel.button("Cancel", key=K + "cancel", on_click=S.pop, args=(K + "edit", None))
        if S.get(K + "confirm_save") == "ask":
            for r in S[K + "removed"]:
                what = (
                    f"option {r['option']!r} of {r['attribute']}"
                    if r["option"]
                    else f"attribute {r['attribute']}"
                )
                st.warning(f"{r['results']} results use {what}; their values are kept as they are.")
            st.button(
                "Save anyway", key=K + "save.yes", on_click=S.__setitem__, args=(K + "confirm_save", "yes")
            )


def _save_class(user, dataset_id: int) -> None:  # type: ignore[no-untyped-def]
    data, renamed = _collected_class()
    editing = S[K + "edit"]
    if editing == "new":
        row = _write(onto.create_class, user=user, dataset_id=dataset_id, data=data)
    else:
        if S.get(K + "confirm_save") != "yes":
            # Compare under the old names: a renamed attribute is not a removed one.
            back = {new: old for old, new in renamed.items()}
            after = {
                **data,
                "attributes": [
                    {**a, "name": back.get(a["name"], a["name"])} for a in data.get("attributes", [])
                ],
            }
            with db.read_session() as session:
                removed = usage.removed_usage(session=session, class_id=editing, data=after)
            if removed:
                S[K + "removed"], S[K + "confirm_save"] = removed, "ask"
                return
        row = _write(onto.update_class, user=user, class_id=editing, data=data, renamed_attributes=renamed)
    S.pop(K + "confirm_save", None)
    if row is not None:
        S.pop(K + "edit", None)
        _flash(f"Saved class {row.name}.")
    st.rerun()


# ---------------------------------------------------------------- classifications


def _open_question(q: dict[str, Any] | None, qid: int | None) -> None:
    S[K + "qedit"] = qid or "new"
    S.pop(K + "qconfirm", None)
    _put(K + "q.", question_form(q))


def _collected_question() -> dict[str, Any]:
    return question_from_form({key: S[K + "q." + key] for key in QUESTION_FORM})


def classifications_ui(user, dataset_id: int, answers: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        questions = onto.list_classifications(session=session, dataset_id=dataset_id)
    widths = [1.5, 2.2, 2, 0.9, 0.9, 1, 0.6, 0.6, 0.8, 1.0]
    if questions:
        for col, label in zip(
            st.columns(widths), ["Name", "Question", "Settings", "Type", "", "Answers"], strict=False
        ):
            col.caption(label)
    for i, row in enumerate(questions):
        d = onto.classification_to_dict(row)
        cols = st.columns(widths, vertical_alignment="center")
        cols[0].text(d["name"])
        cols[1].text(d["title"])
        cols[2].text(describe_classification(d))
        cols[3].text(d["type"])
        cols[4].text("required" if d["required"] else "optional")
        cols[5].text(f"{answers.get(row.id, 0):,}")
        if cols[6].button("↑", key=f"{K}qup.{row.id}", disabled=i == 0):
            _write(onto.move_classification, user=user, classification_id=row.id, step=-1)
            st.rerun()
        if cols[7].button("↓", key=f"{K}qdown.{row.id}", disabled=i == len(questions) - 1):
            _write(onto.move_classification, user=user, classification_id=row.id, step=1)
            st.rerun()
        cols[8].button("Edit", key=f"{K}qedit.{row.id}", on_click=_open_question, args=(d, row.id))
        cols[9].button(
            "Delete", key=f"{K}qdel.{row.id}", on_click=S.__setitem__, args=(K + "qdelete", row.id)
        )
        if S.get(K + "qdelete") == row.id:
            st.warning(f"Delete classification **{d['name']}**? {answers.get(row.id, 0)} annotations answer it; "
                       "their answers are kept and the deletion is recorded.")  # fmt: skip
            yes, no = st.columns(2)
            if yes.button("Delete classification", key=K + "qdel.yes", type="primary"):
                S.pop(K + "qdelete")
                if _write(onto.delete_classification, user=user, classification_id=row.id) is not None:
                    _flash(f"Deleted classification {d['name']} (answers kept).")
                st.rerun()
            no.button("Cancel", key=K + "qdel.no", on_click=S.pop, args=(K + "qdelete", None))
    if not questions:
        st.info("No classifications yet.")
    st.button("New classification", key=K + "qnew", on_click=_open_question, args=(None, None))
    if S.get(K + "qedit"):
        question_editor_ui(user, dataset_id)


def question_editor_ui(user, dataset_id: int) -> None:  # type: ignore[no-untyped-def]
    p = K + "q."
    _ensure(p, QUESTION_FORM)
    with st.container(border=True):
        st.subheader(
            "New classification" if S[K + "qedit"] == "new" else f"Edit classification {S[p + 'name']}"
        )
        a, b, c = st.columns([2, 3, 2])
        a.text_input("Classification name", key=p + "name")
        b.text_input("Question shown to annotators", key=p + "title")
        kind = c.selectbox("Question type", CLASSIFICATION_TYPES, key=p + "type")
        if kind in ("radio", "checkbox"):
            st.text_area("Options, one a line", key=p + "options", height=100)
        if kind == "ranking":
            st.checkbox("Ties allowed", key=p + "allow_ties")
        if kind == "pairwise":
            st.checkbox("Tie allowed", key=p + "allow_tie")
            st.text_area("Strengths, weakest first", key=p + "strengths", height=100)
        st.checkbox("Required", key=p + "required")
        if (
            st.button("Save classification", key=K + "qsave", type="primary")
            or S.get(K + "qconfirm") == "yes"
        ):
            data, editing = _collected_question(), S[K + "qedit"]
            if editing != "new" and S.get(K + "qconfirm") != "yes":
                with db.read_session() as session:
                    removed = usage.removed_answer_usage(
                        session=session, classification_id=editing, data=data
                    )
                if removed:
                    S[K + "qremoved"], S[K + "qconfirm"] = removed, "ask"
                    st.rerun()
            S.pop(K + "qconfirm", None)
            if editing == "new":
                row = _write(onto.create_classification, user=user, dataset_id=dataset_id, data=data)
            else:
                row = _write(onto.update_classification, user=user, classification_id=editing, data=data)
            if row is not None:
                S.pop(K + "qedit", None)
                _flash(f"Saved classification {row.name}.")
            st.rerun()
        if S.get(K + "qconfirm") == "ask":
            for r in S[K + "qremoved"]:
                st.warning(
                    f"{r['answers']} annotations chose option {r['option']!r}; their answers are kept."
                )
            st.button(
                "Save anyway", key=K + "qsave.yes", on_click=S.__setitem__, args=(K + "qconfirm", "yes")
            )
        st.button("Cancel", key=K + "qcancel", on_click=S.pop, args=(K + "qedit", None))


# ---------------------------------------------------------------- guidelines, JSON, copy


def guidelines_ui(user, dataset) -> None:  # type: ignore[no-untyped-def]
    key = f"{K}guidelines.{dataset.id}"
    S.setdefault(key, dataset.guidelines or "")
    text = st.text_area("Guidelines (markdown, shown on the tool pages)", key=key, height=260)
    if st.button("Save guidelines", key=K + "guidelines.save"):
        if _write(onto.set_guidelines, user=user, dataset_id=dataset.id, text=text):
            _flash("Saved the guidelines.")
        st.rerun()
    with st.expander("Preview"):
        st.markdown(text)


def _load(user, dataset_id: int, label: str, data: Any, mode: str) -> None:  # type: ignore[no-untyped-def]
    """Import `data`, or first ask when it would take away something results use."""
    if S.get(K + "pending", {}).get("label") != label:
        with db.read_session() as session:
            losses = usage.import_losses(session=session, dataset_id=dataset_id, data=data, mode=mode)
        if losses:
            S[K + "pending"] = {"label": label, "data": data, "mode": mode, "losses": losses}
            return
    S.pop(K + "pending", None)
    summary = _write(onto.import_ontology, user=user, dataset_id=dataset_id, data=data, mode=mode)
    if summary is not None:
        _flash(f"Imported {label}: {summary['created']} classes created, {summary['updated']} updated, "
               f"{summary['deleted']} deleted." + "".join(f"\n\n⚠️ {w}" for w in summary["warnings"]))  # fmt: skip


def json_ui(user, dataset, others: list) -> None:  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        data = onto.export_ontology(session=session, dataset_id=dataset.id)
    st.download_button(
        "Download ontology JSON",
        json.dumps(data, indent=2, ensure_ascii=False),
        file_name=f"{dataset.name}-ontology.json",
        mime="application/json",
        key=K + "download",
    )
    mode = st.radio("When importing or copying", ["replace", "merge"], key=K + "mode", horizontal=True,
                    format_func={"replace": "Replace: classes not in the file are deleted (results kept)",
                                 "merge": "Merge: keep classes the file does not name"}.get)  # fmt: skip
    upload = st.file_uploader("Upload ontology JSON", type=["json"], key=K + "upload")
    if upload is not None and st.button("Import ontology", key=K + "import"):
        try:
            incoming = json.loads(upload.getvalue().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            S[K + "error"] = f"{upload.name}: not valid JSON ({exc})"
            st.rerun()
        _load(user, dataset.id, upload.name, incoming, mode)
        st.rerun()
    if others:
        source = st.selectbox(
            "Copy the ontology from", others, format_func=lambda d: d.name, key=K + "copy.from"
        )
        if st.button("Copy ontology", key=K + "copy"):
            with db.read_session() as session:
                incoming = onto.export_ontology(session=session, dataset_id=source.id)
            _load(user, dataset.id, f"the ontology of {source.name}", incoming, mode)
            st.rerun()
    pending = S.get(K + "pending")
    if pending:
        st.warning("This would take away what results use (the results themselves are kept):\n\n"
                   + "\n".join(f"- {line}" for line in pending["losses"]))  # fmt: skip
        yes, no = st.columns(2)
        if yes.button("Import anyway", key=K + "import.yes", type="primary"):
            _load(user, dataset.id, pending["label"], pending["data"], pending["mode"])
            st.rerun()
        no.button("Cancel", key=K + "import.no", on_click=S.pop, args=(K + "pending", None))


@st.cache_data(max_entries=32, show_spinner=False)
def _usage(url: str, dataset_id: int, changed: tuple[Any, ...]) -> tuple[dict[int, int], dict[int, int]]:
    """The dataset's results per class and annotations answering each classification, kept per database while
    the dataset's change key stands (store.items.change_keys: every change to an annotation or to the ontology
    appends a history entry). The answers are read from every annotation's JSON: ~2 s a run at 1M items."""
    with db.read_session() as session:
        return (
            usage.result_counts(session=session, dataset_id=dataset_id),
            usage.answer_counts(session=session, dataset_id=dataset_id),
        )


def _close_editors() -> None:
    for key in ("edit", "qedit", "pending", "confirm_delete", "qdelete"):
        S.pop(K + key, None)


# ---------------------------------------------------------------- the page

user = require_role("admin")
st.title("Ontology")
with db.read_session() as session:
    datasets = list_datasets(session=session, user=user)
if not datasets:
    st.info("No datasets yet: create one on the Datasets page.")
    st.stop()
names = [d.name for d in datasets]
if S.get(K + "dataset") not in names:
    wanted = st.query_params.get("dataset")
    S[K + "dataset"] = wanted if wanted in names else names[0]
st.selectbox("Dataset", names, key=K + "dataset", on_change=_close_editors)
dataset = datasets[names.index(S[K + "dataset"])]
# Messages in a slot that is there on every run (as the Datasets page's import report): had they come and gone,
# the tabs below would stand at another place and the browser would draw them anew on the first tab.
notices = st.container()
if S.get(K + "flash"):
    notices.success(S.pop(K + "flash"))
if S.get(K + "error"):
    notices.error(S.pop(K + "error"))
with db.read_session() as session:
    problems = onto.check_ontology(
        session=session,
        dataset_id=dataset.id,
        data=onto.export_ontology(session=session, dataset_id=dataset.id),
    )
    changed = change_keys(session, [dataset.id]).get(dataset.id, ())
for problem in problems:
    notices.warning(str(problem))
results_per_class, answers_per_question = _usage(db.database_url(), dataset.id, changed)
tabs = st.tabs(["Classes", "Classifications", "Guidelines", "Import / export"])
with tabs[0]:
    classes_ui(user, dataset.id, results_per_class)
with tabs[1]:
    classifications_ui(user, dataset.id, answers_per_question)
with tabs[2]:
    guidelines_ui(user, dataset)
with tabs[3]:
    json_ui(user, dataset, [d for d in datasets if d.id != dataset.id])
