"""The Datasets page's Duplicates tab: near-duplicate groups of a dataset's items, computed on request."""

from __future__ import annotations

import time

import streamlit as st

from core.neardup import DEFAULT_THRESHOLD
from store import db
from store.duplicates import duplicate_groups
from store.items import DatasetStats
from store.models import User

OVER = {"prompt": "Prompt (the messages)", "dialogue": "Whole dialogue (with the candidates)"}
SHOWN = 50  # groups listed; the CLI writes them all
MEMBERS_SHOWN = 20  # items listed in a group


def duplicates_ui(ds: DatasetStats, user: User) -> None:
    """Threshold and prompt/dialogue choice, a Find button, and the last result for this dataset (kept in
    the session until the next Find; an import changes nothing shown until then)."""
    p = f"duplicates.{ds.id}"
    left, right = st.columns([1, 1])
    threshold = left.slider("Similarity at least", 0.5, 1.0, DEFAULT_THRESHOLD, 0.05, key=f"{p}.threshold",
                            help="Jaccard similarity of the words (Chinese and Japanese: of character pairs); "
                            "1.0 finds the same text up to case, punctuation and spacing.")  # fmt: skip
    over = right.radio("Compare", list(OVER), format_func=OVER.get, key=f"{p}.over")
    if st.button("Find duplicates", key=f"{p}.find"):
        started = time.monotonic()
        with st.spinner(f"Comparing {ds.items:,} items…"), db.read_session() as session:
            groups = duplicate_groups(
                session=session, user=user, dataset_id=ds.id, threshold=threshold, over=over
            )
        st.session_state[p] = (threshold, over, groups, time.monotonic() - started)
    found = st.session_state.get(p)
    if found is None:
        st.caption("Near-duplicate items: found with MinHash and checked exactly. Press Find duplicates.")
        return
    threshold, over, groups, seconds = found
    items = sum(len(g.members) for g in groups)
    st.markdown(f"**{len(groups):,} group{'' if len(groups) == 1 else 's'}** ({items:,} items) with {over} similarity ≥ {threshold:.2f} "
                f"· found in {seconds:.1f} s")  # fmt: skip
    if not groups:
        st.info("No duplicates at this threshold.")
    for n, group in enumerate(groups[:SHOWN], start=1):
        with st.container(border=True):
            st.markdown(f"**Group {n}** · {len(group.members)} items · similarity {group.similarity:.2f}")
            # (a plain table: its ids can be read, selected and copied, which the canvas grid's cannot)
            st.table(
                [{"id": m.external_id, "similarity": f"{m.similarity:.2f}", "prompt": m.text}
                 for m in group.members[:MEMBERS_SHOWN]]
            )  # fmt: skip
            if len(group.members) > MEMBERS_SHOWN:
                more = len(group.members) - MEMBERS_SHOWN
                st.caption(f"and {more:,} more item{'' if more == 1 else 's'}: `python -m store duplicates "
                           f"{ds.name} --out FILE` writes them all")  # fmt: skip
    if len(groups) > SHOWN:
        st.caption(f"The first {SHOWN} of {len(groups):,} groups; `python -m store duplicates {ds.name} --out "
                   "FILE` writes them all.")  # fmt: skip
