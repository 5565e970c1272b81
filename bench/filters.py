"""Item filters on 1,000,000 items (SQLite): each filter alone and a few combinations, and the tool page's
next item with a filter active.

The database (cached in /tmp, so reruns are quick; --rebuild makes it again): 1M items with a short message
and 2 candidates named by 3 models; 30 % of the items annotated by 3 annotators (900k annotations: draft,
saved, submitted, accepted, rejected; valid / invalid; a topic radio and a pairwise answer), one result each
(class "quality", score 1–5 on candidate A), a final answer on 1 % of the items, a comment on 1 %; the
full-text index. Each case: count + the first page of 20 (store.items.list_items, as the Datasets page
asks), p50/p95 over --runs runs. Navigation: store.queue.following / next_todo with the filter (what → and
Submit-and-next ask). Target: a filter combination ≤ 300 ms p95.
Usage: python bench/filters.py [--items N] [--runs N] [--rebuild] [--url postgresql+psycopg://…/EMPTY_DB]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ["m-small", "m-medium", "m-large"]
WORDS = ["refund", "order", "account", "password", "delivery", "invoice", "weather", "python", "recipe",
         "travel", "music", "garden"]  # fmt: skip
BATCH = 50_000
VERSION = 3  # bump when the data changes


def build(url: str, n: int) -> None:
    import orjson
    from sqlalchemy import insert, text, update
    from sqlmodel import Session

    from store import annotation_values, db
    from store.filters import disagreeing
    from store.models import Annotation, Comment, Item, Result, User
    from store.ontology import import_ontology, list_classes, list_classifications
    from store.search import rebuild_index
    from store.zjson import zjson_bytes
    from tests.utils import make_dataset

    db.upgrade(url)
    engine = db.get_engine(url)
    rng = random.Random(0)
    started = time.perf_counter()
    with Session(engine) as session:
        users = [User(username=u, role=r) for u, r in
                 (("boss", "admin"), ("rv", "reviewer"), ("ann1", "annotator"), ("ann2", "annotator"),
                  ("ann3", "annotator"))]  # fmt: skip
        session.add_all(users)
        session.commit()
        admin, rv, *people = users
        ds = make_dataset(session, "bench")
        import_ontology(session=session, user=admin, dataset_id=ds.id, data={
            "classes": [{"name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
                         "attributes": [{"name": "score", "type": "radio", "options": list("12345")}]}],
            "classifications": [{"name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
                                {"name": "preference", "type": "pairwise"}]})  # fmt: skip
        session.commit()
        cls = list_classes(session=session, dataset_id=ds.id)[0].id
        q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
        made = datetime(2026, 1, 1, tzinfo=UTC)
        for lo in range(0, n, BATCH):
            rows = []
            for i in range(lo, min(n, lo + BATCH)):
                pair = rng.sample(MODELS, 2)
                words = " ".join(rng.choices(WORDS, k=4))
                messages = [{"role": "user", "text": f"question {i} about {words}"}]
                candidates = [
                    {"text": f"reply {i}{k} {rng.choice(WORDS)}", "model": m} for k, m in enumerate(pair)
                ]
                rows.append({
                    "dataset_id": ds.id, "external_id": str(i), "name": "", "position": i,
                    "messages": zjson_bytes(messages), "candidates": zjson_bytes(candidates),
                    "models": orjson.dumps(pair).decode(), "message_count": 1, "assets": "", "meta": {},
                    "created_at": made.replace(month=1 + i * 12 // n),
                })  # fmt: skip
            session.execute(insert(Item), rows)
        session.commit()
        print(f"  items {time.perf_counter() - started:.1f} s", flush=True)
        statuses = ["draft", "saved", "submitted", "submitted", "submitted", "accepted", "rejected"]
        annotated = [i + 1 for i in range(n) if rng.random() < 0.30]  # item ids are 1..n
        ann_rows, next_id = [], 1
        result_rows = []
        for item_id in annotated:
            for user in people:
                status = rng.choice(statuses)
                topic = rng.choice(["code", "chat", "other"]) if rng.random() < 0.3 else "code"
                ann_rows.append({
                    "id": next_id, "item_id": item_id, "dataset_id": ds.id, "annotator_id": user.id,
                    "status": status, "validity": "invalid" if rng.random() < 0.05 else "valid",
                    "classifications": {q["topic"]: topic, q["preference"]: {"chosen": 0, "rejected": 1}},
                    "final": False,
                })  # fmt: skip
                if status != "draft":
                    result_rows.append({"annotation_id": next_id, "class_id": cls, "slot": "c0",
                                        "candidate_index": 0, "values": {"score": str(rng.randint(4, 5))}})  # fmt: skip
                next_id += 1
            if rng.random() < 0.033:
                ann_rows.append({"id": next_id, "item_id": item_id, "dataset_id": ds.id, "annotator_id": rv.id,
                                 "status": "submitted", "final": True, "classifications": {}})  # fmt: skip
                next_id += 1
        for lo in range(0, len(ann_rows), BATCH):
            session.execute(insert(Annotation), ann_rows[lo : lo + BATCH])
        for lo in range(0, len(result_rows), BATCH):
            session.execute(insert(Result), result_rows[lo : lo + BATCH])
        comments = [
            {"item_id": rng.randint(1, n), "author_id": rv.id, "text": "look"} for _ in range(n // 100)
        ]
        session.execute(insert(Comment), comments)
        session.commit()
        print(f"  annotations {len(ann_rows):,}, results {len(result_rows):,} {time.perf_counter() - started:.1f} s",
              flush=True)  # fmt: skip
        # (bulk inserts: what store/filters.refresh_disagree keeps on each change, computed at once)
        # (without statistics PostgreSQL planned the next query as nested loops: 13 s for 20k items)
        session.execute(text("ANALYZE"))
        session.execute(update(Item).where(Item.id.in_(disagreeing(dataset_id=ds.id))).values(disagree=True))
        print(f"  disagree {time.perf_counter() - started:.1f} s", flush=True)
        annotation_values.backfill(session.connection(), ds.id)  # (what the saves write, for bulk inserts)
        print(f"  annotation values {time.perf_counter() - started:.1f} s", flush=True)
        rebuild_index(session.connection(), ds.id)
        session.commit()
        print(f"  search index {time.perf_counter() - started:.1f} s", flush=True)
        session.execute(text("ANALYZE"))
        session.commit()
    print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)


def timed(fn, runs: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], out


CASES = [
    ("no filter", {}),
    ("search: refund", {"search": "refund"}),
    ('search: "refund order"', {"search": '"refund order"'}),
    ("status: untouched", {"status": ["untouched"]}),
    ("status: submitted", {"status": ["submitted"]}),
    ("status: rejected", {"status": ["rejected"]}),
    ("status: final", {"status": ["final"]}),
    ("annotator: ann1", {"annotators": ["ann1"]}),
    ("class quality score = 4", {"label": "quality", "attribute": "score", "value": "4"}),
    ("topic = other", {"question": "topic", "answer": "other"}),
    ("validity: invalid", {"validity": "invalid"}),
    ("has comments", {"comments": True}),
    ("annotators disagree", {"disagree": True}),
    ("model: m-large", {"models": ["m-large"]}),
    ("imported in March", {"imported_from": "2026-03-01", "imported_to": "2026-03-31"}),
    ("submitted · ann1 · m-large", {"status": ["submitted"], "annotators": ["ann1"], "models": ["m-large"]}),
    (
        "refund · submitted · topic other",
        {"search": "refund", "status": ["submitted"], "question": "topic", "answer": "other"},
    ),  # fmt: skip
    ("refund · submitted (99k, too many to rank)", {"search": "refund", "status": ["submitted"]}),
    ("refund · m-large (271k, too many to rank)", {"search": "refund", "models": ["m-large"]}),
    ("refund · has comments", {"search": "refund", "comments": True}),
    ("rejected · invalid · comments", {"status": ["rejected"], "validity": "invalid", "comments": True}),
    (
        "disagree · m-large · March",
        {"disagree": True, "models": ["m-large"], "imported_from": "2026-03-01", "imported_to": "2026-03-31"},
    ),  # fmt: skip
]


def run(url: str, runs: int) -> None:
    from sqlalchemy import func
    from sqlmodel import Session, select

    from core.filters import ItemFilter
    from store import db
    from store.items import list_items
    from store.models import Item, User
    from store.queue import following, next_todo

    engine = db.get_engine(url)
    with Session(engine) as session:
        admin = session.exec(select(User).where(User.username == "boss")).one()
        ann1 = session.exec(select(User).where(User.username == "ann1")).one()
        ds = 1
        print(f"{'filter':44} {'items':>9} {'p50 ms':>8} {'p95 ms':>8}")
        for name, spec in CASES:
            flt = ItemFilter.from_dict(spec)
            p50, p95, out = timed(
                lambda flt=flt: list_items(session=session, user=admin, dataset_id=ds, flt=flt), runs
            )
            print(f"{name:44} {out[1]:>9,} {p50:>8.1f} {p95:>8.1f}", flush=True)  # type: ignore[index]
        print("\nnext item (the tool page's → and Submit-and-next) with a filter active")
        half = session.exec(select(func.max(Item.position)).where(Item.dataset_id == ds)).one() // 2
        middle = session.exec(select(Item).where(Item.dataset_id == ds, Item.position == half)).one()
        for name, spec in [("no filter", {}), ("status: submitted", {"status": ["submitted"]}),
                           ("model: m-large", {"models": ["m-large"]}),
                           ("submitted · ann1 · m-large", CASES[15][1]),
                           ("search: refund", {"search": "refund"}),
                           ('search: "refund order"', {"search": '"refund order"'}),
                           ("search: refund · submitted", {"search": "refund", "status": ["submitted"]})]:  # fmt: skip
            flt = ItemFilter.from_dict(spec) if spec else None
            p50, p95, _ = timed(
                lambda flt=flt: following(session=session, user=admin, dataset_id=ds, item=middle, step=1, flt=flt, limit=3),
                runs,
            )  # fmt: skip
            q50, q95, _ = timed(
                lambda flt=flt: next_todo(session=session, user=ann1, dataset_id=ds, after=middle, flt=flt),
                runs,
            )
            print(
                f"  {name:34} following ×3 p50 {p50:6.1f} p95 {p95:6.1f} · next_todo p50 {q50:6.1f} p95 {q95:6.1f} ms"
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--url", help="an empty PostgreSQL database (built on first use) instead of SQLite in /tmp"
    )
    args = parser.parse_args()
    from store import db

    if args.url:
        url = args.url
        db.upgrade(url)
        with db.get_engine(url).connect() as conn:
            built = conn.exec_driver_sql("SELECT count(*) FROM item").scalar()
        if built not in (0, args.items):
            raise SystemExit(f"{url} holds {built:,} items, not {args.items:,}: give an empty database")
        if not built:
            print(f"building {args.items:,} items into {url} …", flush=True)
            build(url, args.items)
    else:
        path = Path(f"/tmp/parley-bench-filters-{args.items}-v{VERSION}.db")
        url = f"sqlite:///{path}"
        if args.rebuild or not path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            print(f"building {args.items:,} items into {path} …", flush=True)
            try:
                build(url, args.items)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        db.upgrade(url)  # a database built before a later migration
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores; other agents run here)\n")
    run(url, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
