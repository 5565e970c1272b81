"""`kill -9` of `python -m store import` at random moments of a big import, on SQLite and PostgreSQL.

For each database: a generated JSONL (default 200 MB, bench/import.py's dialogues) is imported once into
a scratch dataset to time a whole run (T); then, 30 times, `python -m store import big FILE` is started
and killed with SIGKILL after a random delay in [0, T). After every kill:
  - integrity: SQLite `PRAGMA integrity_check` = ok and `PRAGMA foreign_key_check` empty; PostgreSQL
    amcheck (`bt_index_check` on every index, `verify_heapam` on every table) when the extension can be
    created; on both, no row whose foreign key names a missing row (every foreign key of the schema);
  - nothing partial visible: the datasets an annotator lists through the store (`list_datasets`) are
    either absent or complete (the file's item count and a finished import job);
  - no process of the import left running (the parser child exits when its parent dies).
A kill that lands after the commit leaves a complete dataset: the next kills go to a new dataset name.
At the end the import is re-run to completion into the last name: exactly the file's items (count and
distinct ids), and the killed runs' temp folders are gone.

    .venv/bin/python bench/crash_import.py                    # 200 MB, 30 kills, SQLite and PostgreSQL
    .venv/bin/python bench/crash_import.py --mb 50 --kills 10 --db sqlite
    .venv/bin/python bench/crash_import.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Without --pg a throwaway PostgreSQL server is started from /usr/lib/postgresql/*/bin (as in the tests).
Prints the counts per database and exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, text  # noqa: E402
from sqlmodel import Session, SQLModel, select  # noqa: E402

import store.models  # noqa: E402, F401  (registers the tables)
from store.datasets import list_datasets  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.models import Dataset, ImportJob, Item, User  # noqa: E402
from store.users import create_user  # noqa: E402

VIEWER = "crash-viewer"  # the annotator who lists datasets after each kill


def write_jsonl(path: Path, mb: float) -> int:
    """bench/import.py's dialogues (6 turns, 2 candidates, ~2 KB each) until `path` holds `mb` MB."""
    spec = importlib.util.spec_from_file_location("bench_import", Path(__file__).with_name("import.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.write_jsonl(path, mb)


# ---------------------------------------------------------------- one import, killed or not


@dataclass
class Run:
    killed: bool  # SIGKILL reached a live process
    # starting: no progress line yet (the CLI's start, schema check, the dataset row and job made in the
    # open transaction, the parser child's start, the first batch) | writing: progress lines | committed:
    # the summary printed, the process not yet gone (background WAL checkpoint) | finished: exited first
    phase: str
    seconds: float
    stdout: str
    stderr: str
    returncode: int | None


def run_import(
    env: dict[str, str], dataset: str, source: Path, *, kill_after: float | None, at_progress: int = 0
) -> Run:
    """`python -m store import DATASET SOURCE`; with `kill_after`, SIGKILL that many seconds after the
    start, or, with `at_progress` N, that many seconds after its Nth progress line (items being written)."""
    lines: list[str] = []
    seen = threading.Event()

    def read(stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            lines.append(line)
            if at_progress and sum(" items/s" in x for x in lines) >= at_progress:
                seen.set()
        seen.set()  # (the stream ended: the process exited)

    with tempfile.TemporaryFile("w+") as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "store", "import", dataset, str(source)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        reader = threading.Thread(target=read, args=(proc.stderr,), daemon=True)
        reader.start()
        killed = False
        if at_progress:
            seen.wait()
        if kill_after is None:
            proc.wait()
        else:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                proc.wait()
        seconds = time.monotonic() - start
        reader.join(10)
        out.seek(0)
        stdout, stderr = out.read(), "".join(lines)
    if not killed:
        phase = "finished"
    elif "imported into" in stdout:
        phase = "committed"
    elif " items/s" in stderr:
        phase = "writing"
    else:
        phase = "starting"
    return Run(killed, phase, seconds, stdout, stderr, None if killed else proc.returncode)


def leftover_processes(mark: str, timeout: float = 10.0) -> int:
    """Processes still carrying `mark` in their environment (the killed importer's parser child), after
    waiting up to `timeout` s for them to notice their parent is gone."""
    deadline = time.monotonic() + timeout
    while True:
        found = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if mark.encode() in (proc / "environ").read_bytes():
                    status = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    found += status != "Z"
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# ---------------------------------------------------------------- checks after a kill


def integrity_problems(url: str) -> list[str]:
    """What the database's own integrity checks report (empty: none)."""
    problems: list[str] = []
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems.append(f"integrity_check: {result[:5]}")
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
            if fk:
                problems.append(f"foreign_key_check: {len(fk)} rows, e.g. {fk[:3]}")
        finally:
            conn.close()
    else:
        engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                try:
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
                except Exception as exc:  # not superuser, or contrib missing: say so, do the rest
                    problems.append(f"amcheck unavailable: {str(exc).splitlines()[0]}")
                else:
                    indexes = conn.execute(text(
                        "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE a.amname = 'btree' AND n.nspname = 'public'"
                    )).scalars().all()  # fmt: skip
                    for index in indexes:
                        conn.execute(text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index})
                    tables = conn.execute(text(
                        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"
                    )).scalars().all()  # fmt: skip
                    for table in tables:
                        bad = conn.execute(
                            text("SELECT count(*) FROM verify_heapam(CAST(:t AS regclass))"), {"t": table}
                        ).scalar_one()
                        if bad:
                            problems.append(f"verify_heapam({table}): {bad} problems")
        finally:
            engine.dispose()
    problems += orphan_problems(url)
    return problems


def orphan_problems(url: str) -> list[str]:
    """Rows whose foreign key names a row that does not exist, for every foreign key of the schema."""
    problems = []
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                for fk in table.foreign_keys:
                    child, parent = fk.parent, fk.column
                    q = conn.dialect.identifier_preparer.quote  # ("user" is a reserved word)
                    sql = (
                        f"SELECT count(*) FROM {q(table.name)} c WHERE c.{q(child.name)} IS NOT NULL AND NOT "
                        f"EXISTS (SELECT 1 FROM {q(parent.table.name)} p WHERE p.{q(parent.name)} = c.{q(child.name)})"
                    )
                    n = conn.execute(text(sql)).scalar_one()
                    if n:
                        problems.append(
                            f"{n} {table.name}.{child.name} rows name a missing {parent.table.name}"
                        )
    finally:
        engine.dispose()
    return problems


def visible_partial(url: str, expected: int) -> list[str]:
    """Datasets an annotator sees through the store that are not whole (items != expected, or the
    import that made them not finished)."""
    engine = make_engine(url)
    partial = []
    try:
        with Session(engine) as session:
            viewer = session.exec(select(User).where(User.username == VIEWER)).one()
            for ds in list_datasets(session=session, user=viewer):
                items = session.exec(
                    select(func.count()).select_from(Item).where(Item.dataset_id == ds.id)
                ).one()
                done = session.exec(
                    select(func.count()).select_from(ImportJob).where(
                        ImportJob.dataset_id == ds.id, ImportJob.status == "done"
                    )
                ).one()  # fmt: skip
                if items != expected or not done:
                    partial.append(f"{ds.name}: {items} items, finished jobs {done}")
    finally:
        engine.dispose()
    return partial


def wait_pg_idle(url: str, timeout: float = 20.0) -> None:
    """Wait until no other connection is open on this PostgreSQL database (the killed client's backend
    has noticed and rolled back), so the checks see the database at rest."""
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                others = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )).scalar_one()  # fmt: skip
            if not others:
                return
            time.sleep(0.05)
    finally:
        engine.dispose()


