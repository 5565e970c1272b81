"""The ground the import sources stand on: size limits, per-import temp folders, and downloads kept for
the import that follows their preview.

Temporary files are anonymous (`tempfile.TemporaryFile`) under a `parley-import-<pid>-` folder, so a
crash leaves nothing with a name behind and `cleanup_stale_temp()` removes folders of dead processes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MB = 1024 * 1024
TEMP_PREFIX = "parley-import-"


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Guards against archive bombs and runaway downloads (env overrides for big installs)."""

    max_unpacked: int = field(
        default_factory=lambda: _env_int("PARLEY_IMPORT_MAX_UNPACKED_MB", 20 * 1024) * MB
    )
    # A bomb packs far more than real data: JSONL compresses ~5-20x, repetitive text up to ~100x.
    max_ratio: int = field(default_factory=lambda: _env_int("PARLEY_IMPORT_MAX_RATIO", 200))
    ratio_floor: int = 64 * MB  # below this unpacked size the ratio is not checked
    max_members: int = 200_000
    url_timeout: float = field(default_factory=lambda: float(os.environ.get("PARLEY_URL_TIMEOUT", "20")))
    max_redirects: int = 5


# ---------------------------------------------------------------- temp files


def temp_root() -> Path:
    return Path(os.environ.get("PARLEY_TMP") or tempfile.gettempdir())


def cleanup_stale_temp(root: Path | None = None) -> int:
    """Remove `parley-import-<pid>-*` folders whose process is gone (left by a kill -9); returns how many."""
    root = root or temp_root()
    removed = 0
    for path in root.glob(TEMP_PREFIX + "*"):
        try:
            pid = int(path.name[len(TEMP_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TempSpace:
    """A per-import temp folder; files in it are anonymous where the OS allows; removed on close."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=temp_root()))
        self._open: list[IO[bytes]] = []

    def file(self) -> IO[bytes]:
        return self.keep(tempfile.TemporaryFile(dir=self.path))

    def keep(self, fileobj: IO[bytes]) -> IO[bytes]:
        """Close `fileobj` with this space."""
        self._open.append(fileobj)
        return fileobj

    def close(self) -> None:
        for fileobj in self._open:
            with contextlib.suppress(Exception):
                fileobj.close()
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- downloads kept for the import that follows

# The page opens a URL or S3 object for the mapping step, the preview and then the import: the bytes are
# downloaded once and kept here (a file under this process's temp folder, so a crash leaves nothing once
# cleanup_stale_temp runs) until the import succeeds, FETCH_KEEP_SECONDS pass, or newer downloads push
# them out. The import therefore reads exactly the bytes that were previewed.
FETCH_KEEP_SECONDS = 30 * 60
FETCH_KEEP_FILES = 4


@dataclass
class _Fetched:
    path: Path
    name: str
    size: int
    at: float


_fetched: dict[tuple[str, ...], _Fetched] = {}
_fetched_lock = threading.Lock()


def _fetch_dir() -> Path:
    path = temp_root() / f"{TEMP_PREFIX}{os.getpid()}-fetched"
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        atexit.register(shutil.rmtree, path, True)  # a killed process's is removed by cleanup_stale_temp
    return path


def _drop(key: tuple[str, ...]) -> None:
    entry = _fetched.pop(key, None)
    if entry is not None:
        with contextlib.suppress(OSError):
            entry.path.unlink()  # a reader holding it open keeps reading (POSIX)


def fetched_file(key: tuple[str, ...], fetch: Any) -> tuple[IO[bytes], str, int]:
    """(open file, name, size) of a download, made by `fetch(out) -> name` unless one is kept for `key`.

    key[0] is the source address (what forget_fetched takes); the rest tells versions apart (S3 ETag)."""
    now = time.monotonic()
    with _fetched_lock:
        for old in [k for k, e in _fetched.items() if now - e.at > FETCH_KEEP_SECONDS]:
            _drop(old)
        hit = _fetched.get(key)
        if hit is not None:
            try:
                return hit.path.open("rb"), hit.name, hit.size
            except OSError:
                _drop(key)
    fd, name = tempfile.mkstemp(dir=_fetch_dir(), suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(fd, "w+b") as out:
            shown = fetch(out)
            size = out.seek(0, 2)
        fileobj = path.open("rb")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    with _fetched_lock:
        _drop(key)
        _fetched[key] = _Fetched(path, shown, size, now)
        for old in sorted(_fetched, key=lambda k: _fetched[k].at)[: max(0, len(_fetched) - FETCH_KEEP_FILES)]:
            _drop(old)
    return fileobj, shown, size


@dataclass(frozen=True)
class OpenedFile:
    """A source for another process: a file descriptor it inherits, opened as the file `name` would be
    (the parser child of store.import_worker reads a kept download this way, whatever happens to its path)."""

    fd: int
    name: str


def kept_download(source: Any) -> OpenedFile | None:
    """The newest kept download of `source` (a URL or s3:// object address) opened afresh, else None.

    The caller hands `fd` to a child process and closes it."""
    if not isinstance(source, str):
        return None
    with _fetched_lock:
        hits = [entry for key, entry in _fetched.items() if key[0] == source]
        if not hits:
            return None
        entry = max(hits, key=lambda e: e.at)
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            return None
    return OpenedFile(fd, entry.name)


def forget_fetched(source: Any = None) -> None:
    """Drop the kept downloads of `source` (a URL, s3:// address or a list of them); None: all of them."""
    wanted = (
        None
        if source is None
        else {str(s) for s in (source if isinstance(source, list | tuple) else [source])}
    )
    with _fetched_lock:
        for key in [k for k in _fetched if wanted is None or k[0] in wanted]:
            _drop(key)
