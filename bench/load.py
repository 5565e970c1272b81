"""Load at team scale: N simulated annotators (threads, default 50) and a reviewer on one store, with checks.

Each annotator drives the store functions the pages call, through the same engine the app shares between
its sessions: next queue item (`next_in_queue` in a write session), open (`load_work`), 1-3 drafts
(`save_draft`), a save (`save_annotation`) and a submit (`save_annotation(..., submit=True)`). About one
item in 20 is also open in a second "tab": after the first tab saved, the second saves with the version it
opened, which must raise Conflict (never overwrite silently). A reviewer thread takes `review_stream`
and accepts (3 in 4) or rejects (1 in 4, with a reason; the item goes back to its annotator's queue).

The clock is compressed: a real annotator's draft every 2 s is one every --think-ms (default 20 ms, 100×
faster), and the same pause sits between save and submit. So 50 threads here offer far more load than 50
people: each thread saves as soon as its previous save returned plus 20 ms.

"Saves" are the annotators' writes (draft, save, submit); the run stops at --saves of them (default
10,000). Latency is wall time around the write session as a page sees it (waiting for a pooled connection
and the write lock included). At the end, checks (PASS/FAIL each; exit 1 on any FAIL):
  - no lost writes: every acknowledged write is in the database: each annotation is at the last version
    acknowledged to anyone, its saved results are the last acknowledged save's, its draft the last draft
    acknowledged after that save;
  - every conflicting save (the second tab) got a Conflict;
  - no item over its overlap (active leases + claiming annotations, per item, distinct annotators);
  - no error reached a caller (none "database is locked", nor any other), no unexpected Conflict.
The p95 target (≤ 150 ms) is printed as met / missed: a timing, not a check.

Usage: python bench/load.py [--annotators 50] [--saves 10000] [--think-ms 20] [--overlap 2]
       [--pg postgresql+psycopg://user@host:port/postgres]   (a maintenance database: a bench database is
       created in it and dropped afterwards; without --pg, a temp SQLite file migrated with `upgrade`)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, false, insert, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from store.annotations import load_work, save_annotation, save_draft, saved_work  # noqa: E402
from store.db import get_engine, make_engine, read_session, upgrade, write_session  # noqa: E402
from store.errors import Conflict  # noqa: E402
from store.models import Annotation, Dataset, Item, Lease, User, utcnow  # noqa: E402
from store.team.queue import CLAIMING, next_in_queue  # noqa: E402
from store.team.review import accept, get_for_review, reject, review_stream  # noqa: E402

TARGET_P95_MS = 150.0
TWO_TABS = 0.05  # share of items also opened in a second tab
REJECT = 0.25  # share of reviews that send the item back


# ---------------------------------------------------------------- what happened, as the callers saw it


@dataclass
class Ack:
    version: int
    kind: str  # draft | save | submit | accept | reject
    work: dict[str, Any] | None = None


@dataclass
class Ledger:
    """Everything the callers were told, under one lock (the threads append to it)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    budget: int = 0
    acks: dict[tuple[int, int], list[Ack]] = field(default_factory=lambda: defaultdict(list))
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # ms, by kind
    tab_attempts: int = 0
    tab_conflicts: int = 0
    silent_overwrites: list[str] = field(default_factory=list)
    unexpected_conflicts: list[str] = field(default_factory=list)
    locked: int = 0
    errors: list[str] = field(default_factory=list)
    saves: int = 0

    def take(self) -> bool:
        """One save from the budget; False once it is spent."""
        with self.lock:
            if self.saves >= self.budget:
                return False
            self.saves += 1
            return True

    def ack(self, key: tuple[int, int], ack: Ack, kind: str, ms: float) -> None:
        with self.lock:
            self.acks[key].append(ack)
            self.latency[kind].append(ms)

    def error(self, where: str, exc: BaseException) -> None:
        with self.lock:
            if isinstance(exc, OperationalError) and "database is locked" in str(exc):
                self.locked += 1
            if len(self.errors) < 20:
                self.errors.append(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            else:
                self.errors.append("")


# ---------------------------------------------------------------- the data


@dataclass
class Setup:
    dataset_id: int
    annotators: list[User]
    reviewer: User
    items: int


def build(engine: Engine, *, annotators: int, items: int, overlap: int) -> Setup:
    """Users (no passwords: nobody signs in), a dataset with overlap and review "all", and its items."""
    with Session(engine, expire_on_commit=False) as s:
        people = [User(username=f"annotator{k + 1:02d}", display_name=f"A{k + 1}") for k in range(annotators)]
        reviewer = User(username="reviewer", display_name="Reviewer", role="reviewer")
        ds = Dataset(name="load", settings={"team": {"overlap": overlap, "review": "all"}})
        s.add_all([*people, reviewer, ds])
        s.commit()
        now = utcnow()
        s.execute(
            insert(Item),
            [
                {"dataset_id": ds.id, "external_id": f"item-{i}", "name": "", "position": i,
                 "messages": [{"role": "user", "text": f"Question {i}?"}, {"role": "assistant", "text": "An answer."}],
                 "candidates": [], "meta": {}, "created_at": now}
                for i in range(items)
            ],
        )  # fmt: skip
        s.commit()
        return Setup(dataset_id=ds.id, annotators=people, reviewer=reviewer, items=items)


def work_of(user: User, item_id: int, step: str) -> dict[str, Any]:
    """A working copy whose content says who wrote it at which step (so a lost or mixed write shows)."""
    return {
        "validity": "valid",
        "invalid_reason": "",
        "classifications": {"1": f"{user.username}/{item_id}/{step}"},
        "results": [],
    }


# ---------------------------------------------------------------- the simulated people


@contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append((time.perf_counter() - start) * 1000)


class Annotator(threading.Thread):
    def __init__(
        self, engine: Engine, setup: Setup, user: User, ledger: Ledger, think: float, seed: int
    ) -> None:
        super().__init__(name=user.username, daemon=True)
        self.engine, self.setup, self.user, self.ledger, self.think = engine, setup, user, ledger, think
        self.rng = random.Random(seed)

    def run(self) -> None:
        after: Item | None = None
        while self.ledger.saves < self.ledger.budget:
            try:
                with write_session(self.engine) as s:
                    after = next_in_queue(
                        session=s, user=self.user, dataset_id=self.setup.dataset_id, after=after
                    )
                if after is None:
                    return  # the queue is empty
                self.annotate(after.id)
            except Exception as exc:  # noqa: BLE001 (every error reaching a caller is counted)
                self.ledger.error(f"{self.user.username} item {after.id if after else None}", exc)
                time.sleep(self.think)

    def write(self, kind: str, item_id: int, version: int, work: dict[str, Any]) -> int:
        """One save as a page makes it: a write session around save_draft / save_annotation, timed."""
        with timed() as ms, write_session(self.engine) as s:
            if kind == "draft":
                new = save_draft(session=s, user=self.user, item_id=item_id, work=work, version=version)
            else:
                new = save_annotation(
                    session=s, user=self.user, item_id=item_id, work=work, version=version,
                    submit=kind == "submit",
                )  # fmt: skip
        self.ledger.ack((self.user.id, item_id), Ack(new, kind, work), kind, ms[0])
        return new

    def annotate(self, item_id: int) -> None:
        with read_session(self.engine) as s:
            version = load_work(session=s, user=self.user, item_id=item_id).version
        second_tab = version if self.rng.random() < TWO_TABS else None
        try:
            for d in range(self.rng.randint(1, 3)):
                time.sleep(self.think)  # typing: a draft every 2 s of simulated time
                if not self.ledger.take():
                    return
                version = self.write("draft", item_id, version, work_of(self.user, item_id, f"draft{d}"))
            time.sleep(self.think)
            if not self.ledger.take():
                return
            version = self.write("save", item_id, version, work_of(self.user, item_id, "save"))
            if second_tab is not None and self.ledger.take():
                self.stale_tab(item_id, second_tab)
            time.sleep(self.think)
            if not self.ledger.take():
                return
            self.write("submit", item_id, version, work_of(self.user, item_id, "submit"))
        except Conflict as exc:
            with self.ledger.lock:
                self.ledger.unexpected_conflicts.append(f"{self.user.username} item {item_id}: {exc}")

    def stale_tab(self, item_id: int, opened: int) -> None:
        """The second tab saves with the version it opened: the first tab saved since, so Conflict."""
        with self.ledger.lock:
            self.ledger.tab_attempts += 1
        work = work_of(self.user, item_id, "stale-tab")
        try:
            self.write("save", item_id, opened, work)
        except Conflict:
            with self.ledger.lock:
                self.ledger.tab_conflicts += 1
            return
        with self.ledger.lock:
            self.ledger.silent_overwrites.append(
                f"save_annotation(user={self.user.username}, item_id={item_id}, version={opened}) returned a "
                "new version although the first tab had saved since: expected Conflict"
            )


class Reviewer(threading.Thread):
    def __init__(self, engine: Engine, setup: Setup, ledger: Ledger, think: float, seed: int) -> None:
        super().__init__(name="reviewer", daemon=True)
        self.engine, self.setup, self.ledger, self.think = engine, setup, ledger, think
        self.rng = random.Random(seed)
        self.ids = {u.username: u.id for u in setup.annotators}
        self.done = threading.Event()
        self.reviewed = Counter[str]()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with read_session(self.engine) as s:
                    rows = review_stream(session=s, user=self.setup.reviewer, dataset_id=self.setup.dataset_id,
                                         limit=20)  # fmt: skip
                for row in rows:
                    if self.done.is_set():
                        return
                    self.review(row.annotation_id, (self.ids[row.annotator], row.item_id))
                if not rows:
                    time.sleep(self.think)
            except Exception as exc:  # noqa: BLE001
                self.ledger.error("reviewer", exc)
                time.sleep(self.think)

    def review(self, annotation_id: int, key: tuple[int, int]) -> None:
        user = self.setup.reviewer
        verdict = "reject" if self.rng.random() < REJECT else "accept"
        try:
            with timed() as ms, write_session(self.engine) as s:
                version = get_for_review(session=s, user=user, annotation_id=annotation_id).annotation.version
                if verdict == "accept":
                    new = accept(session=s, user=user, annotation_id=annotation_id, version=version)
                else:
                    new = reject(session=s, user=user, annotation_id=annotation_id, version=version,
                                 reason="Please check the label again.")  # fmt: skip
        except Conflict as exc:
            with self.ledger.lock:
                self.ledger.unexpected_conflicts.append(
                    f"reviewer {verdict} annotation {annotation_id}: {exc}"
                )
            return
        self.ledger.ack(key, Ack(new, verdict), "review", ms[0])
        self.reviewed[verdict] += 1


# ---------------------------------------------------------------- the checks


def check_writes(engine: Engine, setup: Setup, ledger: Ledger) -> list[str]:
    """Every acknowledged write in the database: the last version, the last save's results, the last draft."""
    problems: list[str] = []
    with Session(engine) as s:
        anns = {
            (a.annotator_id, a.item_id): a
            for a in s.exec(
                select(Annotation).where(
                    Annotation.dataset_id == setup.dataset_id, Annotation.final == false()
                )
            ).all()
        }
        for key, acks in ledger.acks.items():
            ann = anns.get(key)
            where = f"annotation of user {key[0]} on item {key[1]}"
            if ann is None:
                problems.append(f"{where}: {len(acks)} acknowledged writes, none in the database")
                continue
            last = max(a.version for a in acks)
            if ann.version != last:
                problems.append(f"{where}: version {ann.version} in the database, {last} acknowledged last")
            mine = sorted((a for a in acks if a.kind in ("draft", "save", "submit")), key=lambda a: a.version)
            saves = [a for a in mine if a.kind != "draft"]
            if saves:
                stored = saved_work(s, ann)["classifications"]
                if stored != saves[-1].work["classifications"]:  # type: ignore[index]
                    problems.append(f"{where}: saved {stored}, last acknowledged save {saves[-1].work}")
            drafts_after = [
                a for a in mine if a.kind == "draft" and (not saves or a.version > saves[-1].version)
            ]
            expected_draft = drafts_after[-1].work if drafts_after else None
            if (ann.draft or None) != expected_draft:
                problems.append(f"{where}: draft {ann.draft} in the database, expected {expected_draft}")
            final = max(acks, key=lambda a: a.version)
            expected_status = {"submit": "submitted", "accept": "accepted", "reject": "rejected"}.get(
                final.kind
            )
            if expected_status and ann.status != expected_status:
                problems.append(
                    f"{where}: status {ann.status}, expected {expected_status} after {final.kind}"
                )
    return problems


def check_overlap(engine: Engine, setup: Setup, overlap: int) -> list[str]:
    """Per item: distinct annotators with an active lease or a claiming annotation ≤ overlap."""
    holders: dict[int, set[int]] = defaultdict(set)
    now = utcnow()
    with Session(engine) as s:
        for item_id, user_id in s.exec(
            select(Lease.item_id, Lease.user_id).where(
                Lease.dataset_id == setup.dataset_id, Lease.skipped == false(), Lease.expires_at > now
            )
        ).all():
            holders[item_id].add(user_id)
        for item_id, user_id in s.exec(
            select(Annotation.item_id, Annotation.annotator_id).where(
                Annotation.dataset_id == setup.dataset_id,
                Annotation.final == false(),
                Annotation.status.in_(CLAIMING),
            )
        ).all():
            holders[item_id].add(user_id)
    return [f"item {i}: {len(u)} holders > overlap {overlap}" for i, u in holders.items() if len(u) > overlap]


# ---------------------------------------------------------------- the run


@dataclass
class Result:
    checks: dict[str, bool]
    lines: list[str]

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run(
    url: str,
    *,
    annotators: int = 50,
    saves: int = 10_000,
    think_ms: float = 20.0,
    overlap: int = 2,
    seed: int = 1,
    out: Callable[[str], None] = print,
) -> Result:
    """Build the data in the (migrated, empty) database at `url`, run the load, check; prints as it goes."""
    engine = make_engine(url)
    try:
        items = max(200, saves // 2)  # ~4.5 saves per visit, `overlap` visits per item: never runs dry
        setup = build(engine, annotators=annotators, items=items, overlap=overlap)
        ledger = Ledger(budget=saves)
        think = think_ms / 1000
        people = [
            Annotator(engine, setup, u, ledger, think, seed * 1000 + k)
            for k, u in enumerate(setup.annotators)
        ]
        reviewer = Reviewer(engine, setup, ledger, think, seed)
        dialect = engine.dialect.name
        out(
            f"load: {dialect}, {annotators} annotators + 1 reviewer (threads), {items:,} items, overlap {overlap}, "
            f"review all; budget {saves:,} saves; compressed clock: a draft every 2 s simulated = every "
            f"{think_ms:g} ms here"
        )
        load_before = os.getloadavg()
        start = time.perf_counter()
        reviewer.start()
        for p in people:
            p.start()
        for p in people:
            p.join()
        wall = time.perf_counter() - start
        reviewer.done.set()
        reviewer.join(60)
        load_after = os.getloadavg()
        return report(engine, setup, ledger, reviewer, overlap, wall, load_before, load_after, out)
    finally:
        engine.dispose()


def report(
    engine: Engine,
    setup: Setup,
    ledger: Ledger,
    reviewer: Reviewer,
    overlap: int,
    wall: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    out: Callable[[str], None],
) -> Result:
    lat = ledger.latency
    writes = lat["draft"] + lat["save"] + lat["submit"]
    lines = [
        f"saves: {len(writes):,} acknowledged in {wall:.1f} s = {len(writes) / wall:,.0f} saves/s "
        f"(drafts {len(lat['draft']):,}, saves {len(lat['save']):,}, submits {len(lat['submit']):,}); "
        f"reviews {len(lat['review']):,} (accepted {reviewer.reviewed['accept']:,}, "
        f"rejected {reviewer.reviewed['reject']:,})",
    ]
    for name, values in (("all saves", writes), ("draft", lat["draft"]), ("save", lat["save"]),
                         ("submit", lat["submit"]), ("review", lat["review"])):  # fmt: skip
        if values:
            lines.append(
                f"  {name:9} latency ms: p50 {pct(values, 50):6.1f}  p95 {pct(values, 95):6.1f}  "
                f"p99 {pct(values, 99):6.1f}  max {max(values):7.1f}  mean {statistics.fmean(values):6.1f}"
            )
    lines.append(
        f"conflicts: expected {ledger.tab_conflicts} (second tab, of {ledger.tab_attempts} stale saves), "
        f"unexpected {len(ledger.unexpected_conflicts)}; silent overwrites {len(ledger.silent_overwrites)}"
    )
    lines.append(
        f'errors reaching a caller: {len(ledger.errors)} (of which "database is locked": {ledger.locked})'
    )
    lines.append(
        "load average (1/5/15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f} on {} CPUs".format(
            *load_before, *load_after, os.cpu_count()
        )
    )
    p95 = pct(writes, 95)
    lines.append(
        f"target p95 save ≤ {TARGET_P95_MS:g} ms: {'met' if p95 <= TARGET_P95_MS else 'MISSED'} ({p95:.1f} ms)"
    )
    lost = check_writes(engine, setup, ledger)
    over = check_overlap(engine, setup, overlap)
    checks = {
        "zero lost writes (every acknowledged save in the database, last version and content)": not lost,
        "every conflicting save got a Conflict (no silent overwrite)": (
            ledger.tab_conflicts == ledger.tab_attempts and not ledger.silent_overwrites
        ),
        "no unexpected Conflict": not ledger.unexpected_conflicts,
        "no item over its overlap": not over,
        'no error reached a caller (incl. "database is locked")': not ledger.errors,
    }
    for name, ok in checks.items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name}")
    details = lost[:10] + over[:10] + ledger.silent_overwrites[:10] + ledger.unexpected_conflicts[:10]
    details += [e for e in ledger.errors if e][:10]
    lines += [f"  - {d}" for d in details]
    for line in lines:
        out(line)
    return Result(checks=checks, lines=lines)


@contextmanager
def bench_database(pg: str | None) -> Iterator[str]:
    """A migrated empty database: a temp SQLite file, or a new database on the --pg server, dropped after."""
    if pg is None:
        with tempfile.TemporaryDirectory(prefix="parley-load-") as tmp:
            url = f"sqlite:///{tmp}/load.db"
            upgrade(url)
            get_engine(url).dispose()
            yield url
        return
    name = f"parley_load_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = make_engine(pg).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        get_engine(url).dispose()
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Run the bench; 0 when every check passes, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--saves", type=int, default=10_000)
    parser.add_argument(
        "--think-ms", type=float, default=20.0, help="a 2 s pause of simulated time (default 20)"
    )
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pg", help="a PostgreSQL maintenance database URL (postgresql+psycopg://…/postgres)"
    )
    args = parser.parse_args(argv)
    with bench_database(args.pg) as url:
        result = run(
            url, annotators=args.annotators, saves=args.saves, think_ms=args.think_ms, overlap=args.overlap,
            seed=args.seed, out=out,
        )  # fmt: skip
    out("PASS" if result.passed else "FAIL")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
