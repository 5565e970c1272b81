"""The item filter form (core/filters.py's ItemFilter) with the dataset's saved filters: pick one, save the
form under a name, delete one. The Datasets page, Export and the report draw it; the tool pages' "Show"
menu offers the saved filters and the one handed over by the Datasets page's "Annotate these".

Who gets what: everyone who may see the dataset may use its saved filters; admins and reviewers save and
delete them. On the tool pages annotators keep their own menu (My queue, Submitted by me): the queue hands
out items by overlap with leases, and a filter walking past it would hand out items the queue keeps for
others. Reviewers and admins find the saved filters and the handed-over one in "Show".
"""

from __future__ import annotations

import html
import time
from typing import Any

import streamlit as st

from core.dialogue import dialogue_text
from core.filters import STATUSES, FilterError, ItemFilter
from core.search import marked_html
from store import db
from store.errors import Forbidden, InputError, NotFound
from store.export_filters import dataset_annotators
from store.models import Item, User
from store.ontology import list_classes, list_classifications
from store.saved_filters import delete_filter, get_filter, list_filters, save_filter

ANY = "(any)"
FIELDS = ("status", "annotators", "label", "attribute", "value", "question", "answer", "validity", "comments",
          "disagree", "models", "imported_from", "imported_to")  # fmt: skip
COMMENTS = {ANY: None, "has comments": True, "no comments": False}
_TTL = 30.0
HANDED = "handed"  # the tool pages' "Show" value of the filter the Datasets page handed over
SAVED = "saved:"  # … and the prefix of a saved filter's


def _choices(key: str, dataset_id: int) -> dict[str, Any]:
    """Names the form offers (annotators, classes with their attributes, classifications), kept 30 s."""
    cache = st.session_state.get(f"{key}.choices")
    now = time.monotonic()
    if cache and cache[0] == dataset_id and now - cache[1] < _TTL:
        return cache[2]
    with db.read_session() as session:
        found = {
            "annotators": dataset_annotators(session=session, dataset_id=dataset_id),
            "classes": {
                c.name: [a.get("name") for a in c.attributes or []]
                for c in list_classes(session=session, dataset_id=dataset_id)
            },  # fmt: skip
            "questions": [q.name for q in list_classifications(session=session, dataset_id=dataset_id)],
        }
    st.session_state[f"{key}.choices"] = (dataset_id, now, found)
    return found


def saved_names(dataset_id: int, user: User) -> list[str]:
    with db.read_session() as session:
        return [f.name for f in list_filters(session=session, user=user, dataset_id=dataset_id)]


def load_saved(dataset_id: int, user: User, name: str) -> ItemFilter | None:
    try:
        with db.read_session() as session:
            return get_filter(session=session, user=user, dataset_id=dataset_id, name=name)
    except (NotFound, InputError):
        return None


def saved_pick_ui(*, dataset_id: int, user: User, key: str, label: str = "Items") -> ItemFilter | None:
    """A select of the dataset's saved filters (Export's and the report's "Items"); the chosen one's filter,
    None for all items."""
    names = saved_names(dataset_id, user)
    choice = st.selectbox(label, [None, *names], key=f"{key}.{dataset_id}",
                          format_func=lambda n: "All items" if n is None else f"Saved: {n}",
                          help="Only the items a saved filter selects (saved on the Datasets page)")  # fmt: skip
    if choice is None:
        return None
    flt = load_saved(dataset_id, user, choice)
    if flt is None:
        st.warning(f"The saved filter “{choice}” cannot be read any more: all items are shown.")
    return flt


def _fill(key: str, flt: ItemFilter) -> None:
    """Put a filter into the form's widgets."""
    st.session_state[f"{key}.status"] = list(flt.status)
    st.session_state[f"{key}.annotators"] = list(flt.annotators)
    st.session_state[f"{key}.label"] = flt.label or ANY
    st.session_state[f"{key}.attribute"] = flt.attribute or ANY
    st.session_state[f"{key}.value"] = flt.value
    st.session_state[f"{key}.question"] = flt.question or ANY
    st.session_state[f"{key}.answer"] = flt.answer
    st.session_state[f"{key}.validity"] = flt.validity or ANY
    st.session_state[f"{key}.comments"] = next(k for k, v in COMMENTS.items() if v == flt.comments)
    st.session_state[f"{key}.disagree"] = flt.disagree
    st.session_state[f"{key}.models"] = list(flt.models)
    st.session_state[f"{key}.imported_from"] = flt.imported_from
    st.session_state[f"{key}.imported_to"] = flt.imported_to


