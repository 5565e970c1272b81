"""The report's figures for the page, cached: keyed on the dataset, the filters and the dataset's last
change (one cheap query), so a second visit to an unchanged dataset answers from the cache."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import streamlit as st

from store import db
from store.access import visible_dataset
from store.cli.operator import cli_admin
from store.errors import NotFound
from store.models import User
from store.report import ReportFilters, last_change, report_data
from store.team.history import require_reviewer


def cached_report(user_id: int, dataset_id: int, filters: ReportFilters) -> dict[str, Any]:
    """The report of `dataset_id` for the user (checked on every call; the figures are the same for every
    admin and reviewer who may see the dataset, so the cache is shared)."""
    with db.read_session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id}: not found")
        require_reviewer(user)
        visible_dataset(session=session, user=user, dataset_id=dataset_id)
        key = last_change(session=session, dataset_id=dataset_id)
    today = datetime.now(UTC).date()
    return _report(
        dataset_id,
        filters.status,
        filters.annotators,
        filters.since,
        filters.until,
        filters.items,
        key,
        today,
    )


@st.cache_data(max_entries=16, show_spinner="Computing the report…")
def _report(
    dataset_id: int,
    status: str,
    annotators: tuple[str, ...],
    since: date | None,
    until: date | None,
    items: str,
    changed: tuple[Any, ...],  # part of the cache key only (a parameter named _x would not be)
    today: date,
) -> dict[str, Any]:
    filters = ReportFilters(status=status, annotators=annotators, since=since, until=until, items=items)
    with db.read_session() as session:
        return report_data(
            session=session, user=cli_admin(), dataset_id=dataset_id, filters=filters, today=today
        )
