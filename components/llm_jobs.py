"""Generation jobs on the page: start one (Datasets → Generate), and each job's progress bar with Cancel /
Resume and its per-item errors (Datasets and Models pages). Admins only; the page checks the role."""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlmodel import select

from core.llm.judge import DEFAULT_PROMPT
from store import db
from store.errors import InputError, NotFound
from store.llm import jobs
from store.llm.endpoints import list_models
from store.models import Dataset, GenerationJob

STATUS_ICON = {
    "running": ":material/progress_activity:",
    "done": ":material/check_circle:",
    "cancelled": ":material/cancel:",
    "failed": ":material/error:",
}


def _start(user: Any, dataset_id: int, kind: str, models: list[str], **kw: Any) -> str | None:
    """Create the job and hand it to a worker process; the error to show, or None."""
    try:
        with db.write_session() as session:
            if kw.get("items"):
                jobs.check_items(session=session, dataset_id=dataset_id, ids=kw["items"])
            job = jobs.start_job(
                session=session, user=user, dataset_id=dataset_id, kind=kind, models=models, **kw
            )
    except (InputError, NotFound) as exc:
        return str(exc)
    jobs.start_runner(job_id=job.id)
    return None


def generate_ui(user: Any, dataset_id: int) -> None:
    """The Datasets page's Generate tab: candidates from models, a judge's suggestions, and the jobs."""
    with db.read_session() as session:
        models = [m.name for m in list_models(session=session)]
        dataset = session.get(Dataset, dataset_id)
        judge = dict((dataset.settings or {}).get("judge") or {}) if dataset else {}
    if not models:
        st.info("No models yet: an admin adds OpenAI-compatible endpoints on the Models page.")
        _jobs_ui(user, dataset_id)
        return
    left, right = st.columns(2)
    with left.form(f"llm.generate.{dataset_id}"):
        st.markdown("**Generate candidates**: each model answers each item's dialogue. Items that already "
                    "have a model's reply are skipped, so running again only fills gaps.")  # fmt: skip
        chosen = st.multiselect("Models", models, key=f"llm.models.{dataset_id}")
        limit = st.number_input("First N items only (0: all)", min_value=0, value=0, step=1)
        ids = st.text_input("Only these item ids (comma-separated)", placeholder="p1, p7")
        if st.form_submit_button("Generate", type="primary", icon=":material/smart_toy:"):
            error = _start(
                user, dataset_id, "generate", chosen, items=jobs.parse_ids(ids), limit=int(limit) or None
            )
            st.session_state["llm.note"] = (
                error or "Generation started: it runs on the server; leave the page at will."
            )
    with right.form(f"llm.judge.{dataset_id}"):
        st.markdown("**Judge**: a model answers the ontology for each item; its answers are shown to annotators "
                    "as suggestions, never counted as theirs. The report compares judge and humans.")  # fmt: skip
        default = judge.get("model") if judge.get("model") in models else None
        model = st.selectbox("Judge model", models, index=models.index(default) if default else 0)
        prompt = st.text_area("Prompt template ({dialogue}, {candidates}, {ontology})",
                              value=judge.get("prompt") or DEFAULT_PROMPT, height=180)  # fmt: skip
        if st.form_submit_button("Judge", icon=":material/gavel:"):
            error = _start(user, dataset_id, "judge", [model], prompt=prompt)
            if error is None:
                with db.write_session() as session:
                    _remember_judge(session, dataset_id, model, prompt)
            st.session_state["llm.note"] = error or "Judging started."
    note = st.session_state.pop("llm.note", None)
    if note:
        (st.success if note.endswith(("at will.", "started.")) else st.error)(note)
    st.markdown("**Jobs**")
    _jobs_ui(user, dataset_id)


def _remember_judge(session: Any, dataset_id: int, model: str, prompt: str) -> None:
    dataset = session.get(Dataset, dataset_id)
    dataset.settings = {**(dataset.settings or {}), "judge": {"model": model, "prompt": prompt}}
    session.add(dataset)


def _job_line(job: GenerationJob, names: dict[int, str]) -> str:
    what = "Candidates from" if job.kind == "generate" else "Judge"
    where = f" · {names.get(job.dataset_id, '?')}" if names else ""
    return f"{STATUS_ICON.get(job.status, '')} Job {job.id}{where} · {what} {', '.join(job.models or [])} · {job.status}"


def job_ui(user: Any, job: GenerationJob, names: dict[int, str] | None = None) -> None:
    """One job: progress bar (done / total, completions/s, tokens, errors), Cancel or Resume, its errors."""
    with st.container(border=True, key=f"llm_job_{job.id}"):
        st.markdown(_job_line(job, names or {}))
        handled = job.done + job.skipped + job.failed
        figures = (f"{handled:,} / {job.total:,} · {job.done:,} new, {job.skipped:,} already there, "
                   f"{job.failed:,} failed · {jobs.rate(job):.1f} completions/s · {job.tokens:,} tokens")  # fmt: skip
        if job.status == "running" and not job.total:
            figures = "starting…"  # the worker process counts the items when it begins
        st.progress(jobs.fraction(job), text=figures)
        if job.status == "running":
            if st.button("Cancel", key=f"llm.cancel.{job.id}", icon=":material/stop:"):
                with db.write_session() as session:
                    jobs.cancel_job(session=session, user=user, job_id=job.id)
                st.rerun()
        elif job.status in ("cancelled", "failed") and st.button(
            "Resume", key=f"llm.resume.{job.id}", icon=":material/play_arrow:"
        ):
            try:
                with db.write_session() as session:
                    jobs.resume_job(session=session, user=user, job_id=job.id)
                jobs.start_runner(job_id=job.id)
            except InputError as exc:
                st.error(str(exc))
            st.rerun()
        if job.errors:
            with st.expander(f"Errors ({job.failed:,} items failed)"):
                # Plain text: a message may quote what a server sent.
                st.text("\n".join(
                    (f"item {e['item']} · {e['model']}: " if e.get("item") is not None else "") + str(e["message"])
                    for e in job.errors[:200]
                ))  # fmt: skip


def _jobs_ui(user: Any, dataset_id: int | None) -> None:
    @st.fragment(run_every=1.0 if _any_running(user, dataset_id) else None)
    def live() -> None:
        with db.read_session() as session:
            found = jobs.list_jobs(session=session, user=user, dataset_id=dataset_id, limit=10)
            names = (
                {} if dataset_id is not None else {d.id: d.name for d in session.exec(select(Dataset)).all()}
            )
        if not found:
            st.caption("No generation jobs yet.")
        for job in found:
            job_ui(user, job, names)
        if not any(j.status == "running" for j in found) and st.session_state.get(f"llm.live.{dataset_id}"):
            st.session_state[f"llm.live.{dataset_id}"] = False
            st.rerun()  # the last job ended: stop polling
        st.session_state[f"llm.live.{dataset_id}"] = any(j.status == "running" for j in found)

    live()


def _any_running(user: Any, dataset_id: int | None) -> bool:
    with db.read_session() as session:
        return any(
            j.status == "running" for j in jobs.list_jobs(session=session, user=user, dataset_id=dataset_id)
        )


def jobs_ui(user: Any) -> None:
    """Every dataset's recent jobs (the Models page)."""
    _jobs_ui(user, None)
