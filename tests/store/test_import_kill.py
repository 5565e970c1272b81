"""`kill -9` of `python -m store import` while it writes, on SQLite and PostgreSQL: no half-imported dataset,
the database intact, no process or temp files left; and the CLI's refusal of bad input."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_crash_import", ROOT / "bench" / "crash_import.py")
crash = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["bench_crash_import"] = crash  # (its dataclasses look their module up)
spec.loader.exec_module(crash)  # type: ignore[union-attr]


# Each kill costs a CLI start (~3 s of imports on CI's 2 cores), so the test keeps to a few.
KILLS = 2


def _cli(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "store", *args]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 12 MB JSONL of bench/import.py's dialogues (made once for both databases) and its item count."""
    path = tmp_path_factory.mktemp("crash") / "big.jsonl"
    return path, crash.write_jsonl(path, 12)


def test_kill_9_at_random_moments_of_an_import(url: str, tmp_path: Path, big_file: tuple[Path, int]) -> None:
    """KILLS kills while items are being written (0 to 0.15 s after the first progress line: on an idle
    machine the rest takes well under a second), the parser child process in use: after each the database
    passes its integrity checks, an annotator sees no partial dataset, no process is left; the import run
    again brings exactly the file's items.
    bench/crash_import.py does the full run (30 kills of a 200 MB import at uniform random moments)."""
    source, expected = big_file
    rng = random.Random()
    lines: list[str] = []
    result = crash.crash_run(
        url, source, expected, work=tmp_path, kills=KILLS, delays=lambda: (rng.uniform(0, 0.15), 1),
        out=lines.append, extra_env={"PARLEY_IMPORT_PROCESS_MIN_MB": "4"},
    )  # fmt: skip
    report = crash.summary(url.split(":")[0], result) + "\n" + "\n".join(lines)
    print(report)
    assert result.kills == KILLS and result.phases["writing"] >= 1, report
    assert result.integrity_ok == KILLS, report
    assert result.partial_visible == 0 and result.leftover_processes == 0, report
    assert result.final_items == result.final_distinct == expected, report
    assert result.temp_left == 0 and not result.problems, report
    assert result.passed


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