def _pick_saved(key: str, dataset_id: int, user: User) -> None:
    name = st.session_state.get(f"{key}.saved")
    flt = load_saved(dataset_id, user, name) if name and name != ANY else ItemFilter()
    if flt is not None:
        _fill(key, flt)
        st.session_state[f"{key}.save_name"] = name if name != ANY else ""


def _read(key: str) -> ItemFilter:
    state = st.session_state
    raw = {
        "status": state.get(f"{key}.status") or [],
        "annotators": state.get(f"{key}.annotators") or [],
        "label": "" if state.get(f"{key}.label", ANY) == ANY else state[f"{key}.label"],
        "attribute": "" if state.get(f"{key}.attribute", ANY) == ANY else state[f"{key}.attribute"],
        "value": state.get(f"{key}.value") or "",
        "question": "" if state.get(f"{key}.question", ANY) == ANY else state[f"{key}.question"],
        "answer": state.get(f"{key}.answer") or "",
        "validity": "" if state.get(f"{key}.validity", ANY) == ANY else state[f"{key}.validity"],
        "comments": COMMENTS.get(state.get(f"{key}.comments", ANY)),
        "disagree": bool(state.get(f"{key}.disagree")),
        "models": state.get(f"{key}.models") or [],
        "imported_from": state.get(f"{key}.imported_from"),
        "imported_to": state.get(f"{key}.imported_to"),
    }
    if not raw["attribute"]:
        raw["value"] = ""
    if not raw["question"]:
        raw["answer"] = ""
    return ItemFilter.from_dict(raw)


def filter_ui(*, dataset_id: int, user: User, key: str, search: str = "") -> ItemFilter:
    """The filter form in an expander (saved filters first); returns the filter it shows (with `search`).

    A form that does not make a filter (an attribute without its class …) says why and filters nothing.
    """
    key = f"{key}.{dataset_id}"
    choices = _choices(key, dataset_id)
    names = saved_names(dataset_id, user)
    try:
        current = _read(key)
    except FilterError:
        current = ItemFilter()
    label = "Filters" + (f" · {current.describe()}" if not current.is_empty() else "")
    with st.expander(label, expanded=not current.is_empty()):
        st.selectbox("Saved filter", [ANY, *names], key=f"{key}.saved", on_change=_pick_saved,
                     args=(key, dataset_id, user), help="Filters saved for this dataset")  # fmt: skip
        a, b, c = st.columns(3)
        a.multiselect("Status", STATUSES, key=f"{key}.status",
                      help="untouched: no annotation (by the chosen annotators); draft: draft or saved")  # fmt: skip
        b.multiselect("Annotator", choices["annotators"], key=f"{key}.annotators",
                      help="With a status or class: the same annotation")  # fmt: skip
        c.multiselect("Model of a candidate", [], key=f"{key}.models", accept_new_options=True,
                      help="Type a model name and press Enter")  # fmt: skip
        a, b, c = st.columns(3)
        cls = a.selectbox("Class", [ANY, *choices["classes"]], key=f"{key}.label")
        attributes = choices["classes"].get(cls, []) if cls != ANY else []
        if st.session_state.get(f"{key}.attribute", ANY) not in [ANY, *attributes]:
            st.session_state[f"{key}.attribute"] = ANY
        attribute = b.selectbox("Attribute", [ANY, *attributes], key=f"{key}.attribute", disabled=cls == ANY)
        c.text_input("Value", key=f"{key}.value", disabled=attribute == ANY)
        a, b, c = st.columns(3)
        question = a.selectbox("Classification", [ANY, *choices["questions"]], key=f"{key}.question")
        b.text_input("Answer", key=f"{key}.answer", disabled=question == ANY,
                     help="radio/text: the answer; checkbox: one option; ranking: the first (A, B …); pairwise: "
                          "the chosen candidate or tie")  # fmt: skip
        c.selectbox("Validity", [ANY, "valid", "invalid"], key=f"{key}.validity")
        a, b, c, d = st.columns(4)
        a.selectbox("Comments", list(COMMENTS), key=f"{key}.comments")
        b.date_input("Imported from", value=None, key=f"{key}.imported_from")
        c.date_input("Imported to", value=None, key=f"{key}.imported_to")
        d.checkbox("Annotators disagree", key=f"{key}.disagree",
                   help="Two or more submitted annotations that differ in a result or an answer")  # fmt: skip
        try:
            flt = _read(key)
        except FilterError as err:
            st.error(str(err))
            flt = ItemFilter()
        if user.role in ("admin", "reviewer"):
            _save_ui(key, dataset_id, user, flt, names)
    if search.strip():
        flt = ItemFilter.from_dict({**flt.to_dict(), "search": search})
    return flt


