"""A test-only app that draws components.rank_list with three rows (never routed by app.py; no sign-in)."""

import streamlit as st

from components.rank_list import last_drop, rank_list

ROWS = [
    {"id": 0, "label": "Candidate A", "sub": "gpt-4", "hint": "Paris is the capital of France. It has been the seat of government since the tenth century and more."},
    {"id": 1, "label": "Candidate B", "sub": "", "hint": "I think it is Lyon, but I am not sure."},
    {"id": 2, "label": "Candidate C", "sub": "claude-" + "-".join(["long-deployment-name"] * 12), "hint": "<b>not bold</b> & the capital is Paris"},
]  # fmt: skip

st.session_state.setdefault("order", [int(x) for x in st.query_params.get("order", "0,1,2").split(",") if x])
st.session_state.setdefault("changes", 0)


def _changed() -> None:
    st.session_state.changes += 1
    st.session_state.seen_in_callback = last_drop("ranks")


def _reverse() -> None:
    """Another widget setting ranks (like the page's number keys)."""
    st.session_state.order = list(reversed(st.session_state.order))


view = st.toggle("View", key="view")
st.button("Reverse", on_click=_reverse)
st.subheader("Rank the replies")
# ?ranks=1,1,3: the rank shown on each ranked row, in order (a tie shares one), while nothing was dropped.
shown_ranks = [int(x) for x in st.query_params.get("ranks", "").split(",") if x]
ranks = (
    dict(zip(st.session_state.order, shown_ranks, strict=False))
    if shown_ranks and not st.session_state.changes
    else None
)
new = rank_list(
    key="ranks", rows=ROWS, order=st.session_state.order, disabled=view, ranks=ranks, on_change=_changed
)
if new is not None:
    st.session_state.order = new
st.text(f"order: {st.session_state.order}")
st.text(f"changes: {st.session_state.changes}")
st.text(f"callback saw: {st.session_state.get('seen_in_callback')}")
