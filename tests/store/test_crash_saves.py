"""`kill -9` of a process whose threads save annotations concurrently (tests/store/save_writer.py: four
annotators, each saving or keeping a draft of its item without a pause), on SQLite and PostgreSQL: every
annotation is then exactly as after its last acknowledged write or as after the one in flight (old or
new), never half of one: all six results and the classifications of one generation, the draft whole.
The browser side (a draft typed while the app server is killed) is tests/browser/test_server_kill.py."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, select

from store.db import get_engine
from store.models import Annotation, Item, Result, User
from tests.conftest import ROOT
from tests.seed import seed
from tests.store.save_writer import MESSAGES

USERS = ["ann1", "ann2", "ann3", "ann4"]
ONTOLOGY = {
    "classes": [
        {"name": "score", "alias": "Score", "number": 1, "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "gen", "type": "number"}, {"name": "note", "type": "text"}]},
    ]
}  # fmt: skip
ROUNDS = 2

State = tuple[int, Any, Any, Any]  # version, results' generation, classifications' generation, draft's


def _one(values: set[Any], what: str) -> Any:
    assert len(values) <= 1, f"half a write: {what} mixes generations {values}"
    return next(iter(values), None)


def _state(session: Session, user_id: int, item_id: int) -> State:
    """The stored state, checked whole: one generation across results and classifications, and the draft."""
    ann = session.exec(
        select(Annotation).where(Annotation.item_id == item_id, Annotation.annotator_id == user_id)
    ).first()
    if ann is None:
        return (0, None, None, None)
    rows = session.exec(select(Result).where(Result.annotation_id == ann.id)).all()
    assert len(rows) in (0, len(MESSAGES)), f"half a save: {len(rows)} results"
    gens = _one({r.values["gen"] for r in rows}, "the results")
    assert (ann.classifications or {}).get("gen") == gens, "the classifications and the results differ"
    draft = None
    if ann.draft is not None:
        assert len(ann.draft["results"]) == len(MESSAGES), "half a draft"
        draft = _one({r["values"]["gen"] for r in ann.draft["results"]} | {ann.draft["classifications"]["gen"]},
                     "the draft")  # fmt: skip
    return (ann.version, gens, gens, draft)


def _settled(engine: Engine) -> None:
    """On PostgreSQL, wait until the killed writer's connections are gone: a COMMIT it sent just before
    the kill may still be applied by its server process, and the check must see the final state."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            others = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")).scalar_one()  # fmt: skip
        if not others:
            return
        time.sleep(0.05)
    raise AssertionError("the killed writer's connections did not end in 20 s")


def _after(state: State, gen: int) -> State:
    """The state after generation `gen`'s write (save when even, draft when odd)."""
    version = state[0] + 1
    return (version, gen, gen, None) if gen % 2 == 0 else (version, state[1], state[2], gen)


def test_killed_writer_leaves_every_annotation_old_or_new(url: str, tmp_path: Path) -> None:
    items = [{"id": f"i{n}", "messages": [{"role": "user" if t % 2 == 0 else "assistant", "content": f"turn {t}"}
                                           for t in range(12)]} for n in range(len(USERS))]  # fmt: skip
    seed(url, str(tmp_path / "blobs"), tmp_path, users=dict.fromkeys(USERS, "annotator"), dataset="d",
         items=items, ontology=ONTOLOGY, password="writer-pass-1")  # fmt: skip
    engine = get_engine(url)
    with Session(engine) as s:
        user_ids = {u.username: u.id for u in s.exec(select(User)).all()}
        item_ids = [i.id for i in s.exec(select(Item).order_by(Item.position)).all()]
    pairs = dict(zip(USERS, item_ids, strict=True))
    rng = random.Random()
    for round_ in range(ROUNDS):
        with Session(engine) as s:
            before = {u: _state(s, user_ids[u], pairs[u]) for u in USERS}
        first = 1000 * (round_ + 1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.save_writer", url, str(first), *(f"{u}:{i}" for u, i in pairs.items())],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        # every annotator's first acknowledgement: all the writers are at work (waiting for the first one only,
        # a loaded machine once gave two of the four threads no turn before the kill)
        lines: list[str] = []
        while {line.split()[1] for line in lines} != set(USERS):
            lines.append(proc.stdout.readline())
            assert lines[-1].startswith("ack"), proc.stderr.read() if proc.stderr else ""
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # read through the same text wrapper as the first line: communicate() reads the pipe underneath it,
        # and the acknowledgements the first readline() had buffered were lost (seen under load)
        rest, err = proc.stdout.read(), proc.stderr.read() if proc.stderr else ""
        lines += rest.splitlines()
        acked: dict[str, list[tuple[int, int]]] = {u: [] for u in USERS}
        for line in lines:
            if line.startswith("ack "):
                _, user, _kind, gen, version = line.split()
                acked[user].append((int(gen), int(version)))
        assert all(acked.values()), f"an annotator never saved: {acked} {err[-2000:]}"
        _settled(engine)
        with Session(engine) as s:
            for user in USERS:
                state = before[user]
                for gen, version in acked[user]:
                    state = _after(state, gen)
                    assert state[0] == version, (user, gen, state, version)
                old, new = state, _after(state, acked[user][-1][0] + 1)
                now = _state(s, user_ids[user], pairs[user])
                assert now in (old, new), f"{user}: stored {now}, acknowledged {old}, in flight {new}"
        print(f"round {round_ + 1}: " + ", ".join(f"{u} {len(acked[u])} writes" for u in USERS))
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    engine.dispose()