def _save_ui(key: str, dataset_id: int, user: User, flt: ItemFilter, names: list[str]) -> None:
    a, b, c = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = a.text_input("Save as", key=f"{key}.save_name", placeholder="a name for this filter")
    if b.button("Save filter", key=f"{key}.save", disabled=not name.strip() or flt.is_empty()):
        try:
            with db.write_session() as session:
                save_filter(session=session, user=user, dataset_id=dataset_id, name=name, flt=flt)
            st.toast(f"Saved filter “{name.strip()}”.")
        except (InputError, Forbidden) as err:
            st.error(str(err))
    chosen = st.session_state.get(f"{key}.saved", ANY)
    if c.button("Delete saved", key=f"{key}.delete", disabled=chosen in (ANY, None) or chosen not in names):
        try:
            with db.write_session() as session:
                delete_filter(session=session, user=user, dataset_id=dataset_id, name=chosen)
            st.session_state.pop(f"{key}.saved", None)
            st.rerun()
        except (NotFound, Forbidden) as err:
            st.error(str(err))


def hand_over(kind: str, dataset_id: int, flt: ItemFilter) -> None:
    """ "Annotate these": the tool page `kind` opens this dataset with `flt` as its "Show" choice."""
    st.session_state[f"tool.{kind}.handed"] = (dataset_id, flt.to_dict())
    st.session_state[f"tool.{kind}.dataset_id"] = dataset_id
    st.session_state[f"tool.{kind}.item_id"] = None
    st.session_state[f"tool.{kind}.filter"] = HANDED


def show_choices(kind: str, user: User, dataset_id: int) -> list[str]:
    """The tool page's extra "Show" values for this dataset: the handed-over filter and the saved ones."""
    if user.role == "annotator":
        return []
    out = []
    handed = st.session_state.get(f"tool.{kind}.handed")
    if handed and handed[0] == dataset_id:
        out.append(HANDED)
    cache = st.session_state.get(f"tool.{kind}.saved_names")
    now = time.monotonic()
    if not (cache and cache[0] == dataset_id and now - cache[1] < _TTL):
        cache = (dataset_id, now, saved_names(dataset_id, user))
        st.session_state[f"tool.{kind}.saved_names"] = cache
    return out + [SAVED + name for name in cache[2]]


def show_label(kind: str, choice: str) -> str | None:
    """The menu's label for one of show_choices' values; None for any other value."""
    if choice == HANDED:
        handed = st.session_state.get(f"tool.{kind}.handed")
        return "From Datasets: " + (ItemFilter.from_dict(handed[1]).describe() if handed else "")
    if choice.startswith(SAVED):
        return "Saved: " + choice.removeprefix(SAVED)
    return None


def show_filter(kind: str, user: User, dataset_id: int, choice: str) -> ItemFilter | None:
    """The ItemFilter behind a "Show" value (None for the status filters), read once per choice."""
    if choice != HANDED and not choice.startswith(SAVED):
        return None
    cached = st.session_state.get(f"tool.{kind}.flt")
    if cached and cached[:2] == (dataset_id, choice):
        return cached[2]
    if choice == HANDED:
        handed = st.session_state.get(f"tool.{kind}.handed")
        flt = ItemFilter.from_dict(handed[1]) if handed and handed[0] == dataset_id else ItemFilter()
    else:
        flt = load_saved(dataset_id, user, choice.removeprefix(SAVED)) or ItemFilter()
    st.session_state[f"tool.{kind}.flt"] = (dataset_id, choice, flt)
    return flt


def tool_of(session: Any, dataset_id: int) -> str:
    """ "respond" when every class of the dataset's ontology is a response class, else "evaluate"."""
    classes = list_classes(session=session, dataset_id=dataset_id)
    return "respond" if classes and all(c.tool == "dialog_response" for c in classes) else "evaluate"


MATCHES_CSS = """<style>
table.parley-matches { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
table.parley-matches td { padding: 4px 8px; border-bottom: 1px solid rgba(128,128,128,.2); vertical-align: top; }
table.parley-matches td:first-child { white-space: nowrap; color: #666; width: 1%; }
table.parley-matches mark { background: #ffe066; padding: 0 1px; border-radius: 2px; }
</style>"""


def matches_table(found: list[Item], query: str) -> str:
    """The page of items as an HTML table: id, and the text round the first match with the query's words
    marked (core/search.py escapes the text)."""
    rows = "".join(
        f"<tr><td>{html.escape(i.external_id)}</td>"
        f"<td>{marked_html(dialogue_text(i.messages, i.candidates), query)}</td></tr>"
        for i in found
    )
    return f'{MATCHES_CSS}<table class="parley-matches"><tbody>{rows}</tbody></table>'
