"""Near-duplicate texts: normalised shingles, MinHash signatures (datasketch), LSH buckets, exact Jaccard.

A text becomes a set of shingles: its words after NFKC, case folding and dropping punctuation, and for
Chinese / Japanese runs (written without spaces) their overlapping character pairs. Single words rather
than word n-grams: an edit of k words in an n-word prompt costs k of n shingles (2k or 3k with word
pairs or triples), so at the default threshold of 0.8 a 30-word prompt may differ in 3 words, not 1.

Texts with the same normalised words are exact duplicates (similarity 1.0). Of the others, datasketch
makes one MinHash signature each; rows whose signatures agree on a whole LSH band are candidates, and a
candidate pair is kept when the exact Jaccard similarity of its two shingle sets reaches the threshold.
Groups are the connected components of the kept pairs. A group's `similarity` is the lowest exact
Jaccard similarity of a member to the group's first member (so every member is at least that close to
the first; two later members may be further apart).

The bands are grouped by sorting the signature matrix (numpy), not in datasketch's MinHashLSH: its
in-memory buckets hold a Python set per bucket and band, 168 MB for 50,000 keys (3.4 GB at a million),
while the matrix is 256 MB at a million (128 values of 16 bits a text). MinHashLSH still chooses the bands (b, r) for the threshold.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle
import re
import subprocess
import sys
import threading
import unicodedata
import zlib
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.dialogue import dialogue_text, prompt_text

DEFAULT_THRESHOLD = 0.8
NUM_PERM = 128
SEED = 1
# Favour recall when choosing the bands: a false candidate only costs its exact check. At 0.8: 16 bands of
# 8 rows, a pair of Jaccard 0.8 is a candidate with probability 0.95, of 0.85 0.994, of 0.2 0.00004.
LSH_WEIGHTS = (0.05, 0.95)
# A band's bucket of more rows than this pairs each row with its first BUCKET_PAIRS rows only (all pairs of
# a bucket of thousands of near-identical texts would be millions of checks; components join them anyway).
BUCKET_PAIRS = 32
CHECK_ELEMENTS = 4_000_000  # shingles per batch of exact checks (memory: ~16 bytes each)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")


def item_text(messages: Any, candidates: Any, over: str) -> str:
    """The text compared for `over` = "prompt" or "dialogue"."""
    return dialogue_text(messages, candidates) if over == "dialogue" else prompt_text(messages)


def tokens(text: str) -> list[str]:
    """Normalised words in order (NFKC, case folded, no punctuation); a run of Chinese / Japanese characters
    is one token here (see shingles)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str) -> set[str]:
    """The set compared: the words, and the character pairs of each Chinese / Japanese run (a run of one
    character is itself)."""
    return set(_shingle_list(tokens(text), _HAS_CJK.search(text) is not None))


def _shingle_list(words: list[str], cjk: bool) -> list[str]:
    if not cjk:
        return words
    out: list[str] = []
    for word in words:
        if _HAS_CJK.match(word):
            out.extend([word] if len(word) == 1 else [word[i : i + 2] for i in range(len(word) - 1)])
        else:
            out.append(word)
    return out


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two texts' shingle sets (1.0 for two texts without words)."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


@dataclass
class Sketches:
    """A batch of texts made comparable: MinHash signatures, sorted shingle hashes, exact-duplicate keys."""

    # (n, num_perm) uint16: each MinHash value's low 16 bits. Half the memory (256 MB at a million); two
    # different values agree by chance once in 65,536, too rarely to matter in a band of several rows.
    signatures: np.ndarray
    hashes: np.ndarray  # every text's distinct shingle hashes, one text after another (uint32)
    lengths: np.ndarray  # how many hashes each text has (0: no words; it takes part in nothing)
    keys: np.ndarray  # 64-bit digest of the normalised words (uint64): equal for exact duplicates


