"""Review (reviewers, admins): the stream of submitted annotations to accept, reject or fix, and adjudication
of items several annotators answered. `/review?dataset=NAME&item=ID&annotator=USERNAME` opens one annotation."""

from __future__ import annotations

import streamlit as st

from components.auth import require_role
from components.review import adjudicate_ui, current_key, extra_key, load_ontology, review_ui
from store import db
from store.datasets import list_datasets
from store.errors import NotFound
from store.models import Dataset
from store.queue import item_by_external_id
from store.team.review import find_annotation

MODES = ["Review", "Adjudicate"]
LINK = "review.link"  # the query string last applied as a deep link
SYNCED = "review.synced"  # the query string the page itself last wrote

user = require_role("admin", "reviewer")
st.title("Review")


def _link() -> tuple[str | None, ...]:
    params = st.query_params
    return tuple(params.get(k) for k in ("dataset", "item", "annotator", "view"))


def apply_deep_link(datasets: list[Dataset]) -> None:
    """A query string the page did not write itself is a link to open (once)."""
    link = _link()
    name, external, annotator, view = link
    if not name or link in (st.session_state.get(LINK), st.session_state.get(SYNCED)):
        return
    st.session_state[LINK] = link
    dataset = next((d for d in datasets if d.name == name), None)
    if dataset is None:
        st.warning(f"Dataset {name!r} not found.")
        return
    st.session_state["review.dataset"] = dataset.name
    st.session_state["review.mode"] = "Adjudicate" if view == "adjudicate" else "Review"
    try:
        with db.read_session() as session:
            if view == "adjudicate" and external:
                item = item_by_external_id(
                    session=session, user=user, dataset_id=dataset.id, external_id=external
                )
                st.session_state[f"review.adj.item.{dataset.id}"] = item.id
            elif external and annotator:
                found = find_annotation(session=session, user=user, dataset_id=dataset.id,
                                        external_id=external, annotator=annotator)  # fmt: skip
                st.session_state[current_key(dataset.id)] = found
                st.session_state[extra_key(dataset.id)] = found
    except NotFound as exc:
        st.warning(str(exc))


def sync_query(params: dict[str, str]) -> None:
    """Keep the address bar on what is shown, so it can be copied and sent to someone."""
    link = tuple(params.get(k) for k in ("dataset", "item", "annotator", "view"))
    if _link() != link:
        st.query_params.from_dict(params)
    st.session_state[SYNCED] = link


def _mode_changed() -> None:
    # A segmented control can be clicked off; the view stays where it was.
    if st.session_state.get("review.mode") is None:
        st.session_state["review.mode"] = st.session_state.get("review.mode_last", MODES[0])
    st.session_state["review.mode_last"] = st.session_state["review.mode"]


with db.read_session() as session:
    datasets = list_datasets(session=session, user=user)
if not datasets:
    st.info("No datasets yet. Create one and import dialogues on the Datasets page.")
    st.stop()
apply_deep_link(datasets)
names = [d.name for d in datasets]
if st.session_state.get("review.dataset") not in names:
    st.session_state["review.dataset"] = names[0]
st.session_state.setdefault("review.mode", MODES[0])
pick, mode_col = st.columns([2, 3], vertical_alignment="bottom")
name = pick.selectbox("Dataset", names, key="review.dataset")
mode = mode_col.segmented_control("View", MODES, key="review.mode", on_change=_mode_changed) or MODES[0]
dataset = next(d for d in datasets if d.name == name)
onto = load_ontology(dataset.id)

if mode == "Adjudicate":
    external = adjudicate_ui(user, dataset, onto)
    params = {"dataset": dataset.name, "view": "adjudicate"}
    sync_query(params | ({"item": external} if external else {}))
else:
    under = review_ui(user, dataset, onto)
    params = {"dataset": dataset.name}
    if under is not None:
        params |= {"item": under.item.external_id, "annotator": under.annotator}
    sync_query(params)