def item_counts(url: str, dataset: str) -> tuple[int, int]:
    """(items, distinct external ids) of `dataset`."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            ds = session.exec(select(Dataset).where(Dataset.name == dataset)).one()
            n = session.exec(select(func.count()).select_from(Item).where(Item.dataset_id == ds.id)).one()
            distinct = session.exec(
                select(func.count(func.distinct(Item.external_id))).where(Item.dataset_id == ds.id)
            ).one()
    finally:
        engine.dispose()
    return n, distinct


# ---------------------------------------------------------------- the run


@dataclass
class Result:
    kills: int = 0
    phases: Counter = field(default_factory=Counter)
    integrity_ok: int = 0
    partial_visible: int = 0
    leftover_processes: int = 0
    final_items: int = -1
    final_distinct: int = -1
    expected: int = 0
    temp_left: int = -1
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.integrity_ok == self.kills
            and self.partial_visible == 0
            and self.leftover_processes == 0
            and self.final_items == self.final_distinct == self.expected
            and self.temp_left == 0
            and not self.problems
        )


def crash_run(
    url: str,
    source: Path,
    expected: int,
    *,
    work: Path,
    kills: int,
    delays: Callable[[], tuple[float, int]],
    out: Callable[[str], None] = print,
    extra_env: dict[str, str] | None = None,
) -> Result:
    """Kill `kills` imports of `source` into `url` (an empty migrated database), each after `delays()` s,
    checking after each; then import to completion. `delays()` gives (seconds, N): kill that many seconds
    after the start (N = 0) or after the Nth progress line. `expected`: the file's item count."""
    mark = uuid.uuid4().hex
    temp = work / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "DATABASE_URL": url, "PARLEY_BLOBS": str(work / "blobs"), "PARLEY_TMP": str(temp),
        "PYTHONUNBUFFERED": "1", "PARLEY_CRASH_MARK": mark, **(extra_env or {}),
    }  # fmt: skip
    engine = make_engine(url)
    with Session(engine) as session:
        create_user(session=session, username=VIEWER, password="viewer-pass-1234", role="annotator")
        session.commit()
    engine.dispose()
    result = Result(expected=expected)
    generation = 1
    while result.kills < kills:
        dataset = f"big{generation}"
        delay, at_progress = delays()
        run = run_import(env, dataset, source, kill_after=delay, at_progress=at_progress)
        result.phases[run.phase] += 1
        if not run.killed:
            if run.returncode != 0:
                result.problems.append(f"an import ended with {run.returncode}: {run.stderr[-500:]}")
            generation += 1  # finished before the kill came: the next kills go to a new dataset
            continue
        result.kills += 1
        left = leftover_processes(mark)
        result.leftover_processes += left
        if url.startswith("postgresql"):
            wait_pg_idle(url)
        problems = integrity_problems(url)
        hard = [p for p in problems if not p.startswith("amcheck unavailable")]
        result.integrity_ok += not hard
        partial = visible_partial(url, expected)
        result.partial_visible += bool(partial)
        complete = not partial and dataset in _names(url)
        if complete:
            generation += 1  # the kill came after the commit: the dataset is whole; go on with a new one
        out(
            f"  kill {result.kills:>2} at {run.seconds:5.2f} s ({run.phase:9}): integrity "
            f"{'ok' if not hard else 'FAIL ' + '; '.join(hard)}, partial visible {len(partial)}"
            f"{' ' + str(partial) if partial else ''}, processes left {left}"
            f"{', dataset complete' if complete else ''}"
        )
        if problems and not hard and result.kills == 1:
            out(f"  ({problems[0]})")
    final = run_import(env, f"big{generation}", source, kill_after=None)
    if final.returncode != 0:
        result.problems.append(f"the final import failed ({final.returncode}): {final.stderr[-500:]}")
    else:
        result.final_items, result.final_distinct = item_counts(url, f"big{generation}")
        for name in _names(url):
            n, _ = item_counts(url, name)
            if n != expected:
                result.problems.append(f"dataset {name}: {n} items, the file has {expected}")
    result.temp_left = len(list(temp.iterdir()))
    result.leftover_processes += leftover_processes(mark, timeout=2)
    return result


