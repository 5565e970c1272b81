"""Six annotators at once in chromium, by keyboard on Evaluate's My queue, through one app server, until every
one of them has submitted 2 items, the second one handed out by the queue while the others work (at most
15 s; bench/browsers.py runs the full minute): nothing lost, no item to two annotators, no Streamlit
exception, console error or page error. The latencies are printed, not asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.conftest import ARTIFACTS, CHROMIUM, ROOT, missing

spec = importlib.util.spec_from_file_location("bench_browsers", ROOT / "bench" / "browsers.py")
browsers = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["bench_browsers"] = browsers  # (its dataclasses look their module up)
spec.loader.exec_module(browsers)  # type: ignore[union-attr]


def test_six_annotators_by_keyboard_lose_nothing(app_server, tmp_path):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        missing(f"chromium not found at {CHROMIUM}")
    lines: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = browsers.run(app_server, tmp_path, sessions=6, seconds=15, chromium=CHROMIUM, out_fn=lines.append,
                       shot=ARTIFACTS / "browsers_kb1_end.png", enough=2)  # fmt: skip
    print("\n".join(lines))
    assert out.passed, "\n".join(lines)
    assert len(out.submitted) >= 6, "\n".join(lines)  # every annotator got through at least one item
    assert len({s.annotator for s in out.submitted}) == 6, "\n".join(lines)
