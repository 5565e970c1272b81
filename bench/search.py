"""Full-text search on 1,000,000 items (#18): word and phrase queries through store.search.search_items.

    .venv/bin/python bench/search.py                 # 1M items (the database is cached in /tmp)
    .venv/bin/python bench/search.py --items 100000  # a quicker run

Builds (once) a SQLite database by importing a generated JSONL through store.importer: short dialogues
(a question and two model replies) of words drawn with Zipf frequencies from a 50,000-word vocabulary, 1 % of
them Chinese. Then times search_items (how many match, and the best 20) for words of each frequency, two
words, a phrase, a prefix and a Chinese phrase: p50 / p95 / max over 20 different queries of each kind.
Target: p95 <= 200 ms for a word or a phrase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCAB = 50_000
SYLLABLES = [
    "ka",
    "to",
    "ri",
    "mon",
    "sel",
    "dar",
    "vin",
    "plo",
    "que",
    "sta",
    "bre",
    "nu",
    "lix",
    "or",
    "tem",
]
CHINESE = "机器学习深度神经网络数据模型训练语言理解生成问题回答知识推理计算图像声音世界城市"


def vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCAB:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words, key=lambda w: (len(w), w))


def write_jsonl(path: Path, items: int, words: list[str], rng: random.Random) -> None:
    # Zipf: the k-th word 1/k as often as the first (cumulative weights: choices() would sum them every call)
    cum = list(itertools.accumulate(1 / (k + 1) for k in range(len(words))))
    with path.open("w") as out:
        for n in range(items):
            if n % 100 == 7:
                text = "".join(rng.choice(CHINESE) for _ in range(30))
                replies = ["".join(rng.choice(CHINESE) for _ in range(20)) for _ in range(2)]
            else:
                text = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(8, 25)))
                replies = [
                    " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(10, 30))) for _ in range(2)
                ]
            rec = {"id": f"s{n}", "messages": [{"role": "user", "content": text}],
                   "responses": [{"content": replies[0], "model": "m-large"}, {"content": replies[1], "model": "m-small"}]}  # fmt: skip
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def build(db_file: Path, items: int, url: str | None = None) -> None:
    """Generate the JSONL beside `db_file` and import it into `url` (default: the SQLite file `db_file`)."""
    from store import db
    from store.blobs import LocalBlobStore
    from store.import_writer import wait_checkpoints
    from store.importer import import_source

    rng = random.Random(5)
    words = vocabulary(rng)
    source = db_file.with_suffix(".jsonl")
    t0 = time.perf_counter()
    write_jsonl(source, items, words, rng)
    print(
        f"generated {items:,} items, {source.stat().st_size / 2**20:,.0f} MB in {time.perf_counter() - t0:.0f} s"
    )
    url = url or f"sqlite:///{db_file}"
    db.upgrade(url)
    t0 = time.perf_counter()
    import_source(user=None, dataset_name="search", source=str(source), engine=db.get_engine(url), create=True,
                  blobs=LocalBlobStore(db_file.parent / "search-blobs"))  # fmt: skip
    seconds = time.perf_counter() - t0
    wait_checkpoints()
    print(
        f"imported in {seconds:.0f} s ({source.stat().st_size / 2**20 / seconds:,.0f} MB/s, index included)"
    )
    source.unlink()


def timed(fn, queries: list[str]) -> str:  # type: ignore[no-untyped-def]
    times, totals = [], []
    for q in queries:
        t0 = time.perf_counter()
        total = fn(q)
        times.append((time.perf_counter() - t0) * 1000)
        totals.append(total)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return (f"p50 {statistics.median(times):6.1f}  p95 {p95:6.1f}  max {times[-1]:6.1f} ms   "
            f"matches {min(totals):,}-{max(totals):,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", default="/tmp/parley-search-{items}.db")
    parser.add_argument("--url", help="another database (PostgreSQL: an empty database is filled first)")
    args = parser.parse_args()
    db_file = Path(args.db.format(items=args.items))
    from sqlmodel import Session, select

    from store import db
    from store.models import Dataset, User
    from store.search import search_items

    if args.url:
        db.upgrade(args.url)
        with Session(db.get_engine(args.url)) as session:
            empty = session.exec(select(Dataset.id)).first() is None
        if empty:
            build(db_file.with_suffix(".pg"), args.items, args.url)
        print(f"database {db.get_engine(args.url).url.render_as_string(hide_password=True)}")
    elif not db_file.exists():
        build(db_file, args.items)
    if not args.url:
        print(f"database {db_file} {db_file.stat().st_size / 2**20:,.0f} MB")
    engine = db.get_engine(args.url or f"sqlite:///{db_file}")
    words = vocabulary(random.Random(5))
    rng = random.Random(9)
    admin = User(id=0, username="bench", role="admin")
    with Session(engine) as session:
        ds = session.exec(select(Dataset.id)).first()

        def run(q: str) -> int:
            hits, total = search_items(session=session, user=admin, dataset_id=ds, query=q, limit=20)  # type: ignore[arg-type]
            return total

        run(words[0])  # open the database (first-page reads)
        kinds = {
            "common word (rank 1-20)": [words[k] for k in range(20)],
            "frequent word (rank 100-500)": [words[rng.randrange(100, 500)] for _ in range(20)],
            "medium word (rank 2k-10k)": [words[rng.randrange(2000, 10_000)] for _ in range(20)],
            "rare word (rank 30k-50k)": [words[rng.randrange(30_000, 50_000)] for _ in range(20)],
            "two words (rank 50-2k)": [f"{words[rng.randrange(50, 2000)]} {words[rng.randrange(50, 2000)]}" for _ in range(20)],
            "phrase of 2 (rank 0-50)": [f'"{words[rng.randrange(50)]} {words[rng.randrange(50)]}"' for _ in range(20)],
            "prefix (4 letters)*": [words[rng.randrange(1000, 5000)][:4] + "*" for _ in range(20)],
            "Chinese phrase (2 chars)": ["".join(rng.choice(CHINESE) for _ in range(2)) for _ in range(20)],
        }  # fmt: skip
        for label, queries in kinds.items():
            print(f"{label:30} {timed(run, queries)}")


if __name__ == "__main__":
    main()
