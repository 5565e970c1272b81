"""The Datasets page's team settings form: overlap, review (off / all / sample %), reject reasons."""

from __future__ import annotations

import streamlit as st

from store import db
from store.errors import Forbidden, InputError, NotFound
from store.models import Dataset, User
from store.team.settings import configure_dataset, team_settings

REVIEW = {"off": "Off", "all": "Every submission", "sample": "A sample"}


def team_settings_ui(user: User, dataset_id: int) -> None:
    """Edit and save a dataset's team settings (admins; the store checks the role again)."""
    with db.read_session() as session:
        dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return
    now = team_settings(dataset)
    p = f"datasets.team.{dataset_id}"
    with st.form(p):
        st.markdown("**Team workflow**")
        everyone = st.checkbox(
            "Every annotator annotates every item",
            value=now.overlap is None,
            key=f"{p}.all",
            help="Overlap “all”: each item needs a submission from every annotator who may open the dataset.",
        )
        overlap = st.number_input(
            "Annotators per item (overlap)", min_value=1, max_value=100, value=now.overlap or 1, step=1,
            key=f"{p}.overlap", help="Ignored when every annotator annotates every item.",
        )  # fmt: skip
        review = st.radio("Review", list(REVIEW), index=list(REVIEW).index(now.review), format_func=REVIEW.get,
                          horizontal=True, key=f"{p}.review")  # fmt: skip
        percent = st.number_input(
            "Sample size (% of submissions)", min_value=1.0, max_value=100.0, step=5.0,
            value=float(now.sample) if now.review == "sample" else 20.0, key=f"{p}.sample",
            help="Used when Review is “A sample”.",
        )  # fmt: skip
        reasons = st.text_area("Reject reasons (one per line)", value="\n".join(now.reject_reasons), height=120,
                               key=f"{p}.reasons")  # fmt: skip
        if not st.form_submit_button("Save team settings"):
            return
    try:
        with db.write_session() as session:
            saved = configure_dataset(
                session=session, user=user, dataset_id=dataset_id,
                overlap="all" if everyone else int(overlap),
                review=f"sample:{percent:g}" if review == "sample" else review,
                reject_reasons=[line for line in reasons.splitlines() if line.strip()],
            )  # fmt: skip
    except (Forbidden, InputError, NotFound) as exc:
        st.error(str(exc))
        return
    st.toast(f"Team settings saved: overlap {saved.overlap_text}, review {saved.review_text}.")