def _names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Dataset.name)).all())
    finally:
        engine.dispose()


def summary(label: str, r: Result) -> str:
    phases = ", ".join(f"{k} {v}" for k, v in sorted(r.phases.items()))
    return (
        f"{label}: kills {r.kills} ({phases}); integrity ok {r.integrity_ok}/{r.kills}; partial visible "
        f"{r.partial_visible}; processes left {r.leftover_processes}; final items {r.final_items:,} "
        f"(distinct ids {r.final_distinct:,}) == file's {r.expected:,}: "
        f"{r.final_items == r.final_distinct == r.expected}; temp folders left {r.temp_left}"
        + (f"; problems: {r.problems}" if r.problems else "")
        + f" -> {'PASS' if r.passed else 'FAIL'}"
    )


# ---------------------------------------------------------------- databases for the bench


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temp dir on a free port (STACK-NOTES recipe); yields its maintenance URL."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not bins:
        raise SystemExit("no PostgreSQL binaries under /usr/lib/postgresql: pass --pg URL or --db sqlite")
    bindir = bins[0].parent
    tmp = Path(tempfile.mkdtemp(prefix="parley-crash-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp / "data"
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1"
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def new_pg_database(maintenance_url: str, name: str) -> str:
    from store.db import upgrade

    admin = make_engine(maintenance_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = maintenance_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    from store.db import get_engine

    get_engine(url).dispose()
    return url


def bench_one(
    label: str, url: str, source: Path, expected: int, work: Path, kills: int, rng: random.Random
) -> Result:
    calibrate = run_import(
        {**os.environ, "DATABASE_URL": url, "PARLEY_BLOBS": str(work / "blobs"), "PYTHONUNBUFFERED": "1"},
        "calibration", source, kill_after=None,
    )  # fmt: skip
    if calibrate.returncode != 0:
        raise SystemExit(f"{label}: the timing import failed: {calibrate.stderr[-1000:]}")
    whole = calibrate.seconds
    print(
        f"{label}: a whole import takes {whole:.1f} s (process start to exit); kills at uniform [0, {whole:.1f}) s"
    )
    # The timing import's dataset stays: it is whole, and every check also covers it.
    result = crash_run(
        url, source, expected, work=work, kills=kills, delays=lambda: (rng.uniform(0, whole), 0), out=print
    )
    print(summary(label, result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200, help="size of the generated JSONL (default 200)")
    parser.add_argument("--kills", type=int, default=30, help="kills per database (default 30)")
    parser.add_argument("--db", choices=["both", "sqlite", "postgres"], default="both")
    parser.add_argument("--pg", help="a PostgreSQL maintenance database URL (default: a throwaway server)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    # Stopped with SIGTERM, still stop the throwaway PostgreSQL server and remove the temp files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="parley-crash-") as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "dialogues.jsonl"
        expected = write_jsonl(source, args.mb)
        print(f"generated {expected:,} items, {source.stat().st_size / 2**20:,.0f} MB; seed {seed}")
        print(f"loadavg at start: {os.getloadavg()}")
        if args.db in ("both", "sqlite"):
            from store.db import get_engine, upgrade

            url = f"sqlite:///{tmp / 'crash.db'}"
            upgrade(url)
            get_engine(url).dispose()
            results.append(bench_one("SQLite", url, source, expected, tmp / "sqlite", args.kills, rng))
            print(f"loadavg: {os.getloadavg()}")
        if args.db in ("both", "postgres"):
            with contextlib.ExitStack() as stack:
                maintenance = args.pg or stack.enter_context(throwaway_postgres())
                url = new_pg_database(maintenance, f"parley_crash_{os.getpid()}")
                results.append(bench_one("PostgreSQL", url, source, expected, tmp / "pg", args.kills, rng))
                print(f"loadavg: {os.getloadavg()}")
    ok = all(r.passed for r in results)
    print("ALL PASS" if ok else "SOME CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
