"""Team queue speed: 100,000 items, 5 annotators, overlap 3, the dataset about 30 % done.

Builds the data with core bulk inserts into a migrated temporary SQLite file (or a fresh PostgreSQL database
made through --pg, dropped afterwards): items, the submitted annotations of five annotators working at
different paces (the slowest far behind), their queue cursors, a few skipped items. Then, round-robin over
the annotators, times the store call behind the queue's → (next_in_queue in a write session, committed),
submitting each item handed out (untimed) so every pick is a fresh one, and times peek_queue (the two items
ahead) and queue_counts ("N left") in read sessions. Target: pick ≤ 10 ms p95.
Usage: python bench/queue_pick.py [--items N] [--picks N] [--pg postgresql+psycopg://user@host:port/postgres]
       [--profile]  (also prints the SQL statements' share of the pick's time)
"""

from __future__ import annotations

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from store.annotations import save_annotation  # noqa: E402
from store.db import make_engine, read_session, upgrade, write_session  # noqa: E402
from store.models import Annotation, Dataset, Item, Lease, QueueCursor, User, utcnow  # noqa: E402
from store.team.queue import next_in_queue, peek_queue, queue_counts  # noqa: E402

BATCH = 10_000
OVERLAP = 3
# Share of the 30 % of slots done that each annotator did: the fastest first, the slowest far behind.
PACE = [0.30, 0.26, 0.21, 0.16, 0.07]
WORK = {"validity": "valid", "invalid_reason": "", "classifications": {"1": "yes"}, "results": []}


def generate(url: str, n: int, done_share: float = 0.30) -> tuple[int, list[int]]:
    """The dataset and its annotators' ids; about `done_share` of all n × OVERLAP slots submitted."""
    engine = make_engine(url)
    rng = random.Random(7)
    now = utcnow()
    with Session(engine) as s:
        users = [
            User(username=f"annotator{k + 1}", display_name=f"Annotator {k + 1}") for k in range(len(PACE))
        ]
        ds = Dataset(name="bench", settings={"team": {"overlap": OVERLAP, "review": "off"}})
        s.add_all([*users, ds])
        s.commit()
        user_ids, ds_id = [u.id for u in users], ds.id
    # Who submitted what: items in queue order, each to OVERLAP annotators drawn by their remaining pace,
    # until the slots done run out (the frontier's last items are partly taken, as in a live dataset).
    quota = [round(p * done_share * n * OVERLAP) for p in PACE]
    holders: list[list[int]] = []
    while sum(1 for q in quota if q > 0) > 0:
        open_ = [k for k, q in enumerate(quota) if q > 0]
        chosen: list[int] = []
        while open_ and len(chosen) < OVERLAP:
            k = rng.choices(open_, weights=[quota[j] for j in open_])[0]
            chosen.append(k)
            open_.remove(k)
        for k in chosen:
            quota[k] -= 1
        holders.append(chosen)
    with engine.begin() as conn:
        for start in range(0, n, BATCH):
            rows = []
            for i in range(start, min(n, start + BATCH)):
                taken = len(holders[i]) if i < len(holders) else 0
                rows.append(
                    {"id": i + 1, "dataset_id": ds_id, "external_id": f"item-{i}", "name": "", "position": i,
                     "messages": [{"role": "user", "text": f"Question {i}"}, {"role": "bot", "text": "Answer."}],
                     "candidates": [], "meta": {}, "created_at": now,
                     "taken": taken, "full": taken >= OVERLAP}
                )  # fmt: skip
            conn.execute(insert(Item), rows)
        anns = [
            {"item_id": i + 1, "dataset_id": ds_id, "annotator_id": user_ids[k], "status": "submitted",
             "validity": "valid", "invalid_reason": "", "classifications": {"1": "yes"}, "version": 1,
             "created_at": now, "updated_at": now, "submitted_at": now, "needs_review": False,
             "review_reason": "", "review_rounds": 0, "final": False, "active_seconds": 0.0}
            for i, chosen in enumerate(holders)
            for k in chosen
        ]  # fmt: skip
        for start in range(0, len(anns), BATCH):
            conn.execute(insert(Annotation), anns[start : start + BATCH])
        last: dict[int, int] = defaultdict(int)
        for i, chosen in enumerate(holders):
            for k in chosen:
                last[k] = i
        conn.execute(
            insert(QueueCursor),
            [{"dataset_id": ds_id, "user_id": user_ids[k], "position": pos} for k, pos in last.items()],
        )
        # The slowest annotator skipped a few items near the frontier.
        frontier = len(holders)
        conn.execute(
            insert(Lease),
            [
                {"dataset_id": ds_id, "item_id": i + 1, "user_id": user_ids[-1], "position": i, "skipped": True,
                 "taken_at": now, "expires_at": now}
                for i in range(frontier, frontier + 20)
            ],
        )  # fmt: skip
    engine.dispose()
    return ds_id, user_ids


def stats(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.2f}  p95 {p95:6.2f}  max {ms[-1]:7.2f} ms  (n={len(ms)})"


