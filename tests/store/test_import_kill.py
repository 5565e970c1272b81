"""A `kill -9` in the middle of `python -m store import` leaves no half-imported dataset and no temp files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import ROOT


def _write_big_jsonl(path: Path, n: int) -> None:
    with path.open("w") as out:
        for i in range(n):
            msgs = [{"role": "user" if t % 2 == 0 else "assistant", "content": f"turn {t} of {i} " + "x" * 100}
                    for t in range(6)]  # fmt: skip
            out.write(json.dumps({"id": f"d{i}", "messages": msgs}) + "\n")


def _cli(env: dict[str, str], *args: str, wait: bool = True):  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "store", *args]
    if wait:
        return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_import_leaves_nothing_and_import_again_works(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    _write_big_jsonl(big, 100_000)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "PARLEY_BLOBS": str(tmp_path / "blobs"),
           "PARLEY_TMP": str(temp)}  # fmt: skip
    proc = _cli(env, "import", "big", str(big), wait=False)
    # Wait until it reports progress (items are being inserted), then kill it hard.
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        char = proc.stderr.read(1)
        seen += char
        if " items/s" in seen or not char:
            break
    assert " items/s" in seen, seen
    assert proc.poll() is None, "the import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert [p.name for p in temp.iterdir()] == [
        f.name for f in temp.iterdir() if f.name.startswith("parley-import-")
    ]

    engine = create_engine(f"sqlite:///{tmp_path}/p.db")
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from item")).scalar_one() == 0
        assert conn.execute(text("select count(*) from dataset where name = 'big'")).scalar_one() == 0
    engine.dispose()

    small = tmp_path / "small.jsonl"
    _write_big_jsonl(small, 50)
    done = _cli(env, "import", "big", str(small), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "50 items, 300 messages" in done.stdout
    assert list(temp.iterdir()) == []  # the killed run's temp folder was cleaned at this start


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "narrator", "content": "x"}]}\n')
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
        "PARLEY_BLOBS": str(tmp_path / "blobs"),
    }
    done = _cli(env, "import", "d1", str(bad), "--quiet")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad.jsonl, line 1" in done.stderr and "narrator" in done.stderr
    listed = _cli(env, "datasets", "list")
    assert "d1" not in listed.stdout.split()
