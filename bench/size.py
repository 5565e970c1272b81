"""Database size and import speed with the search index (#18): the database file against the JSON's size.

    .venv/bin/python bench/size.py              # 50,000 dialogues (~173 MB of JSON), and 50,000 short ones
    .venv/bin/python bench/size.py --items 5000 # a quicker run

The dialogues are made of real text (../shared/datasets: HH-RLHF, Alpaca, OpenAssistant, KTO), joined into
multi-turn dialogues of about 3.5 KB with two model replies (the issue's benchmark file: 50,000 dialogues in
173 MB), and a second file of short ones (one turn, two replies: the "3.1x" case). Each is imported into a
fresh SQLite database through store.importer (parser process, full-text index), the WAL is checkpointed,
and the file's size is compared with the JSON's. dbstat splits it by table (item, FTS index, the rest).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATASETS = ROOT.parent / "shared" / "datasets"


def real_texts() -> tuple[list[list[str]], list[str]]:
    """Dialogues (lists of turns, user first) and single replies, from the shared datasets."""
    dialogues: list[list[str]] = []
    replies: list[str] = []
    with gzip.open(DATASETS / "hh-rlhf_harmless-base_test.jsonl.gz", "rt") as f:
        for line in f:
            rec = json.loads(line)
            for key in ("chosen", "rejected"):
                parts = [p.split(":", 1)[-1].strip() for p in rec[key].split("\n\n") if ":" in p]
                if len(parts) >= 2:
                    dialogues.append(parts[:-1])
                    replies.append(parts[-1])
    for name in ("llamafactory_alpaca_en_demo.json", "llamafactory_kto_en_demo.json"):
        for rec in json.loads((DATASETS / name).read_text()):
            if "instruction" in rec:
                dialogues.append([(rec["instruction"] + "\n" + rec.get("input", "")).strip()])
                replies.append(rec["output"])
            elif "messages" in rec:
                turns = [m["content"] for m in rec["messages"]]
                dialogues.append(turns[:-1] or turns)
                replies.append(turns[-1])
    with (DATASETS / "oasst_en_100_tree.jsonl").open() as f:
        for line in f:
            rec = json.loads(line)
            stack = [rec.get("prompt", rec)]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if node.get("text"):
                        replies.append(node["text"])
                    stack.extend(node.get("replies", []))
    return [d for d in dialogues if d], [r for r in replies if r]


def write_file(path: Path, items: int, target: int, seed: int) -> int:
    """`items` dialogues of about `target` bytes each (turns added until the line reaches it)."""
    rng = random.Random(seed)
    dialogues, replies = real_texts()
    room = target - 2 * sum(map(len, replies)) / len(replies) - 150  # for the replies and the JSON around
    with path.open("w") as out:
        for n in range(items):
            turns: list[str] = list(rng.choice(dialogues))
            while sum(map(len, turns)) < room:
                more = rng.choice(dialogues)
                if sum(map(len, turns)) + sum(map(len, more)) > room * 1.5:
                    continue
                turns.extend(more)
            if len(turns) % 2 == 0:
                turns = turns[:-1]  # ends on the user's turn: the replies answer it
            messages = [
                {"role": "user" if t % 2 == 0 else "assistant", "content": x} for t, x in enumerate(turns)
            ]
            responses = [{"content": rng.choice(replies), "model": m} for m in ("m-large", "m-small")]
            out.write(json.dumps({"id": f"d{n}", "messages": messages, "responses": responses}) + "\n")
    return path.stat().st_size


def breakdown(db_file: Path) -> dict[str, int]:
    """Bytes of the file by owner: the item table (and its indexes), the FTS tables, everything else."""
    conn = sqlite3.connect(db_file)
    out = {"item": 0, "fts": 0, "other": 0, "free": 0}
    for name, size, unused in conn.execute("SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name"):
        key = "fts" if name.startswith("item_fts_") else "item" if name == "item" or name.startswith(("ix_item", "sqlite_autoindex_item")) else "other"  # fmt: skip
        out[key] += size
        out["free"] += unused
    freelist = (
        conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    )
    out["other"] += freelist
    conn.close()
    return out


def run(tmp: Path, label: str, items: int, target: int) -> None:
    bench_import = importlib.import_module("import")
    path = tmp / f"{label}.jsonl"
    json_bytes = write_file(path, items, target, seed=len(label))
    mb = json_bytes / 2**20
    report, seconds, peak, checkpoint = bench_import.run_import(tmp, label, str(path))
    db_file = tmp / f"{label}.db"
    conn = sqlite3.connect(db_file)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db_file.stat().st_size
    parts = breakdown(db_file)
    print(
        f"{label}: {report.items:,} dialogues, JSON {mb:,.1f} MB; import {seconds:.1f} s = {mb / seconds:,.1f} MB/s "
        f"(peak RSS {peak:,.0f} MB with the parser process, checkpoint +{checkpoint:.1f} s)"
    )
    print(
        f"  database {size / 2**20:,.1f} MB = {size / json_bytes:.2f}x the JSON: item table {parts['item'] / 2**20:,.1f} MB, "
        f"search index {parts['fts'] / 2**20:,.1f} MB, other {parts['other'] / 2**20:,.1f} MB; unused space in pages "
        f"{parts['free'] / 2**20:,.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument(
        "--target", type=int, default=3_470, help="bytes a dialogue (default: 173 MB / 50,000)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-size-") as name:
        tmp = Path(name)
        run(tmp, "long", args.items, args.target)
        run(tmp, "short", args.items, 0)


if __name__ == "__main__":
    main()
