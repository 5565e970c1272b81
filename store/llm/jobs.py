"""Generation jobs: start, cancel, resume, and the worker processes that run them (store/llm/worker.py).

A job is a row (GenerationJob) first: the CLI creates and runs it itself; the app creates it, then hands it to
a worker process.
Its runner writes a heartbeat; a running job whose heartbeat stopped, or whose owner was a process of this
machine that is gone, is taken up again by the next process that looks (`claim_orphans`): the app does at
start and every few seconds after, so a job survives a page reload and a server restart.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, select

from core.llm.judge import DEFAULT_PROMPT, check_template
from store.access import require_admin, visible_dataset
from store.errors import InputError, NotFound
from store.llm.endpoints import get_model
from store.models import AuditEvent, GenerationJob, Item, User, utcnow

KINDS = ("generate", "judge")
OWNER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def stale_seconds() -> float:
    """How long a running job's heartbeat may stop before another process takes it up."""
    return float(os.environ.get("PARLEY_JOB_STALE_SECONDS", "30"))


def parse_ids(text: str | None) -> list[str] | None:
    """`--items 3,7,a12` as a list of item ids (None when not given)."""
    if text is None or not text.strip():
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    return ids or None


def start_job(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    kind: str,
    models: list[str],
    items: list[str] | None = None,
    limit: int | None = None,
    prompt: str | None = None,
) -> GenerationJob:
    """A new running job owned by this process (admins only); run it with runner.run_job or start_runner.

    generate: each model answers each selected item (skipping items that have that model's candidate);
    judge: one model judges each selected item with `prompt` (DEFAULT_PROMPT when None), its answer kept
    as suggestions."""
    require_admin(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    if kind not in KINDS:
        raise InputError(f"job kind {kind!r}: choose generate or judge")
    names = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not names:
        raise InputError("name at least one model (--model NAME)")
    for name in names:
        get_model(session=session, name=name)
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit}: give a whole number of at least 1")
    params: dict[str, Any] = {}
    if kind == "judge":
        if len(names) != 1:
            raise InputError("a judge is one model")
        params["prompt"] = prompt if prompt is not None else DEFAULT_PROMPT
        try:
            check_template(params["prompt"])
        except ValueError as exc:
            raise InputError(str(exc)) from None
    running = session.exec(
        select(GenerationJob).where(
            GenerationJob.dataset_id == dataset_id,
            GenerationJob.kind == kind,
            GenerationJob.status == "running",
        )
    ).first()
    if running is not None:
        raise InputError(
            f"a {kind} job is already running on {dataset.name} (job {running.id}): cancel it or wait"
        )
    job = GenerationJob(
        dataset_id=dataset_id, kind=kind, models=names, items=items, item_limit=limit, params=params,
        status="running", owner=OWNER, heartbeat_at=utcnow(), created_by=user.id, errors=[],
    )  # fmt: skip
    session.add(job)
    session.flush()
    session.add(AuditEvent(user_id=user.id, dataset_id=dataset_id, action=f"job.{kind}",
                           detail={"job": job.id, "models": names, "items": items, "limit": limit}))  # fmt: skip
    session.flush()
    return job


def check_items(*, session: Session, dataset_id: int, ids: list[str]) -> None:
    """InputError naming the first id that is not an item of the dataset (the CLI's --items)."""
    have = set(session.exec(select(Item.external_id).where(Item.dataset_id == dataset_id)).all())
    unknown = [i for i in ids if i not in have]
    if unknown:
        raise InputError(f"--items: {unknown[0]!r} is not an item of this dataset ({len(unknown)} unknown)")


def get_job(*, session: Session, job_id: int) -> GenerationJob:
    job = session.get(GenerationJob, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"job {job_id}: not found")
    return job


def list_jobs(
    *, session: Session, user: User, dataset_id: int | None = None, limit: int = 20
) -> list[GenerationJob]:
    require_admin(user)
    query = select(GenerationJob).order_by(GenerationJob.id.desc()).limit(limit)
    if dataset_id is not None:
        query = query.where(GenerationJob.dataset_id == dataset_id)
    return list(session.exec(query.execution_options(populate_existing=True)).all())


def cancel_job(*, session: Session, user: User, job_id: int) -> GenerationJob:
    """Ask the job's runner to stop (it finishes the answers it has and marks the job cancelled); a job
    whose runner is gone is marked cancelled at once."""
    require_admin(user)
    job = get_job(session=session, job_id=job_id)
    if job.status != "running":
        return job
    cutoff = utcnow() - timedelta(seconds=stale_seconds())
    orphan = job.heartbeat_at is None or _aware(job.heartbeat_at) < cutoff or _gone(job.owner)
    values: dict[str, Any] = {"cancel_requested": True}
    if orphan:
        values.update(status="cancelled", finished_at=utcnow())
    session.execute(update(GenerationJob).where(GenerationJob.id == job_id).values(**values))
    session.add(
        AuditEvent(user_id=user.id, dataset_id=job.dataset_id, action="job.cancel", detail={"job": job_id})
    )
    session.flush()
    return get_job(session=session, job_id=job_id)


