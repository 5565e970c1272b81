"""`python -m store.llm.worker JOB_ID OWNER`: one generation job run in a process of its own.

The app starts one per job (store/llm/jobs.start_runner) so that the job's requests, JSON and writes never
hold the server's interpreter: pages stay as fast while a job runs (bench/generate.py). The worker takes the
job over from OWNER (the server that created or claimed it) and runs it to its end; a worker that dies leaves
a job whose owner is gone, which the server's watcher takes up again.
"""

from __future__ import annotations

import sys

from sqlalchemy import update

from store.db import get_engine, write_session
from store.llm.jobs import OWNER
from store.llm.runner import run_job
from store.models import GenerationJob, utcnow


def main(argv: list[str]) -> int:
    job_id, previous = int(argv[0]), argv[1]
    engine = get_engine()
    with write_session(engine) as session:
        won = session.execute(
            update(GenerationJob)
            .where(
                GenerationJob.id == job_id, GenerationJob.owner == previous, GenerationJob.status == "running"
            )
            .values(owner=OWNER, heartbeat_at=utcnow())
        ).rowcount
    if won != 1:
        return 0  # another process has it, or it ended
    try:
        run_job(engine=engine, job_id=job_id)
    except Exception as exc:  # noqa: BLE001  (kept on the job, so a broken job is not started again and again)
        with write_session(engine) as session:
            job = session.get(GenerationJob, job_id)
            if job is not None and job.status == "running" and job.owner == OWNER:
                job.status, job.finished_at = "failed", utcnow()
                job.errors = [
                    *(job.errors or []),
                    {"item": None, "model": None, "message": f"stopped: {exc}"},
                ]
                session.add(job)
        print(f"parley: generation job {job_id} failed: {exc!r}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
