"""`python -m store models …`, `generate` and `judge` against the fake OpenAI-compatible server: exit 0 when
every item got its reply, 1 when some failed (named on stderr), 2 with one line on bad input and nothing
written; and a generate whose process is killed mid-way is taken up by the next process and finishes with
each item answered once, in a worker process as the app starts them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from store.cli import main
from store.db import get_engine, upgrade
from store.llm.jobs import claim_orphans, start_runner
from store.models import GenerationJob, Item
from tests.conftest import ROOT, eventually
from tests.fake_openai import FakeServer
from tests.utils import make_dataset


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer(delay=0.02) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A file SQLite database with dataset "pilot" (p1…p4, p3 always failing), DATABASE_URL pointing at it."""
    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PARLEY_LLM_BACKOFF", "0.01")
    monkeypatch.setenv("PARLEY_LLM_ATTEMPTS", "2")
    engine = get_engine(url)
    with Session(engine) as session:
        ds = make_dataset(session, "pilot")
        for i, text in enumerate(["Hello", "Bonjour", "Broken [fault:500]", "Hola"]):
            session.add(Item(dataset_id=ds.id, external_id=f"p{i + 1}", position=i,
                             messages=[{"role": "user", "text": text}]))  # fmt: skip
        session.commit()
    yield engine
    engine.dispose()


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _jobs(engine: Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(GenerationJob)).one()


def test_models_and_generate_exit_codes(db: Engine, fake: FakeServer, capsys: pytest.CaptureFixture) -> None:
    assert _run(capsys, "models", "add", "m1", "--base-url", fake.url, "--model", "alpha")[0] == 0
    assert _run(capsys, "models", "add", "m2", "--base-url", fake.url, "--model", "beta",
                "--api-key-env", "M2_KEY", "--concurrency", "2")[0] == 0  # fmt: skip
    code, out, _ = _run(capsys, "models", "list")
    assert code == 0 and "m2\tbeta at " in out and "key from $M2_KEY, concurrency 2" in out

    for args, says in [
        (("models", "add", "m3", "--base-url", "ftp://x", "--model", "a"), "http(s) URL"),
        (("models", "add", "m1", "--base-url", fake.url, "--model", "a"), "exists already"),
        (("models", "remove", "nope"), "no model named 'nope'"),
        (("generate", "nope", "--model", "m1"), "nope"),
        (("generate", "pilot", "--model", "zz"), "no model named 'zz'"),
        (("generate", "pilot", "--model", "m2"), "M2_KEY"),  # its key's variable is not set
        (("generate", "pilot", "--model", "m1", "--items", "p1,p9"), "'p9' is not an item"),
        (("generate", "pilot", "--model", "m1", "--limit", "0"), "--limit 0"),
    ]:
        code, _, err = _run(capsys, *args)
        assert code == 2 and err.count("\n") == 1 and says in err, (args, err)
    assert _jobs(db) == 0, "bad input writes no job"

    code, out, err = _run(capsys, "generate", "pilot", "--model", "m1", "--items", "p1,p2")
    assert (code, err) == (0, "") and "2 replies written, 0 already there, 0 failed of 2" in out
    os.environ["M2_KEY"] = "k-123456789"
    try:
        code, out, err = _run(capsys, "generate", "pilot", "--model", "m1", "--model", "m2")
    finally:
        del os.environ["M2_KEY"]
    assert code == 1 and "4 replies written, 2 already there, 2 failed of 8" in out
    assert "k-123456789" not in out + err + _run(capsys, "models", "list")[1]
    assert sorted(err.splitlines()) == [
        "failed: item p3 · m1: HTTP 500: The server had an error (after 2 attempts)",
        "failed: item p3 · m2: HTTP 500: The server had an error (after 2 attempts)",
    ]
    with Session(db) as s:
        rows = {i.external_id: sorted(c["model"] for c in i.candidates or []) for i in s.exec(select(Item))}
    assert rows == {"p1": ["m1", "m2"], "p2": ["m1", "m2"], "p3": [], "p4": ["m1", "m2"]}
    assert _run(capsys, "models", "remove", "m2")[0] == 0


def test_a_killed_generate_is_resumed_by_the_next_process(
    db: Engine, tmp_path: Path, fake: FakeServer
) -> None:
    assert (
        main(["models", "add", "slow", "--base-url", fake.url, "--model", "alpha", "--concurrency", "1"]) == 0
    )
    with Session(db) as session:
        ds = make_dataset(session, "many")
        for i in range(20):
            # The CLI's one request at a time meets an answer that takes 30 s at q5: it is killed
            # while waiting (the next process is answered at once: the fault is for the first ask).
            text = f"question {i}" + (" [fault:slowx1:30]" if i == 5 else "")
            session.add(Item(dataset_id=ds.id, external_id=f"q{i}", position=i,
                             messages=[{"role": "user", "text": text}]))  # fmt: skip
        session.commit()
        many = ds.id
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-m", "store", "generate", "many", "--model", "slow"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def answered() -> int:
        with Session(db) as s:
            return s.exec(select(GenerationJob.done)).first() or 0

    eventually(lambda: answered() == 5, timeout=60, what="the CLI's answers before q5")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with Session(db) as s:
        job = s.exec(select(GenerationJob)).one()
        assert (job.status, job.done) == ("running", 5)
    time.sleep(0.05)
    # The owner is a process of this machine that is gone: taken up at once, no heartbeat wait.
    assert claim_orphans(engine=db) == [job.id]
    assert claim_orphans(engine=db) == [], "claimed once"
    # As the app's watcher does: a worker process takes the job over and runs it to its end.
    assert start_runner(job_id=job.id).wait(60) == 0
    with Session(db) as s:
        ended = s.get(GenerationJob, job.id)
    assert (ended.status, ended.done, ended.failed) == ("done", 20, 0)
    assert ended.owner != job.owner and str(os.getpid()) not in ended.owner.split(":")[1]
    with Session(db) as s:
        counts = [len(i.candidates or []) for i in s.exec(select(Item).where(Item.dataset_id == many))]
    assert counts == [1] * 20, "each item answered once"
    assert json.dumps(ended.errors) == "[]"