class Statements:
    """Time spent in each SQL statement (first 90 characters), while `on`."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.on = False
        self.total: dict[str, list[float]] = defaultdict(list)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            conn.info["t"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            if self.on:
                key = " ".join(statement.split())[:90]
                self.total[key].append((time.perf_counter() - conn.info["t"]) * 1000)

    def report(self, what: str, calls: int) -> None:
        rows = sorted(self.total.items(), key=lambda kv: -sum(kv[1]))[:8]
        spent = sum(sum(t) for t in self.total.values()) / calls
        print(
            f"  SQL in {what}: {spent:.2f} ms per call; top {len(rows)} (ms per call / runs per call / max ms):"
        )
        for key, times in rows:
            print(f"    {sum(times) / calls:6.2f} {len(times) / calls:5.1f} {max(times):7.2f}  {key}")
        self.total.clear()


def run(url: str, items: int, picks: int, profile: bool) -> bool:
    started = time.perf_counter()
    upgrade(url)
    from store.db import get_engine

    get_engine(url).dispose()
    ds_id, user_ids = generate(url, items)
    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
            conn.commit()
        done = conn.execute(text("SELECT count(*) FROM annotation")).scalar_one()
        full = conn.execute(text('SELECT count(*) FROM item WHERE "full"')).scalar_one()
    print(
        f"{engine.dialect.name}: {items:,} items, overlap {OVERLAP}, {len(user_ids)} annotators; "
        f"{done:,} submitted ({done / (items * OVERLAP):.0%} of slots), {full:,} items full; "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    users = {}
    with read_session(engine) as s:
        for uid in user_ids:
            users[uid] = s.get(User, uid)
    statements = Statements(engine)

    pick_ms: list[float] = []
    pick_cpu: list[float] = []
    per_user: dict[str, list[float]] = defaultdict(list)
    current: dict[int, int] = {}
    for n in range(picks):
        uid = user_ids[n % len(user_ids)]
        statements.on = profile
        t, cpu = time.perf_counter(), time.process_time()
        with write_session(engine) as s:
            item = next_in_queue(session=s, user=s.get(User, uid), dataset_id=ds_id)
            assert item is not None
            item_id = item.id
        ms = (time.perf_counter() - t) * 1000
        pick_cpu.append((time.process_time() - cpu) * 1000)
        statements.on = False
        pick_ms.append(ms)
        per_user[users[uid].username].append(ms)
        current[uid] = item_id
        with write_session(engine) as s:  # untimed: the annotator submits, so the next pick is a new item
            save_annotation(
                session=s, user=s.get(User, uid), item_id=item_id, work=WORK, version=0, submit=True
            )

    if profile:
        statements.report("pick", picks)
    peek_ms, counts_ms, counts_cpu = [], [], []
    for n in range(picks):
        uid = user_ids[n % len(user_ids)]
        with read_session(engine) as s:
            user, after = s.get(User, uid), s.get(Item, current[uid])
            t = time.perf_counter()
            peek_queue(session=s, user=user, dataset_id=ds_id, after=after)
            peek_ms.append((time.perf_counter() - t) * 1000)
        with read_session(engine) as s:
            user = s.get(User, uid)
            statements.on = profile
            t, cpu = time.perf_counter(), time.process_time()
            queue_counts(session=s, user=user, dataset_id=ds_id)
            counts_ms.append((time.perf_counter() - t) * 1000)
            counts_cpu.append((time.process_time() - cpu) * 1000)
            statements.on = False

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    p95 = sorted(pick_ms)[min(len(pick_ms) - 1, int(round(0.95 * (len(pick_ms) - 1))))]
    ok = p95 <= 10
    print(f"  loadavg {load}")
    print(
        f"  pick (next_in_queue + commit)  {stats(pick_ms)}  [{'ok' if ok else 'ABOVE TARGET'}: p95 ≤ 10 ms]"
    )
    print(f"    its CPU in this process      {stats(pick_cpu)}")
    for name, ms in sorted(per_user.items()):
        print(f"    {name:11s} {stats(ms)}")
    print(f"  peek_queue (2 ahead)           {stats(peek_ms)}")
    print(f"  queue_counts                   {stats(counts_ms)}")
    print(f"    its CPU in this process      {stats(counts_cpu)}")
    if profile:
        statements.report("queue_counts", picks)
    engine.dispose()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--picks", type=int, default=300)
    parser.add_argument("--pg", help="a PostgreSQL URL (its maintenance database); a bench database is made")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true", help="only the PostgreSQL run")
    args = parser.parse_args()
    ok = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="parley-bench-queue-") as tmp:
            ok &= run(f"sqlite:///{tmp}/queue.db", args.items, args.picks, args.profile)
    if args.pg:
        name = f"parley_bench_queue_{os.getpid()}"
        admin = make_engine(args.pg).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg.rsplit("/", 1)[0] + f"/{name}"
        try:
            ok &= run(url, args.items, args.picks, args.profile)
        finally:
            from store.db import get_engine

            get_engine.cache_clear()  # type: ignore[attr-defined]
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
