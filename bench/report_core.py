"""Pilot report statistics speed: 100,000 items × 3 annotators, agreement on 3 criteria (a 1–5 score on
one candidate, a topic radio, a ranking of 3 candidates), then the leaderboard of the rankings' comparisons.

Prints the time of criteria_from_works (works → per-criterion units), agreement without and with the
bootstrap (1,000 resamples), comparisons and the Bradley–Terry leaderboard (200 resamples).
Target: agreement without the bootstrap ≤ 2 s for ~6 criteria (so ≤ 1 s for these 3).
Usage: python bench/report_core.py [--items N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.report.agreement import agreement, criteria_from_works  # noqa: E402
from core.report.models import comparisons, leaderboard  # noqa: E402

CLASSES = [{"id": 1, "name": "helpfulness", "alias": "Helpfulness", "tool": "dialog_evaluation",
            "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]}]}]  # fmt: skip
QUESTIONS = [
    {"id": 2, "name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
    {"id": 3, "name": "ranking", "type": "ranking"},
]


def build(n: int) -> tuple[dict, list]:
    rng = random.Random(0)
    works: dict = {}
    items = []
    for i in range(n):
        score, topic = rng.randint(1, 5), rng.choice(["code", "chat", "other"])
        order = rng.sample(range(3), 3)
        by = {}
        for a in ("alice", "bob", "carol"):
            mine = order if rng.random() < 0.6 else rng.sample(range(3), 3)
            by[a] = {
                "validity": "valid",
                "classifications": {"2": topic if rng.random() < 0.8 else "other", "3": mine},
                "results": [{"class_id": 1, "candidate": 0, "values": {"score": str(min(5, score + rng.randint(0, 1)))}}],
            }  # fmt: skip
        works[i] = by
        items.append((i, ["m1", "m2", "m3"], by))
    return works, items


class Clock:
    """Wall and CPU seconds of a block (the machine may be shared: CPU time is the steadier figure)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.text = (
            f"{time.perf_counter() - self.wall:.2f} s wall, {time.process_time() - self.cpu:.2f} s CPU"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    works, items = build(args.items)
    with Clock() as t:
        criteria = criteria_from_works(works, CLASSES, QUESTIONS)
    print(f"criteria_from_works: {t.text} ({len(criteria)} criteria)")
    with Clock() as t:
        rows = [agreement(c, bootstrap=0) for c in criteria]
    print(f"agreement, no bootstrap: {t.text}")
    for row in rows:
        print(
            f"  {row.criterion}: items {row.items} alpha {row.alpha} tau {row.tau} percent {row.percent:.3f}"
        )
    with Clock() as t:
        rows = [agreement(c, bootstrap=1000) for c in criteria]
    print(f"agreement, bootstrap 1000: {t.text}")
    for row in rows:
        print(f"  {row.criterion}: ci {row.ci}")
    with Clock() as t:
        comps = comparisons(items, CLASSES, QUESTIONS)
    print(f"comparisons: {t.text} ({len(comps)})")
    with Clock() as t:
        board = leaderboard(comps, bootstrap=200)
    print(f"leaderboard, bootstrap 200: {t.text}")
    for row in board:
        print(f"  {row['model']}: {row['strength']:.1f} {row['ci']} ({row['comparisons']} comparisons)")


if __name__ == "__main__":
    main()
