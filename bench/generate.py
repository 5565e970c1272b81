"""Generation speed (#16): N items × 2 models against the fake OpenAI-compatible server (tests/fake_openai.py, its
own process on loopback) answering in 50 ms, each model at concurrency 8, on a temporary SQLite file. The job
runs as in the app, in a worker process (store/llm/worker.py), while this process takes an annotator's next
item (next_in_queue + load_work, as Evaluate's → does) every 50 ms: its latency while the job runs is printed
beside the same calls with no job. Targets: the job ≤ 25 s for 1,000 × 2; next-item p95 within #5's 10 ms.

    .venv/bin/python bench/generate.py [--items 1000] [--delay 0.05] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from store.annotations import load_work  # noqa: E402
from store.db import get_engine, upgrade, write_session  # noqa: E402
from store.llm.endpoints import add_model  # noqa: E402
from store.llm.jobs import start_job, start_runner  # noqa: E402
from store.models import Dataset, GenerationJob, Item, User, utcnow  # noqa: E402
from store.team.queue import next_in_queue  # noqa: E402
from tests.fake_openai import FakeServer  # noqa: E402


def _next_item(engine, user: User, dataset_id: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    with write_session(engine) as session:
        item = next_in_queue(session=session, user=user, dataset_id=dataset_id)
        if item is not None:
            load_work(session=session, user=user, item_id=item.id)
    return (time.perf_counter() - t0) * 1000


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values or [0.0])[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-generate-"))
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    engine = get_engine(url)
    with Session(engine) as session:
        admin = User(username="admin", role="admin")
        ann = User(username="ann", role="annotator")
        session.add_all([admin, ann])
        ds = Dataset(name="bench")
        session.add(ds)
        session.commit()
        now = utcnow()
        rows = [{"dataset_id": ds.id, "external_id": f"i{i}", "name": "", "position": i,
                 "messages": [{"role": "user", "text": f"Question {i}: tell me about the number {i}."}],
                 "candidates": [], "meta": {}, "created_at": now} for i in range(args.items)]  # fmt: skip
        session.execute(insert(Item), rows)
        session.commit()
        ids = (admin.id, ann.id, ds.id)
    with Session(engine, expire_on_commit=False) as session:
        admin, ann = session.get(User, ids[0]), session.get(User, ids[1])
    ds_id = ids[2]

    idle = [_next_item(engine, ann, ds_id) for _ in range(40)]
    with FakeServer(delay=args.delay) as fake:
        with write_session(engine) as session:
            for name in ("model-a", "model-b"):
                add_model(session=session, user=admin, name=name, base_url=fake.url, model=name,
                          concurrency=args.concurrency)  # fmt: skip
            job = start_job(session=session, user=admin, dataset_id=ds_id, kind="generate",
                            models=["model-a", "model-b"])  # fmt: skip
        os.environ["DATABASE_URL"] = url  # the worker's database
        t0 = time.perf_counter()
        worker = start_runner(job_id=job.id)
        busy = []
        while worker.poll() is None:
            busy.append(_next_item(engine, ann, ds_id))
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = cpu.ru_utime + cpu.ru_stime  # the worker's (the fake server is still running)
    with Session(engine) as session:
        done = session.get(GenerationJob, job.id)
        shown = (done.finished_at - done.created_at).total_seconds()  # Start pressed → the job shows done
    with Session(engine) as session:
        written = sum(len(c or []) for c in session.exec(select(Item.candidates)).all())
    print(
        f"items {args.items} x 2 models, server {args.delay * 1000:.0f} ms, concurrency {args.concurrency} per model"
    )
    print(f"job: {done.status}, {done.done} replies ({written} candidates stored), {done.failed} failed, "
          f"{shown:.1f} s from the job's start to done ({done.done / shown:.0f} completions/s; the worker's own "
          f"running time {done.seconds:.1f} s, to its exit {seconds:.1f} s), worker CPU {cpu:.1f} s")  # fmt: skip
    print(f"next item (next_in_queue + load_work), ms: idle p50 {statistics.median(idle):.1f} p95 {_pct(idle, 95):.1f}"
          f" · during the job p50 {statistics.median(busy):.1f} p95 {_pct(busy, 95):.1f} max {max(busy):.1f}"
          f" ({len(busy)} calls)")  # fmt: skip
    print(f"target job <= 25 s for 1,000 x 2: {'PASS' if shown <= 25 * args.items / 1000 else 'MISSED'}")
    print("loadavg", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
