"""Near-duplicate grouping speed: 1,000,000 synthetic prompts (20–60 words from a Zipf-like vocabulary of
50,000 words) with 3,000 planted near-duplicate pairs (one or two words replaced, inserted or removed).

Prints wall time, peak RSS of this process and of the sketching workers, groups found, planted pairs
recovered (recall; also among the pairs whose exact Jaccard reaches the threshold) and false groups (any
group that is not exactly one planted pair). Targets: ≤ 3 minutes, ≤ 1 GB RSS. With --store N it also
times store.duplicates.duplicate_groups on a SQLite dataset of N generated items.
Usage: python bench/duplicates.py [--items N] [--pairs P] [--threshold T] [--store N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import neardup  # noqa: E402

VOCAB = 50_000
CHUNK = 20_000


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 11, VOCAB)
    words = np.array(["".join(rng.choice(letters, n)) for n in lengths], dtype=object)
    weights = 1.0 / np.arange(1, VOCAB + 1) ** 1.05  # a few words (the, of, to …) in most prompts
    return words, weights / weights.sum()


def prompts(n: int, pairs: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Chunks of (ids, texts); the planted pairs' ids are (2k, 2k+1) spread over the whole range: item
    number `p` and `p + 1` for each planted p."""
    rng = np.random.default_rng(seed)
    words, probs = vocabulary(rng)
    planted = set((rng.choice(n // 2, pairs, replace=False) * 2).tolist())
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        lengths = rng.integers(20, 61, size)
        flat = words[rng.choice(VOCAB, int(lengths.sum()), p=probs)]
        texts = []
        at = 0
        for k in range(size):
            item = start + k
            if item - 1 in planted:
                texts.append(edit(texts[-1], rng, words))
            else:
                texts.append(" ".join(flat[at : at + lengths[k]]))
            at += lengths[k]
        yield list(range(start, start + size)), texts, planted


def edit(text: str, rng: np.random.Generator, words: np.ndarray) -> str:
    out = text.split()
    for _ in range(int(rng.integers(1, 3))):
        kind = rng.integers(3)
        at = int(rng.integers(len(out)))
        if kind == 0:
            out[at] = words[rng.integers(VOCAB)]
        elif kind == 1:
            out.insert(at, words[rng.integers(VOCAB)])
        elif len(out) > 1:
            del out[at]
    return " ".join(out)


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run(n: int, pairs: int, threshold: float, workers: int) -> None:
    started = time.perf_counter()
    planted: set[int] = set()
    sims: dict[int, float] = {}
    with neardup.NearDuplicates(threshold, workers=workers) as finder:
        for ids, texts, planted in prompts(n, pairs):
            finder.add(ids, texts)
            for k, item in enumerate(ids[:-1]):
                if item in planted:
                    sims[item] = neardup.jaccard(texts[k], texts[k + 1])
        fed = time.perf_counter() - started
        groups = finder.groups()
    wall = time.perf_counter() - started
    found = {g.ids[0] for g in groups if len(g.ids) == 2 and g.ids[1] == g.ids[0] + 1 and g.ids[0] in planted}
    false = len(groups) - len(found)
    reachable = [p for p in planted if sims.get(p, 0) >= threshold]
    print(f"items {n:,}, planted pairs {len(planted):,} ({len(reachable):,} with Jaccard ≥ {threshold})")
    print(f"wall {wall:.1f} s (sketches fed in {fed:.1f} s, grouping {wall - fed:.1f} s), workers {workers}")
    print(f"peak RSS: this process {rss_mb(resource.RUSAGE_SELF):.0f} MB, "
          f"largest worker {rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")  # fmt: skip
    print(f"groups {len(groups):,}; planted pairs recovered {len(found):,} "
          f"(recall {len(found) / max(1, len(planted)):.3f}; of pairs ≥ threshold "
          f"{len(found & set(reachable)) / max(1, len(reachable)):.3f}); false groups {false}")  # fmt: skip


def run_store(n: int, threshold: float) -> None:
    from sqlalchemy import insert
    from sqlmodel import Session

    from store import db
    from store.cli.operator import cli_admin
    from store.duplicates import duplicate_groups
    from store.models import Item
    from tests.utils import make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        db.upgrade(url)
        engine = db.get_engine(url)
        with Session(engine) as session:
            ds = make_dataset(session, "bench")
            for ids, texts, _ in prompts(n, n // 300):
                session.execute(
                    insert(Item),
                    [{"dataset_id": ds.id, "external_id": str(i), "name": "", "position": i,
                      "messages": [{"role": "user", "text": t}], "candidates": [{"text": "a reply"}], "meta": {}}
                     for i, t in zip(ids, texts, strict=True)],
                )  # fmt: skip
            session.commit()
        with Session(engine) as session:
            started = time.perf_counter()
            groups = duplicate_groups(
                session=session, user=cli_admin(), dataset_id=ds.id, threshold=threshold
            )
            wall = time.perf_counter() - started
        print(f"store.duplicate_groups on {n:,} SQLite items: {wall:.1f} s, {len(groups):,} groups, "
              f"peak RSS {rss_mb(resource.RUSAGE_SELF):.0f} MB")  # fmt: skip
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=3_000)
    parser.add_argument("--threshold", type=float, default=neardup.DEFAULT_THRESHOLD)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--store", type=int, default=0, help="also time the store on N generated items")
    args = parser.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    if args.items:
        run(args.items, args.pairs, args.threshold, args.workers)
    if args.store:
        run_store(args.store, args.threshold)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
