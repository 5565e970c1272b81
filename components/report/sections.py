"""The Report page's sections: the filters, Progress, Agreement, Models, Annotators, and the download."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from components.item_filter import saved_pick_ui
from core.report import html as rh
from store.models import User
from store.report import ReportFilters

STATUS = {
    "submitted": "Submitted (accepted included)",
    "accepted": "Accepted by a reviewer",
    "final": "Final (adjudicated) answers",
}


def filters_ui(people: list[str], *, dataset_id: int, user: User) -> ReportFilters:
    """The filters shared with Export: status, annotators, the days the work last changed, a saved item filter."""
    c1, c2, c3, c4, c5 = st.columns([2, 3, 1.2, 1.2, 2])
    status = c1.selectbox("Status", list(STATUS), format_func=STATUS.get, key="report.status")
    annotators = c2.multiselect("Annotators", people, placeholder="Everyone", key="report.annotators")
    since: date | None = c3.date_input("Changed from", value=None, key="report.since")
    until: date | None = c4.date_input("Changed until", value=None, key="report.until")
    with c5:
        items = saved_pick_ui(dataset_id=dataset_id, user=user, key="report.items")
    return ReportFilters(
        status=status,
        annotators=tuple(annotators),
        since=since,
        until=until,
        items=items.to_json() if items else "",
    )


def _chart(made: dict[str, Any], name: str) -> None:
    chart = made.get(name)
    if chart is None:
        return
    # a fixed element height: with "content" the charts were drawn a few pixels high (Streamlit 1.67)
    height = chart.height if isinstance(chart.height, int) else 200
    st.altair_chart(chart, height=height + 110, key=f"report.chart.{name}")


def progress_ui(report: dict[str, Any], made: dict[str, Any]) -> None:
    st.header("Progress")
    for column, (label, value) in zip(st.columns(5), rh.progress_facts(report), strict=True):
        column.metric(label, value)
    if note := rh.progress_note(report):
        st.caption(note)
    left, right = st.columns(2)
    with left:
        _chart(made, "progress")
    with right:
        _chart(made, "submissions")
    if "submissions" not in made:
        st.caption("No submissions yet.")


def agreement_ui(report: dict[str, Any], made: dict[str, Any]) -> None:
    st.header("Agreement")
    if not report["agreement"]:
        st.info("No item has two or more selected annotations yet: agreement needs overlap.")
        return
    st.caption(
        "Krippendorff's α at each criterion's level, Kendall's τ-b for rankings, raw % agreement; "
        "95 % bootstrap intervals over items."
    )
    _chart(made, "agreement")
    st.dataframe(rh.agreement_table(report), hide_index=True, key="report.table.agreement")


def models_ui(report: dict[str, Any], made: dict[str, Any]) -> None:
    st.header("Models")
    models = report["models"]
    if not models["leaderboard"]:
        st.info(
            "No comparisons: candidates need model names and annotators pairwise answers, rankings or scores."
        )
        return
    left, right = st.columns([3, 2])
    with left:
        _chart(made, "leaderboard")
        st.dataframe(rh.leaderboard_table(report), hide_index=True, key="report.table.leaderboard")
    with right:
        _chart(made, "winrate")
    st.subheader("Head to head")
    st.dataframe(rh.pairs_table(report), hide_index=True, key="report.table.pairs")
    if models["scores"]:
        st.subheader("Mean scores")
        st.dataframe(rh.scores_table(report), hide_index=True, key="report.table.scores")
    for question, answers in (models.get("by") or {}).items():
        with st.expander(f"Leaderboard by {question}"):
            for answer, board in answers.items():
                st.markdown(f"**{answer}**")
                st.dataframe(rh.leaderboard_table({"models": {"leaderboard": board}}), hide_index=True,
                             key=f"report.by.{question}.{answer}")  # fmt: skip
    if models.get("judge"):
        st.subheader("LLM judge against the humans' consensus")
        st.dataframe(models["judge"], hide_index=True, key="report.table.judge")


def annotators_ui(report: dict[str, Any]) -> None:
    st.header("Annotators")
    if not report["annotators"]:
        st.info("No submissions yet.")
        return
    st.dataframe(rh.annotators_table(report), hide_index=True, key="report.table.annotators")


def download_ui(report: dict[str, Any]) -> None:
    """The same self-contained HTML file as `python -m store report`, made only when asked for."""
    st.download_button(
        "Download the report (HTML)",
        data=lambda: rh.report_html(report).encode(),
        file_name=f"{report['dataset']}.report.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/download:",
        key="report.download",
    )
