"""A small run of bench/load.py (10 annotators, 500 saves, a reviewer) on SQLite and PostgreSQL: its
checks hold: no lost writes, every stale second-tab save gets a Conflict, no item over its overlap, no
error (nor "database is locked") reaching a caller. Timings are printed, not asserted."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
load = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["bench_load"] = load  # (its dataclasses look their module up)
spec.loader.exec_module(load)  # type: ignore[union-attr]


def test_a_small_load_run_passes_its_checks(url: str) -> None:
    lines: list[str] = []
    result = load.run(url, annotators=10, saves=500, think_ms=10, out=lines.append)
    print("\n".join(lines))
    assert result.passed, "\n".join(lines)
    assert all(result.checks.values()) and len(result.checks) == 5
    # The run did what it claims: saves, stale second tabs refused, reviews.
    summary = "\n".join(lines)
    assert "saves: 4" in summary  # 4xx acknowledged of the 500 budget (stale tabs take from it too)
    assert "expected 0 " not in summary