def sketch(texts: Sequence[str], num_perm: int = NUM_PERM) -> Sketches:
    """Sketches of `texts` (pure; runs in a worker process for large inputs)."""
    from datasketch import MinHash

    n = len(texts)
    keys = np.empty(n, dtype=np.uint64)
    sets: list[list[int]] = []
    blake = hashlib.blake2b
    for i, text in enumerate(texts):
        cjk = _HAS_CJK.search(text) is not None
        words = tokens(text)
        keys[i] = int.from_bytes(blake("\x1f".join(words).encode(), digest_size=8).digest(), "little")
        # one encode, then crc32 in C over the parts: the shingles' 32-bit hashes for MinHash and the exact check
        encoded = " ".join(_shingle_list(words, cjk)).encode()
        sets.append(list(set(map(zlib.crc32, encoded.split()))))
    lengths = np.fromiter((len(s) for s in sets), dtype=np.int32, count=n)
    hashes = np.fromiter(itertools.chain.from_iterable(sets), dtype=np.uint32, count=int(lengths.sum()))
    signatures = np.empty((n, num_perm), dtype=np.uint16)
    # The hashes are already 32-bit values: MinHash's hash function passes them on (`int`, a C call; it mixes
    # them itself). One MinHash cleared per text: MinHash.generator copies one per text, and the copy's
    # checks of the shared permutations cost more than the hashing (profiled: 17 of 20 s).
    m = MinHash(num_perm=num_perm, seed=SEED, hashfunc=int)
    for i, values in enumerate(sets):
        m.clear()
        m.update_batch(values)
        signatures[i] = m.hashvalues  # the low 16 bits (numpy's unsafe cast keeps them)
    return Sketches(signatures, hashes, lengths, keys)


@lru_cache(maxsize=32)
def bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(b, r): b bands of r signature rows, as datasketch's MinHashLSH chooses them for `threshold`."""
    from datasketch import MinHashLSH

    try:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    except ValueError:  # "too few bands" near 1.0: only (nearly) equal signatures, one band of all rows
        return 1, num_perm
    return lsh.b, lsh.r


@dataclass
class Group:
    """Texts that are near duplicates: their ids in input order, the first being the group's reference."""

    ids: list[Hashable]
    similarity: float  # lowest exact Jaccard similarity of a member to the first
    similarities: list[float] = field(default_factory=list)  # each member's to the first (1.0 for the first)


def check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold {threshold:g}: must be above 0 and at most 1")
    return float(threshold)


class NearDuplicates:
    """Collects texts in chunks (add), then groups them (groups).

    workers > 1 makes the sketches in that many worker processes while the caller reads its next chunk;
    0 or 1 makes them here."""

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, *, num_perm: int = NUM_PERM, workers: int = 0
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.num_perm = num_perm
        self.ids: list[Hashable] = []
        self._parts: list[Sketches] = []
        self._pending: list[Future[Sketches]] = []
        self._workers = _Workers(workers) if workers > 1 else None

    def add(self, ids: Sequence[Hashable], texts: Sequence[str]) -> None:
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        self.ids.extend(ids)
        if self._workers is None:
            self._parts.append(sketch(texts, self.num_perm))
            return
        self._pending.append(self._workers.submit(list(texts), self.num_perm))
        while len(self._pending) > 4:  # at most a few chunks in flight: memory stays bounded
            self._parts.append(self._pending.pop(0).result())

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def __enter__(self) -> NearDuplicates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def groups(self) -> list[Group]:
        """The duplicate groups (two members or more), largest first, then in input order."""
        try:
            self._parts.extend(pending.result() for pending in self._pending)
            self._pending = []
        finally:
            self.close()
        return _groups(self._parts, self.ids, self.threshold, self.num_perm)


