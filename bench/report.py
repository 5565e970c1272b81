"""Pilot report speed: 100,000 items × 3 annotators (300,000 submitted annotations), 3 models as candidate
names, a pairwise question, a 1–5 score on each candidate and a topic radio, in a SQLite temp file.

Prints: the report figures' wall/CPU time and max RSS (report_data in a fresh subprocess, so the RSS is the
report's), then the page's cache: the first and second call of components.report.cached_report (the second
answers from cache after the last-change query). Targets: ≤ 5 s, ≤ 500 MB, a second visit ≤ 300 ms.
Usage: python bench/report.py [--items N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ONTOLOGY = {
    "classes": [{"name": "quality", "alias": "Quality", "tool": "dialog_evaluation", "targets": ["bot"],
                 "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]}]}],
    "classifications": [{"name": "preference", "type": "pairwise"},
                        {"name": "topic", "type": "radio", "options": ["code", "chat", "other"]}],
}  # fmt: skip
MODELS = ["m-small", "m-medium", "m-large"]
SKILL = {"m-small": 2.5, "m-medium": 3.0, "m-large": 3.5}


def build(url: str, n: int) -> None:
    from sqlalchemy import insert
    from sqlmodel import Session

    from store import db
    from store.models import Annotation, Item, Result
    from store.ontology import import_ontology, list_classes, list_classifications
    from tests.utils import make_dataset, make_user

    db.upgrade(url)
    engine = db.get_engine(url)
    rng = random.Random(0)
    with Session(engine) as session:
        admin = make_user(session, "boss", role="admin")
        people = [make_user(session, name) for name in ("alice", "bob", "carol")]
        ds = make_dataset(session, "bench")
        import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY)
        cls = list_classes(session=session, dataset_id=ds.id)[0].id
        q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
        session.execute(
            insert(Item),
            [{"dataset_id": ds.id, "external_id": str(i), "name": f"d{i}", "position": i,
              "messages": [{"role": "user", "text": f"question {i}"}],
              "candidates": [{"text": f"reply {i}{k}", "model": m} for k, m in enumerate(MODELS)],
              "taken": 3, "full": True} for i in range(n)],
        )  # fmt: skip
        session.commit()
        item_ids = [r[0] for r in session.execute(Item.__table__.select().with_only_columns(Item.id))]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows, aid = [], 0
        results = []
        for i, item_id in enumerate(item_ids):
            topic = rng.choice(["code", "chat", "other"])
            for person in people:
                aid += 1
                scores = [min(5, max(1, round(SKILL[m] + rng.gauss(0, 0.8)))) for m in MODELS]
                a, b = rng.sample(range(3), 2)
                chosen, rejected = (a, b) if scores[a] >= scores[b] else (b, a)
                when = start + timedelta(seconds=i * 20)
                rows.append({
                    "id": aid, "item_id": item_id, "dataset_id": ds.id, "annotator_id": person.id,
                    "status": "accepted" if rng.random() < 0.3 else "submitted",
                    "classifications": {q["preference"]: {"chosen": chosen, "rejected": rejected, "strength": 1},
                                        q["topic"]: topic if rng.random() < 0.8 else "other"},
                    "created_at": when, "updated_at": when, "submitted_at": when,
                    "active_seconds": rng.uniform(20, 120),
                })  # fmt: skip
                results += [
                    {"annotation_id": aid, "class_id": cls, "slot": f"c{k}", "candidate_index": k,
                     "values": {"score": str(s)}} for k, s in enumerate(scores)
                ]  # fmt: skip
            if len(results) >= 150_000:
                session.execute(insert(Annotation), rows)
                session.execute(insert(Result), results)
                rows, results = [], []
        if rows:
            session.execute(insert(Annotation), rows)
            session.execute(insert(Result), results)
        session.commit()
    engine.dispose()


def run(url: str) -> None:
    """In a fresh process: the report figures, then the page's cached function twice."""
    os.environ["DATABASE_URL"] = url
    from sqlmodel import Session

    from store import db
    from store.datasets import get_dataset
    from store.report import ReportFilters, report_data
    from store.users import get_user_by_name

    engine = db.get_engine(url)
    with Session(engine) as session:
        boss = get_user_by_name(session=session, username="boss")
        dataset = get_dataset(session=session, name="bench")
        wall, cpu = time.perf_counter(), time.process_time()
        report = report_data(session=session, user=boss, dataset_id=dataset.id, filters=ReportFilters())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    top = report["models"]["leaderboard"]
    print(f"report_data: {wall:.2f} s wall, {cpu:.2f} s CPU, max RSS {rss:.0f} MB")
    print(f"  progress {json.dumps({k: report['progress'][k] for k in ('items', 'submitted', 'accepted')})}")
    print(
        f"  agreement {[(r['criterion'], round(r['alpha'] or 0, 3), r['items']) for r in report['agreement']]}"
    )
    print(f"  leaderboard {[(r['model'], round(r['strength'], 1), r['comparisons']) for r in top]}")

    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" warnings outside `streamlit run`
    from components.report import cached_report

    for visit in ("first", "second"):
        wall = time.perf_counter()
        cached_report(boss.id, dataset.id, ReportFilters())
        print(f"cached_report, {visit} visit: {(time.perf_counter() - wall) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keep", help="a folder for the database (reused when it holds one)")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run)
        return
    folder = Path(args.keep or tempfile.mkdtemp(prefix="parley-bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{args.items}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        wall = time.perf_counter()
        build(url, args.items)
        print(f"built {args.items:,} items × 3 annotators in {time.perf_counter() - wall:.1f} s ({path})")
    subprocess.run([sys.executable, __file__, "--run", url], check=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