def resume_job(*, session: Session, user: User, job_id: int) -> GenerationJob:
    """Run a cancelled or failed job again from where it stopped (owned by this process)."""
    require_admin(user)
    job = get_job(session=session, job_id=job_id)
    if job.status not in ("cancelled", "failed"):
        raise InputError(f"job {job_id} is {job.status}: only a cancelled or failed job resumes")
    other = session.exec(
        select(GenerationJob).where(
            GenerationJob.dataset_id == job.dataset_id,
            GenerationJob.kind == job.kind,
            GenerationJob.status == "running",
        )  # fmt: skip
    ).first()
    if other is not None:
        raise InputError(f"a {job.kind} job is already running on this dataset (job {other.id})")
    session.execute(
        update(GenerationJob)
        .where(GenerationJob.id == job_id)
        .values(
            status="running", cancel_requested=False, owner=OWNER, heartbeat_at=utcnow(), finished_at=None
        )
    )
    session.add(
        AuditEvent(user_id=user.id, dataset_id=job.dataset_id, action="job.resume", detail={"job": job_id})
    )
    session.flush()
    return get_job(session=session, job_id=job_id)


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _gone(owner: str) -> bool:
    """The owner was a process of this machine that no longer runs (a restart, a killed CLI)."""
    try:
        host, pid, _ = owner.split(":")
    except ValueError:
        return False
    if host != socket.gethostname() or owner == OWNER:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def claim_orphans(*, engine: Engine, stale: float | None = None) -> list[int]:
    """Take over running jobs whose runner stopped (heartbeat older than `stale` s, or owner gone); returns
    their ids, now owned by this process. Two processes never both win a job (a conditional update)."""
    from store.db import read_session, write_session

    cutoff = utcnow() - timedelta(seconds=stale_seconds() if stale is None else stale)
    claimed: list[int] = []
    running = select(GenerationJob.id).where(GenerationJob.status == "running").limit(1)
    with read_session(engine) as session:
        if session.exec(running).first() is None:
            return claimed  # the usual answer, without taking SQLite's write lock
    with write_session(engine) as session:
        rows = session.exec(select(GenerationJob.id, GenerationJob.owner, GenerationJob.heartbeat_at).where(
            GenerationJob.status == "running")).all()  # fmt: skip
        for job_id, owner, beat in rows:
            fresh = beat is not None and _aware(beat) >= cutoff
            if owner == OWNER:  # this process's: just created or claimed, about to be handed to a worker
                runner = _runners.get(job_id)
                if fresh or (runner is not None and runner.poll() is None):
                    continue
            elif fresh and not _gone(owner):
                continue
            won = session.execute(
                update(GenerationJob)
                .where(
                    GenerationJob.id == job_id,
                    GenerationJob.owner == owner,
                    GenerationJob.status == "running",
                )
                .values(owner=OWNER, heartbeat_at=utcnow())
            )
            if won.rowcount == 1:
                claimed.append(job_id)
    return claimed


# ---------------------------------------------------------------- runner processes started by this one

_runners: dict[int, subprocess.Popen] = {}
_runners_lock = threading.Lock()


def start_runner(*, job_id: int) -> subprocess.Popen:
    """Run the job (owned by this process) in a worker process (store/llm/worker.py), once: a second call
    while it runs returns the same process. The worker inherits this environment (database, keys)."""
    with _runners_lock:
        for done in [j for j, p in _runners.items() if p.poll() is not None]:
            del _runners[done]  # reaped
        proc = _runners.get(job_id)
        if proc is None:
            proc = subprocess.Popen(
                [sys.executable, "-m", "store.llm.worker", str(job_id), OWNER],
                cwd=Path(__file__).resolve().parent.parent.parent,
                stdin=subprocess.DEVNULL,
            )
            _runners[job_id] = proc
    return proc


def watch(*, engine: Engine, every: float | None = None, stop: threading.Event | None = None) -> None:
    """Claim and run orphaned jobs now and every `every` s (the app's lifespan runs this in a thread)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            for job_id in claim_orphans(engine=engine):
                print(f"parley: resuming generation job {job_id}", file=sys.stderr, flush=True)
                start_runner(job_id=job_id)
        except Exception as exc:  # noqa: BLE001  (a database that is not there yet: try again later)
            print(
                f"parley: could not look for generation jobs to resume: {exc!r}", file=sys.stderr, flush=True
            )
        stop.wait(every if every is not None else max(1.0, stale_seconds() / 3))


def fraction(job: GenerationJob) -> float:
    if not job.total:
        return 1.0 if job.status == "done" else 0.0
    return min(1.0, (job.done + job.skipped + job.failed) / job.total)


def rate(job: GenerationJob) -> float:
    """Completions per second while running."""
    return job.done / job.seconds if job.seconds else 0.0
