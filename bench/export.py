"""Export speed: 100,000 annotated items (3 results each) to dpo and native JSONL on SQLite.

Generates its own data with bulk inserts into a temporary SQLite file, then runs each export in a fresh
process (so peak RSS is the export's own) and prints items/s, CPU and peak RSS. An export of this size
renders chunks in a worker process too (store/export_worker.py write_parallel): its CPU (start-up included)
and peak RSS are printed beside the exporting process's own, and the RSS checked against the target is the
two peaks added (both processes live at once). Target: ≥ 20,000 items/s and ≤ 300 MB peak RSS (both
processes).
Usage: python bench/export.py [--items N] [--db FILE] [--workers 0|1]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from store.db import make_engine  # noqa: E402
from store.models import Annotation, Classification, Dataset, Item, OntologyClass, Result, User, utcnow  # noqa: E402

BATCH = 10_000


def generate(url: str, n: int) -> None:
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    rng = random.Random(7)
    now = utcnow()
    with Session(engine) as s:
        user = User(username="bench", password_hash="", role="annotator")
        ds = Dataset(name="bench", settings={})
        s.add_all([user, ds])
        s.flush()
        cls = OntologyClass(
            dataset_id=ds.id, name="quality", alias="Quality", number=1, tool="dialog_evaluation", targets=["bot"],
            attributes=[{"name": "score", "type": "rating", "scale": 5}, {"name": "why", "type": "text"}],
        )  # fmt: skip
        ranking = Classification(dataset_id=ds.id, name="ranking", type="ranking", position=1, settings={})
        s.add_all([cls, ranking])
        s.commit()
        user_id, ds_id, cls_id, q_id = user.id, ds.id, cls.id, str(ranking.id)
    with engine.begin() as conn:
        for start in range(0, n, BATCH):
            stop = min(n, start + BATCH)
            items = [
                {"id": i + 1, "dataset_id": ds_id, "external_id": f"item-{i}", "name": "", "position": i,
                 "messages": [{"role": "user", "text": f"Question number {i}: how do I sort a list in Python?"},
                              {"role": "bot", "text": "Use sorted(xs) or xs.sort()."},
                              {"role": "user", "text": "And in reverse order?"}],
                 "candidates": [{"text": f"Candidate {k} for {i}: pass reverse=True.", "model": f"m{k}"}
                                for k in range(3)],
                 "meta": {}, "created_at": now}
                for i in range(start, stop)
            ]  # fmt: skip
            conn.execute(insert(Item), items)
            anns = []
            results = []
            for i in range(start, stop):
                order = [0, 1, 2]
                rng.shuffle(order)
                anns.append(
                    {"id": i + 1, "item_id": i + 1, "dataset_id": ds_id, "annotator_id": user_id,
                     "status": "submitted", "validity": "valid", "invalid_reason": "",
                     "classifications": {q_id: order}, "version": 2, "created_at": now, "updated_at": now,
                     "submitted_at": now}
                )  # fmt: skip
                for k in range(3):
                    results.append(
                        {"annotation_id": i + 1, "class_id": cls_id, "slot": f"c{k}", "candidate_index": k,
                         "values": {"score": rng.randint(1, 5), "why": "clear and correct"}, "created_at": now}
                    )  # fmt: skip
            conn.execute(insert(Annotation), anns)
            conn.execute(insert(Result), results)
    engine.dispose()


def run_one(url: str, fmt: str, out: str) -> None:
    """In a fresh process: export and print seconds, items, records, peak RSS (MB), CPU seconds, and the
    worker processes' peak RSS (MB, the largest child's: getrusage) and CPU seconds."""
    from sqlmodel import select

    from store.blobs import LocalBlobStore
    from store.db import read_session
    from store.export import write_export

    engine = make_engine(url)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids_cpu_before = kids.ru_utime + kids.ru_stime
    with read_session(engine) as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "bench")).one()
        started = time.perf_counter()
        summary = write_export(
            session=session,
            dataset=dataset,
            fmt=fmt,
            out=out,
            blobs=LocalBlobStore(Path(out).parent / "blobs"),
        )
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, waited for by the export
    kids_cpu = kids.ru_utime + kids.ru_stime - kids_cpu_before
    print(
        f"{seconds:.3f} {summary.counts['items']} {summary.counts['records']} {usage.ru_maxrss / 1024:.1f} {cpu:.3f} "
        f"{kids.ru_maxrss / 1024:.1f} {kids_cpu:.3f} {summary.worker_chunks}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", help="reuse (or create once) this SQLite file instead of a temporary one")
    parser.add_argument(
        "--workers", type=int, help="store.export_worker.WORKERS for the run (default: as set there)"
    )
    parser.add_argument("--run", nargs=3, metavar=("URL", "FORMAT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        if args.workers is not None:
            import store.export_worker

            store.export_worker.WORKERS = args.workers
        run_one(*args.run)
        return 0
    with tempfile.TemporaryDirectory(prefix="parley-bench-export-") as tmp:
        url = f"sqlite:///{args.db or tmp + '/bench.db'}"
        if not (args.db and Path(args.db).exists()):
            started = time.perf_counter()
            generate(url, args.items)
            print(f"generated {args.items:,} items, {args.items:,} annotations, {3 * args.items:,} results "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        ok = True
        for fmt in ("dpo", "native"):
            out = f"{tmp}/export.{fmt}.jsonl"
            workers = [] if args.workers is None else ["--workers", str(args.workers)]
            done = subprocess.run(
                [sys.executable, __file__, "--run", url, fmt, out, *workers],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds, items, records, peak, cpu, worker_peak, worker_cpu, chunks = map(
                float, done.stdout.split()
            )
            rate = items / seconds
            size = Path(out).stat().st_size / 1e6
            total_cpu, total_peak = cpu + worker_cpu, peak + worker_peak
            passed = rate >= 20_000 and total_peak <= 300
            ok &= passed
            print(
                f"{fmt:6s} {int(items):,} items → {int(records):,} records, {size:.0f} MB in {seconds:.2f} s: "
                f"{rate:,.0f} items/s; CPU {total_cpu:.2f} s (exporter {cpu:.2f} + worker {worker_cpu:.2f}: "
                f"{items / total_cpu:,.0f} items per CPU-second); peak RSS {total_peak:.0f} MB (exporter "
                f"{peak:.0f} + worker {worker_peak:.0f}); worker rendered {int(chunks)} chunks"
                f"  [{'ok' if passed else 'BELOW TARGET'}]"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
