"""The History panel: every change to an item's annotations, oldest first (store/team/history.py)."""

from __future__ import annotations

import streamlit as st

from store import db
from store.models import User
from store.team.history import item_history


def history_ui(user: User, item_id: int) -> None:
    """An expander with the item's history: when, who, what, whose annotation, the reason given."""
    with db.read_session() as session:
        entries = item_history(session=session, user=user, item_id=item_id)
    with st.expander(f"History ({len(entries)})"):
        if not entries:
            st.caption("Nothing recorded yet.")
            return
        rows = [
            {
                "When": entry.at.strftime("%Y-%m-%d %H:%M:%S"),
                "Who": entry.by,
                "What": entry.label,
                "Annotator": entry.annotator,
                "Reason": str(entry.detail.get("reason") or ""),
            }
            for entry in entries
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
