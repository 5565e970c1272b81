"""Report (admins, reviewers): one dataset's pilot report — progress, agreement, model win rates and the
annotators' pace — with the filters shared with Export, and the same report as an offline HTML file."""

from __future__ import annotations

import streamlit as st

from components.auth import require_role
from components.report import (
    agreement_ui,
    annotators_ui,
    cached_report,
    download_ui,
    filters_ui,
    models_ui,
    progress_ui,
)
from core.report.html import charts
from store import db
from store.datasets import list_datasets
from store.errors import InputError, NotFound
from store.export_filters import dataset_annotators

user = require_role("admin", "reviewer")
st.title("Report")

with db.read_session() as session:
    datasets = list_datasets(session=session, user=user)
if not datasets:
    st.info("No datasets yet. Create one and import dialogues on the Datasets page.")
    st.stop()

names = [d.name for d in datasets]
wanted = st.query_params.get("dataset")
name = st.selectbox(
    "Dataset", names, index=names.index(wanted) if wanted in names else 0, key="report.dataset"
)
dataset = next(d for d in datasets if d.name == name)
with db.read_session() as session:
    people = dataset_annotators(session=session, dataset_id=dataset.id)
filters = filters_ui(people, dataset_id=dataset.id, user=user)

try:
    report = cached_report(user.id, dataset.id, filters)
except (InputError, NotFound) as exc:
    st.warning(str(exc))
    st.stop()

made = charts(report)
download_ui(report)
progress_ui(report, made)
agreement_ui(report, made)
models_ui(report, made)
annotators_ui(report)