class _Workers:
    """Worker processes for `sketch`: `python -m core.neardup`, each fed by a thread of its own.

    Fresh interpreters rather than multiprocessing: a multiprocessing child re-runs the parent's __main__,
    which under Streamlit is the page script; and a fork of a threaded server is unsafe. A worker reads
    (texts, num_perm) pickles on stdin and answers each with a pickled Sketches; it ends when stdin closes."""

    def __init__(self, n: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="parley-neardup")
        self._local = threading.local()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def _proc(self) -> subprocess.Popen[bytes]:
        proc = getattr(self._local, "proc", None)
        if proc is None:
            root = str(Path(__file__).resolve().parent.parent)
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            proc = subprocess.Popen([sys.executable, "-m", "core.neardup"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, cwd=root, env={**os.environ, "PYTHONPATH": path})  # fmt: skip
            self._local.proc = proc
            with self._lock:
                self._procs.append(proc)
        return proc

    def _run(self, texts: list[str], num_perm: int) -> Sketches:
        proc = self._proc()
        assert proc.stdin is not None and proc.stdout is not None
        pickle.dump((texts, num_perm), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.flush()
        try:
            return pickle.load(proc.stdout)  # type: ignore[no-any-return]
        except EOFError:
            raise RuntimeError(
                f"a near-duplicate worker ended unexpectedly (exit code {proc.wait()})"
            ) from None

    def submit(self, texts: list[str], num_perm: int) -> Future[Sketches]:
        return self._pool.submit(self._run, texts, num_perm)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _worker_main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            texts, num_perm = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(sketch(texts, num_perm), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


def find_groups(
    items: Iterable[tuple[Hashable, str]], threshold: float = DEFAULT_THRESHOLD, *, chunk: int = 20_000
) -> list[Group]:
    """Duplicate groups of (id, text) pairs, in one process."""
    finder = NearDuplicates(threshold)
    batch: list[tuple[Hashable, str]] = []
    for pair in items:
        batch.append(pair)
        if len(batch) >= chunk:
            finder.add([i for i, _ in batch], [t for _, t in batch])
            batch = []
    if batch:
        finder.add([i for i, _ in batch], [t for _, t in batch])
    return finder.groups()


# ---------------------------------------------------------------- grouping


def _groups(parts: list[Sketches], ids: list[Hashable], threshold: float, num_perm: int) -> list[Group]:
    n = len(ids)
    if n < 2:
        return []
    lengths = np.concatenate([p.lengths for p in parts]).astype(np.int64)
    keys = np.concatenate([p.keys for p in parts])
    hashes = np.concatenate([p.hashes for p in parts])
    for p in parts:
        p.hashes = p.lengths = p.keys = np.empty(0)  # the signatures stay, band by band
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    has_words = lengths > 0

    # exact duplicates: every text with words joins the first text with its key
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rep = first[inverse]
    exact = has_words & (rep != np.arange(n))
    edges = [np.stack([rep[exact], np.flatnonzero(exact)])]

    # near duplicates among the first of each key: LSH candidates, then the exact check
    reps = np.flatnonzero(has_words & ~exact)
    candidates = _candidates(parts, reps, *bands(threshold, num_perm))
    if candidates.size:
        a, b = candidates[0], candidates[1]
        keep = _jaccard(hashes, starts, lengths, a, b) >= threshold
        edges.append(np.stack([a[keep], b[keep]]))
    del candidates
    pairs = np.concatenate(edges, axis=1)
    if not pairs.size:
        return []

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(pairs.shape[1], dtype=np.int8), (pairs[0], pairs[1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members = np.unique(pairs)
    labels = labels[members]
    order = np.argsort(labels, kind="stable")  # members ascending within each label
    members, labels = members[order], labels[order]
    cuts = np.flatnonzero(np.diff(labels)) + 1
    split = np.split(members, cuts)
    heads = np.concatenate([np.full(len(g), g[0]) for g in split])
    sims = _jaccard(hashes, starts, lengths, heads, members)
    out = []
    for g, s in zip(split, np.split(sims, cuts), strict=True):
        values = [round(float(x), 4) for x in s]
        out.append(Group([ids[i] for i in g], min(values[1:]), values))
    out.sort(key=lambda g: -len(g.ids))  # stable: groups of one size stay in input order
    return out


def _candidates(parts: list[Sketches], reps: np.ndarray, b: int, r: int) -> np.ndarray:
    """Pairs (2, m) of row numbers (first < second, each pair once) that share a whole band."""
    found = []
    for band in range(b):
        cols = np.concatenate([p.signatures[:, band * r : (band + 1) * r] for p in parts])[reps]
        order = np.lexsort(cols.T[::-1])
        rows = cols[order]
        same = np.all(rows[1:] == rows[:-1], axis=1)
        del cols, rows
        if not same.any():
            continue
        # buckets: runs of equal rows in sorted order
        starts = np.flatnonzero(np.concatenate([[True], ~same]))
        sizes = np.diff(np.append(starts, len(order)))
        for size in np.unique(sizes[sizes > 1]):
            heads = starts[sizes == size]
            take = min(int(size), BUCKET_PAIRS)
            i, j = np.triu_indices(int(size), 1)
            keep = i < take
            i, j = i[keep], j[keep]
            a = reps[order[heads[:, None] + i]].ravel()
            c = reps[order[heads[:, None] + j]].ravel()
            found.append(np.stack([np.minimum(a, c), np.maximum(a, c)]))
    if not found:
        return np.empty((2, 0), dtype=np.int64)
    pairs = np.concatenate(found, axis=1).astype(np.int64)
    return np.unique(pairs, axis=1)


def _jaccard(
    hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Exact Jaccard similarity of rows a[k] and b[k] (their distinct shingle hashes), in batches."""
    out = np.empty(len(a), dtype=np.float64)
    per = lengths[a] + lengths[b]
    k = 0
    while k < len(a):
        end = int(np.searchsorted(np.cumsum(per[k:]), CHECK_ELEMENTS)) + k + 1
        end = min(end, len(a))
        out[k:end] = _jaccard_batch(hashes, starts, lengths, a[k:end], b[k:end])
        k = end
    return out


def _jaccard_batch(
    hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    m = len(a)
    la, lb = lengths[a], lengths[b]
    pair = np.arange(m, dtype=np.uint64)
    # each pair's elements of a and of b, tagged with the pair number: a value tagged twice is shared
    tagged = np.concatenate([_gather(hashes, starts[a], la, pair), _gather(hashes, starts[b], lb, pair)])
    tagged.sort()
    shared = tagged[1:][tagged[1:] == tagged[:-1]] >> np.uint64(32)
    inter = np.bincount(shared.astype(np.int64), minlength=m)
    union = la + lb - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def _gather(hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, pair: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    values = hashes[np.arange(total) + offsets].astype(np.uint64)
    return (np.repeat(pair, lengths) << np.uint64(32)) | values


def first_words(text: str, chars: int = 80) -> str:
    """The start of a text on one line, for lists."""
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


if __name__ == "__main__":
    # run as `python -m core.neardup`: the worker, its Sketches pickled as core.neardup.Sketches
    from core.neardup import _worker_main as main

    main()


class Skipper:
    """Near duplicates found one text at a time, as an import reads them (`python -m store import
    --skip-duplicates`): `known` texts (the dataset's items) are added first; `check` then answers, for each
    new text in order, the id of an earlier text (known or new) it nearly duplicates and their exact
    Jaccard similarity, or None, in which case the text joins the earlier ones.

    datasketch's MinHashLSH holds the bands incrementally (about 3 KB a text: meant for an import's size,
    not for grouping a million, which NearDuplicates does); every candidate gets the exact check."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, *, num_perm: int = NUM_PERM) -> None:
        from datasketch import MinHash, MinHashLSH

        self.threshold = check_threshold(threshold)
        b, r = bands(self.threshold, num_perm)
        self._lsh = MinHashLSH(num_perm=num_perm, params=(b, r))
        self._minhash = MinHash(num_perm=num_perm, seed=SEED, hashfunc=int)
        self._sets: dict[Hashable, frozenset[int]] = {}
        self._exact: dict[bytes, Hashable] = {}

    def _sketch(self, text: str) -> tuple[bytes, frozenset[int]]:
        words = tokens(text)
        key = hashlib.blake2b("\x1f".join(words).encode(), digest_size=8).digest()
        encoded = " ".join(_shingle_list(words, _HAS_CJK.search(text) is not None)).encode()
        return key, frozenset(map(zlib.crc32, encoded.split()))

    def _signed(self, shingled: frozenset[int]) -> Any:
        m = self._minhash  # one MinHash cleared and reused: a copy a text costs more than the hashing
        m.clear()
        m.update_batch(list(shingled))
        return m

    def _add(self, item_id: Hashable, key: bytes, shingled: frozenset[int]) -> None:
        self._exact.setdefault(key, item_id)
        if item_id in self._sets or not shingled:
            return
        self._sets[item_id] = shingled
        self._lsh.insert(item_id, self._signed(shingled))  # the LSH keeps the bands, not the MinHash

    def known(self, item_id: Hashable, text: str) -> None:
        key, shingled = self._sketch(text)
        if shingled:
            self._add(item_id, key, shingled)

    def check(self, item_id: Hashable, text: str) -> tuple[Hashable, float] | None:
        key, shingled = self._sketch(text)
        if not shingled:
            return None  # no words: nothing to compare
        same = self._exact.get(key)
        if same is not None:
            return same, 1.0
        best: tuple[Hashable, float] | None = None
        for other in self._lsh.query(self._signed(shingled)):
            theirs = self._sets[other]
            sim = len(shingled & theirs) / len(shingled | theirs)
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (other, sim)
        if best is None:
            self._add(item_id, key, shingled)
        return best
