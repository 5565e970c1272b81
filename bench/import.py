"""Import speed on SQLite: a generated JSONL of synthetic dialogues, and a zip of items with images.

    .venv/bin/python bench/import.py            # 1 GB JSONL (the issue's target: >= 50 MB/s, peak RSS <= 400 MB)
    .venv/bin/python bench/import.py --mb 200   # a quicker run

Prints MB/s, items/s and peak RSS of the import, and plain json.loads over the same file (the parse floor).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = [
    "the",
    "model",
    "answer",
    "question",
    "explain",
    "reason",
    "step",
    "because",
    "data",
    "train",
    "token",
    "reply",
    "user",
    "think",
    "test",
    "value",
    "result",
    "example",
    "first",
    "then",
    "finally",
    "result",
    "image",
    "code",
    "python",
    "list",
    "number",
    "good",
    "better",
    "best",
    "compare",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Samples this process's resident size every 20 ms while running."""

    def __init__(self) -> None:
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_jsonl(path: Path, mb: int) -> int:
    """Dialogues of 6 turns and 2 candidate replies, about 2 KB each, until the file holds `mb` MB."""
    rng = random.Random(7)
    # A pool of sentences keeps generation fast; every item still differs (its id and its mix of turns).
    turns = [sentence(rng, 34) for _ in range(2000)]
    replies = [sentence(rng, 38) for _ in range(2000)]
    target, size, n = mb * 2**20, 0, 0
    with path.open("w", encoding="utf-8") as out:
        while size < target:
            messages = [
                {"role": "user" if t % 2 == 0 else "assistant", "content": rng.choice(turns)}
                for t in range(6)
            ]
            line = json.dumps(
                {"id": f"b{n}", "messages": messages,
                 "responses": [{"content": rng.choice(replies), "model": "m1"},
                               {"content": rng.choice(replies), "model": "m2"}]}
            ) + "\n"  # fmt: skip
            out.write(line)
            size += len(line)
            n += 1
    return n


def write_image_zip(path: Path, items: int, images: int) -> None:
    from PIL import Image

    rng = random.Random(11)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for k in range(images):
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (k % 256, (k // 256) % 256, rng.randrange(256))).save(buf, "PNG")
            zf.writestr(f"img/{k // 100}/p{k}.png", buf.getvalue())
        lines = []
        for i in range(items):
            messages = [
                {"role": "user", "content": [{"type": "text", "text": sentence(rng, 20)},
                                             {"type": "image_url", "image_url": {"url": f"img/{(i % images) // 100}/p{i % images}.png"}}]},
                {"role": "assistant", "content": sentence(rng, 40)},
            ]  # fmt: skip
            lines.append(json.dumps({"id": f"v{i}", "messages": messages}))
        zf.writestr("data/chats.jsonl", "\n".join(lines) + "\n")


def parse_floor(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - start


def children_peak_mb() -> float:
    """The largest peak resident size of any ended child process (the importer's parser process)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_import(tmp: Path, name: str, source: str) -> tuple[object, float, float, float]:
    """(report, seconds until committed, peak RSS MB of this process + its parser child, seconds more
    until the WAL was checkpointed). The child's start-up is inside the seconds."""
    from store import db
    from store.blobs import LocalBlobStore
    from store.import_writer import wait_checkpoints
    from store.importer import import_source

    url = f"sqlite:///{tmp}/{name}.db"
    db.upgrade(url)
    engine = db.get_engine(url)
    with PeakRSS() as peak:
        start = time.perf_counter()
        report = import_source(
            user=None, dataset_name=name, source=source, engine=engine, create=True,
            blobs=LocalBlobStore(tmp / f"{name}-blobs"),
        )  # fmt: skip
        seconds = time.perf_counter() - start
        wait_checkpoints()
        checkpoint = time.perf_counter() - start - seconds
    # Both peaks added: an upper bound of the two processes' resident memory at any one time.
    return report, seconds, peak.peak + children_peak_mb(), checkpoint


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the generated JSONL (default 1024)")
    parser.add_argument("--items", type=int, default=10_000, help="items in the image zip")
    parser.add_argument("--images", type=int, default=2_000, help="distinct images in the zip")
    parser.add_argument("--skip-jsonl", action="store_true")
    parser.add_argument("--skip-zip", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_jsonl:
            path = tmp / "dialogues.jsonl"
            t0 = time.perf_counter()
            n = write_jsonl(path, args.mb)
            size_mb = path.stat().st_size / 2**20
            print(f"generated {n:,} items, {size_mb:,.0f} MB in {time.perf_counter() - t0:.1f} s")
            floor = parse_floor(path)
            print(f"json.loads floor: {floor:.1f} s ({size_mb / floor:,.0f} MB/s)")
            cpu = time.process_time() + _children_cpu()
            report, seconds, peak, checkpoint = run_import(tmp, "jsonl", str(path))
            cpu = time.process_time() + _children_cpu() - cpu
            print(
                f"JSONL import: {report.items:,} items in {seconds:.1f} s = {size_mb / seconds:,.1f} MB/s, "  # type: ignore[attr-defined]
                f"{report.items / seconds:,.0f} items/s, peak RSS {peak:,.0f} MB (with the parser process), "  # type: ignore[attr-defined]
                f"{seconds / floor:.1f}x the json.loads floor"
            )
            print(
                f"  then the WAL checkpoint (background, after the commit): {checkpoint:.1f} s; "
                f"CPU time of both processes for import + checkpoint: {cpu:.1f} s; load average now "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            path.unlink()
        if not args.skip_zip:
            path = tmp / "images.zip"
            write_image_zip(path, args.items, args.images)
            report, seconds, peak, _ = run_import(tmp, "zip", str(path))
            print(
                f"zip import: {report.items:,} items, {report.images:,} images in {seconds:.1f} s "  # type: ignore[attr-defined]
                f"({report.items / seconds:,.0f} items/s), peak RSS {peak:,.0f} MB"  # type: ignore[attr-defined]
            )


if __name__ == "__main__":
    main()
