"""Where imported data comes from, opened as a Bundle of named members: uploads, server paths, archives,
http(s) URLs (with SSRF guards) and S3 — every refusal is an InputError that names the file and the reason.

Temporary files are anonymous (`tempfile.TemporaryFile`) under a `parley-import-<pid>-` folder, so a
crash leaves nothing with a name behind and `cleanup_stale_temp()` removes folders of dead processes.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import http.client
import io
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO
from urllib.parse import urljoin, urlsplit

from store.errors import InputError

MB = 1024 * 1024
TEMP_PREFIX = "parley-import-"
ARCHIVE_EXTS = (".zip", ".tar", ".tar.gz", ".tgz", ".gz", ".rar")
DATA_EXTS = (".json", ".jsonl", ".csv", ".xlsx", ".xls", ".tsv", ".txt")


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


# ---------------------------------------------------------------- bundles


class Bundle:
    """Named members (relative POSIX paths) that can be opened as binary streams."""

    label = ""
    # Several files (an archive, a folder, a prefix): items without ids get "path/in/bundle:N" ids.
    is_archive = False

    def names(self) -> list[str]:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 (optional hook)
        pass


def safe_member_name(name: str, *, archive: str) -> str | None:
    """The normalized relative name of an archive member; None for a folder entry; InputError for escapes."""
    raw = name.replace("\\", "/")
    if raw.endswith("/"):
        return None
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise InputError(f"{archive}: member {name!r} has an absolute path (refused)")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise InputError(f"{archive}: member {name!r} points outside the archive (zip-slip, refused)")
    if not parts:
        return None
    return "/".join(parts)


def _skip_name(name: str) -> bool:
    """macOS and Windows litter that is never data."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1] in (".DS_Store", "Thumbs.db") or parts[-1].startswith("._")


class _Guarded(io.RawIOBase):
    """A read-only stream that turns decompression faults into InputError and caps the bytes read."""

    def __init__(self, raw: IO[bytes], *, label: str, limit: int, on_read: Any = None) -> None:
        self.raw, self.label, self.limit, self.read_so_far, self.on_read = raw, label, limit, 0, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.raw.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"{self.label}: the compressed data is truncated or corrupt ({exc})") from None
        except zipfile.BadZipFile as exc:
            raise InputError(f"{self.label}: corrupt zip member ({exc})") from None
        except tarfile.TarError as exc:
            raise InputError(f"{self.label}: corrupt tar member ({exc})") from None
        n = len(data)
        self.read_so_far += n
        if self.read_so_far > self.limit:
            raise InputError(f"{self.label}: unpacks to more than {self.limit // MB} MB (refused as a bomb)")
        buffer[:n] = data
        if self.on_read is not None:
            self.on_read(n)
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()
        super().close()


def guarded(raw: IO[bytes], *, label: str, limit: int, on_read: Any = None) -> BinaryIO:
    return io.BufferedReader(_Guarded(raw, label=label, limit=limit, on_read=on_read), buffer_size=MB)  # type: ignore[return-value]


class FileBundle(Bundle):
    """One plain data file (bytes in memory, a seekable file object, or a path)."""

    def __init__(self, name: str, opener: Any, size: int) -> None:
        self._name, self._opener, self._size = name, opener, size
        self.label = name

    def names(self) -> list[str]:
        return [self._name]

    def open(self, name: str) -> BinaryIO:
        if name != self._name:
            raise InputError(f"{self.label}: no member {name!r}")
        return self._opener()

    def size(self, name: str) -> int:
        return self._size


class GzipBundle(Bundle):
    """A single gzip-compressed file, exposed under its name without `.gz`, decompressed as it is read."""

    def __init__(self, name: str, opener: Any, size: int, limits: Limits) -> None:
        self.label = name
        self._inner = name[:-3] if name.lower().endswith(".gz") else name + ".out"
        self._opener, self._size, self._limits = opener, size, limits

    def names(self) -> list[str]:
        return [self._inner]

    def open(self, name: str) -> BinaryIO:
        if name != self._inner:
            raise InputError(f"{self.label}: no member {name!r}")
        return guarded(
            gzip.GzipFile(fileobj=self._opener(), mode="rb"), label=self.label, limit=self._unpacked_limit()
        )

    def _unpacked_limit(self) -> int:
        # gzip's own size field is mod 2**32 and forgeable, so cap the stream instead.
        return min(
            self._limits.max_unpacked, max(self._limits.ratio_floor, self._size * self._limits.max_ratio)
        )

    def size(self, name: str) -> int:
        return self._size


class ZipBundle(Bundle):
    is_archive = True

    def __init__(self, label: str, fileobj: IO[bytes], packed: int, limits: Limits) -> None:
        self.label = label
        try:
            self.zf = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{label}: not a readable zip archive ({exc})") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self.zf.infolist():
            name = safe_member_name(info.filename, archive=label)
            if name is None or info.is_dir() or _skip_name(name):
                continue
            if info.flag_bits & 0x1:
                raise InputError(f"{label}: member {name!r} is encrypted (not supported)")
            if name in self._members:
                raise InputError(f"{label}: member {name!r} appears twice")
            mode = (info.external_attr >> 16) & 0o170000
            if mode and not stat.S_ISREG(mode):
                raise InputError(f"{label}: member {name!r} is a link or special file (refused)")
            total += info.file_size
            if info.file_size > max(limits.ratio_floor, (info.compress_size + 1) * limits.max_ratio):
                raise InputError(
                    f"{label}: member {name!r} unpacks {info.file_size // max(info.compress_size, 1)}x its "
                    f"packed size (zip bomb, refused; limit {limits.max_ratio}x)"
                )
            self._members[name] = info
        _check_total(label, total, packed, len(self._members), limits)
        self._limits = limits

    def names(self) -> list[str]:
        return list(self._members)

    def open(self, name: str) -> BinaryIO:
        info = self._members.get(name)
        if info is None:
            raise InputError(f"{self.label}: no member {name!r}")
        return guarded(self.zf.open(info), label=f"{self.label}:{name}", limit=info.file_size + 1)

    def size(self, name: str) -> int:
        return self._members[name].file_size

    def close(self) -> None:
        self.zf.close()


def _check_total(label: str, total: int, packed: int, members: int, limits: Limits) -> None:
    if members > limits.max_members:
        raise InputError(f"{label}: {members} members (limit {limits.max_members})")
    if total > limits.max_unpacked:
        raise InputError(
            f"{label}: unpacks to {total // MB} MB, over the limit of {limits.max_unpacked // MB} MB (refused)"
        )
    if total > limits.ratio_floor and total > max(packed, 1) * limits.max_ratio:
        raise InputError(
            f"{label}: unpacks to {total // MB} MB from {max(packed, 1) // 1024} KB "
            f"(zip bomb, refused; ratio limit {limits.max_ratio}x)"
        )


class TarBundle(Bundle):
    """A tar (plain or compressed). Compressed tars are unpacked once into one anonymous temp file so
    members can be read in any order; links, devices and escaping paths are refused, as `filter="data"`."""

    is_archive = True

    def __init__(self, label: str, fileobj: IO[bytes], packed: int, limits: Limits, temp: TempSpace) -> None:
        self.label = label
        head = fileobj.read(6)
        fileobj.seek(0)
        plain: IO[bytes] = fileobj
        if _kind_of(head) in ("gzip", "bz2", "xz"):
            plain = temp.file()
            opener = {"gzip": gzip.GzipFile, "bz2": _bz2, "xz": _xz}[_kind_of(head)]
            src = guarded(opener(fileobj=fileobj), label=label, limit=limits.max_unpacked)  # type: ignore[operator]
            shutil.copyfileobj(src, plain, MB)
            plain.seek(0)
        try:
            self.tf = tarfile.open(fileobj=plain, mode="r:")  # noqa: SIM115
            infos = self.tf.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise InputError(f"{label}: not a readable tar archive ({exc})") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        total = 0
        for info in infos:
            name = safe_member_name(info.name, archive=label)
            if info.isdir() or name is None:
                continue
            if info.issym() or info.islnk():
                raise InputError(f"{label}: member {info.name!r} is a link (links are refused)")
            if not info.isreg():
                raise InputError(f"{label}: member {info.name!r} is a device or special file (refused)")
            if _skip_name(name):
                continue
            self._members[name] = info
            total += info.size
        _check_total(label, total, packed, len(self._members), limits)

    def names(self) -> list[str]:
        return list(self._members)

    def open(self, name: str) -> BinaryIO:
        info = self._members.get(name)
        if info is None:
            raise InputError(f"{self.label}: no member {name!r}")
        raw = self.tf.extractfile(info)
        assert raw is not None
        return guarded(raw, label=f"{self.label}:{name}", limit=info.size + 1)

    def size(self, name: str) -> int:
        return self._members[name].size

    def close(self) -> None:
        self.tf.close()


def _bz2(fileobj: IO[bytes]) -> IO[bytes]:
    import bz2

    return bz2.BZ2File(fileobj)


def _xz(fileobj: IO[bytes]) -> IO[bytes]:
    import lzma

    return lzma.LZMAFile(fileobj)


RAR_HELP = "install Debian's libarchive-tools (bsdtar) or unrar-free on the server"


class RarBundle(Bundle):
    is_archive = True

    def __init__(self, label: str, fileobj: IO[bytes], packed: int, limits: Limits) -> None:
        import rarfile

        self.label = label
        try:
            self.rf = rarfile.RarFile(fileobj)
            infos = self.rf.infolist()
        except rarfile.Error as exc:
            raise InputError(f"{label}: not a readable RAR archive ({exc})") from None
        self._members: dict[str, Any] = {}
        total = 0
        needs_tool = False
        for info in infos:
            name = safe_member_name(info.filename, archive=label)
            if name is None or info.is_dir() or _skip_name(name):
                continue
            if info.is_symlink() or not info.is_file():
                raise InputError(f"{label}: member {info.filename!r} is a link or special file (refused)")
            if info.needs_password():
                raise InputError(f"{label}: member {name!r} is encrypted (not supported)")
            needs_tool = needs_tool or info.compress_type != rarfile.RAR_M0
            self._members[name] = info
            total += info.file_size
        _check_total(label, total, packed, len(self._members), limits)
        if needs_tool:
            try:
                rarfile.tool_setup(force=True)
            except rarfile.RarCannotExec:
                raise InputError(
                    f"{label}: its members are compressed and no RAR tool was found; {RAR_HELP}"
                ) from None

    def names(self) -> list[str]:
        return list(self._members)

    def open(self, name: str) -> BinaryIO:
        import rarfile

        info = self._members.get(name)
        if info is None:
            raise InputError(f"{self.label}: no member {name!r}")
        try:
            raw = self.rf.open(info)
        except rarfile.RarCannotExec:
            raise InputError(f"{self.label}: no RAR tool found to unpack {name!r}; {RAR_HELP}") from None
        except rarfile.Error as exc:
            raise InputError(f"{self.label}: cannot read member {name!r} ({exc})") from None
        return guarded(raw, label=f"{self.label}:{name}", limit=info.file_size + 1)

    def size(self, name: str) -> int:
        return self._members[name].file_size

    def close(self) -> None:
        self.rf.close()


class DirBundle(Bundle):
    """A folder on the server, nested folders included; symlinks are not followed out of it."""

    is_archive = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.label = str(root)
        self._members: dict[str, Path] = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(self.root).as_posix()
            if not _skip_name(name):
                self._members[name] = path

    def names(self) -> list[str]:
        return list(self._members)

    def open(self, name: str) -> BinaryIO:
        path = self._members.get(name)
        if path is None:
            raise InputError(f"{self.label}: no file {name!r}")
        return path.open("rb")

    def size(self, name: str) -> int:
        return self._members[name].stat().st_size


class MultiBundle(Bundle):
    """Several sources imported together (several uploaded files): their members side by side."""

    is_archive = True

    def __init__(self, parts: list[Bundle]) -> None:
        self.parts = parts
        self.label = ", ".join(p.label for p in parts)
        self._owner: dict[str, Bundle] = {}
        for part in parts:
            for name in part.names():
                if name in self._owner:
                    raise InputError(
                        f"{part.label}: {name!r} is also in {self._owner[name].label}; rename one"
                    )
                self._owner[name] = part

    def names(self) -> list[str]:
        return list(self._owner)

    def open(self, name: str) -> BinaryIO:
        if name not in self._owner:
            raise InputError(f"{self.label}: no member {name!r}")
        return self._owner[name].open(name)

    def size(self, name: str) -> int:
        return self._owner[name].size(name)

    def close(self) -> None:
        for part in self.parts:
            part.close()


# ---------------------------------------------------------------- sniffing the bytes, not the name


def _kind_of(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "ole"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return "data"


def _claimed_kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        return "tar"
    if lower.endswith(".gz"):
        return "gzip"
    for ext, kind in ((".zip", "zip"), (".rar", "rar"), (".xlsx", "zip"), (".xlsm", "zip"), (".xls", "ole")):
        if lower.endswith(ext):
            return kind
    return "data"


def _is_xlsx(fileobj: IO[bytes]) -> bool:
    try:
        with zipfile.ZipFile(fileobj) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, EOFError):
        return False
    finally:
        fileobj.seek(0)
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def bundle_for_file(
    name: str, fileobj: IO[bytes], size: int, *, temp: TempSpace, limits: Limits | None = None
) -> Bundle:
    """A Bundle for one file, by its bytes: archives are opened, data files are one member.

    A name whose extension disagrees with the bytes (a `.zip` that is JSON, a `.jsonl` that is a
    zip) is refused rather than guessed at.
    """
    limits = limits or Limits()
    name = PurePosixPath(name.replace("\\", "/")).name or "upload"
    fileobj.seek(0)
    head = fileobj.read(512)
    fileobj.seek(0)
    kind, claimed = _kind_of(head), _claimed_kind(name)
    if kind == "gzip" and (claimed == "tar" or _gz_holds_tar(fileobj)):
        kind = "tar"
    if not head:
        raise InputError(f"{name}: the file is empty")
    if claimed == "data" and kind not in ("data",):
        raise InputError(f"{name}: the name says a data file but the bytes are a {kind} archive (refused)")
    if claimed != "data" and kind != claimed and not (claimed == "tar" and kind in ("bz2", "xz")):
        what = "plain data" if kind == "data" else f"a {kind} file"
        raise InputError(f"{name}: the name says {claimed} but the bytes are {what} (refused)")
    lower = name.lower()
    if lower.endswith((".xlsx", ".xlsm", ".xls")):
        if lower.endswith((".xlsx", ".xlsm")) and not _is_xlsx(fileobj):
            raise InputError(f"{name}: the name says xlsx but the zip holds no workbook (refused)")
        return FileBundle(name, _reopen(fileobj), size)
    if kind == "zip":
        return ZipBundle(name, fileobj, size, limits)
    if kind == "tar":
        return TarBundle(name, fileobj, size, limits, temp)
    if kind == "rar":
        return RarBundle(name, fileobj, size, limits)
    if kind == "gzip":
        return GzipBundle(name, _reopen(fileobj), size, limits)
    return FileBundle(name, _reopen(fileobj), size)


def _gz_holds_tar(fileobj: IO[bytes]) -> bool:
    try:
        with gzip.GzipFile(fileobj=fileobj) as gz:
            head = gz.read(512)
    except (OSError, EOFError, zlib.error):
        return False
    finally:
        fileobj.seek(0)
    return len(head) > 262 and head[257:262] == b"ustar"


class _Shared(io.RawIOBase):
    """An independent read position over one seekable file object (several readers at once)."""

    def __init__(self, base: IO[bytes]) -> None:
        self.base, self.pos = base, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = self.base.seek(0, 2) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        self.base.seek(self.pos)
        data = self.base.read(len(buffer))
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _reopen(fileobj: IO[bytes]) -> Any:
    return lambda: io.BufferedReader(_Shared(fileobj), buffer_size=MB)


# ---------------------------------------------------------------- URLs, with SSRF guards

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}


def allow_private_urls() -> bool:
    return os.environ.get("PARLEY_ALLOW_PRIVATE_URLS", "").lower() in ("1", "true", "yes")


def check_address(address: str, *, url: str) -> None:
    """Refuse an address a server-side fetch must never reach (checked after resolution, on what we connect to)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for inner in _embedded_v4(ip):
        check_address(str(inner), url=url)
    if ip in METADATA_ADDRESSES or ip.is_link_local:
        raise InputError(
            f"URL {url}: resolves to {ip}, a link-local or cloud-metadata address (always refused)"
        )
    if ip.is_unspecified or ip.is_multicast:
        raise InputError(f"URL {url}: resolves to {ip}, which is not a public address (refused)")
    if ip.is_private or ip.is_loopback:
        if not allow_private_urls():
            raise InputError(
                f"URL {url}: resolves to {ip}, a private or loopback address "
                "(refused; an operator may allow it with PARLEY_ALLOW_PRIVATE_URLS=1)"
            )
        return
    if ip.is_reserved or not ip.is_global:
        raise InputError(f"URL {url}: resolves to {ip}, which is not a public address (refused)")


def _embedded_v4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        found.append(ip.teredo[1])
    if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _resolve(host: str, port: int, url: str) -> tuple[int, Any]:
    """Resolve once; every address must pass; the first (family, sockaddr) is the one connected to (pinned)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"URL {url}: cannot resolve host {host!r} ({exc.strerror})") from None
    for info in infos:
        check_address(info[4][0], url=url)
    return infos[0][0], infos[0][4]


def _connect(address: tuple[int, Any], timeout: float) -> socket.socket:
    """A socket to the already-checked sockaddr; no second lookup (create_connection would resolve again)."""
    sock = socket.socket(address[0], socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address[1])
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: tuple[int, Any], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.timeout)  # type: ignore[arg-type]


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: tuple[int, Any], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = _connect(self._address, self.timeout)  # type: ignore[arg-type]
        # Certificate and SNI are checked against the name, while the socket goes to the pinned address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url


def fetch_url(url: str, out: IO[bytes], *, limits: Limits | None = None) -> str:
    """Download `url` into `out`, refusing unsafe addresses on every hop; returns the final file name."""
    limits = limits or Limits()
    shown = _redact(url)
    deadline = time.monotonic() + max(limits.url_timeout * 30, 60)
    for _hop in range(limits.max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise InputError(f"URL {shown}: only http and https URLs can be imported")
        if not parts.hostname:
            raise InputError(f"URL {shown}: no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _resolve(parts.hostname, port, shown)
        cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = cls(parts.hostname, port, address, limits.url_timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            conn.request("GET", path, headers={"User-Agent": "Parley-import", "Accept-Encoding": "identity"})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                conn.close()
                if not location:
                    raise InputError(f"URL {shown}: redirect without a Location")
                url = urljoin(url, location)
                shown = _redact(url)
                continue
            if resp.status == 404:
                raise InputError(f"URL {shown}: not found (HTTP 404)")
            if resp.status != 200:
                raise InputError(f"URL {shown}: the server answered HTTP {resp.status} {resp.reason}")
            total = 0
            while chunk := resp.read(MB):
                total += len(chunk)
                if total > limits.max_unpacked:
                    raise InputError(f"URL {shown}: larger than {limits.max_unpacked // MB} MB (refused)")
                if time.monotonic() > deadline:
                    raise InputError(f"URL {shown}: the download took too long (timed out)")
                out.write(chunk)
            out.seek(0)
            name = PurePosixPath(parts.path).name or parts.hostname
            return name
        except TimeoutError:
            raise InputError(f"URL {shown}: timed out after {limits.url_timeout:g} s") from None
        except ssl.SSLError as exc:
            raise InputError(f"URL {shown}: TLS failed ({exc.reason})") from None
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"URL {shown}: cannot download ({exc})") from None
        finally:
            conn.close()
    raise InputError(f"URL {shown}: more than {limits.max_redirects} redirects")


# ---------------------------------------------------------------- S3


def s3_client():  # type: ignore[no-untyped-def]
    """boto3's own credential chain; the endpoint comes from AWS_ENDPOINT_URL (server config) only."""
    import boto3

    return boto3.client("s3")


def split_s3(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InputError(f"{url}: not an s3://bucket/key address")
    return parts.netloc, parts.path.lstrip("/")


def _s3_error(url: str, exc: Exception) -> InputError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code in ("404", "NoSuchKey", "NotFound"):
        return InputError(f"{url}: no such S3 object")
    if code == "NoSuchBucket":
        return InputError(f"{url}: no such S3 bucket")
    if code in ("403", "AccessDenied"):
        return InputError(f"{url}: access denied by S3")
    return InputError(f"{url}: S3 error ({exc})")


class S3PrefixBundle(Bundle):
    """Every object under an s3:// prefix, streamed from S3 when opened."""

    is_archive = True

    def __init__(
        self, url: str, client: Any, bucket: str, prefix: str, keys: dict[str, tuple[str, int]]
    ) -> None:
        self.label, self.client, self.bucket, self.prefix, self._keys = url, client, bucket, prefix, keys

    def names(self) -> list[str]:
        return list(self._keys)

    def open(self, name: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        key = self._keys[name][0]
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            raise _s3_error(f"s3://{self.bucket}/{key}", exc) from None
        return guarded(body, label=f"s3://{self.bucket}/{key}", limit=self._keys[name][1] + 1)

    def size(self, name: str) -> int:
        return self._keys[name][1]


def fetch_s3_object(url: str, out: IO[bytes], client: Any = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(url)
    client = client or s3_client()
    try:
        client.download_fileobj(bucket, key, out)
    except ClientError as exc:
        raise _s3_error(url, exc) from None
    except BotoCoreError as exc:
        raise InputError(f"{url}: S3 error ({exc})") from None
    out.seek(0, 2)
    size = out.tell()
    out.seek(0)
    return size


def open_s3(url: str, *, temp: TempSpace, limits: Limits) -> Bundle:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(url)
    client = s3_client()
    if key and not key.endswith("/"):
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            head = None
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("404", "NoSuchKey", "NotFound"):
                raise _s3_error(url, exc) from None
        except BotoCoreError as exc:
            raise InputError(f"{url}: S3 error ({exc})") from None
        if head is not None:
            version = (url, str(head.get("ETag", "")), str(head.get("ContentLength", "")))

            def download(fileobj: IO[bytes]) -> str:
                fetch_s3_object(url, fileobj, client)
                return PurePosixPath(key).name

            out, name, size = fetched_file(version, download)
            temp.keep(out)
            return bundle_for_file(name, out, size, temp=temp, limits=limits)
    prefix = key if not key or key.endswith("/") else key + "/"
    keys: dict[str, tuple[str, int]] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = safe_member_name(obj["Key"][len(prefix) :], archive=url)
                if name and not _skip_name(name):
                    keys[name] = (obj["Key"], obj["Size"])
    except ClientError as exc:
        raise _s3_error(url, exc) from None
    except BotoCoreError as exc:
        raise InputError(f"{url}: S3 error ({exc})") from None
    if not keys:
        raise InputError(f"{url}: no such S3 object (and no objects under that prefix)")
    return S3PrefixBundle(url, client, bucket, prefix, keys)


def check_server_path(path: str) -> str:
    """Refuse a server path outside PARLEY_IMPORT_ROOTS (colon-separated folders) when that is set.

    The page lets admins import from the server's disk; an operator can fence that to data folders."""
    roots = [Path(r).resolve() for r in os.environ.get("PARLEY_IMPORT_ROOTS", "").split(":") if r.strip()]
    if roots:
        target = Path(path).expanduser().resolve()
        if not any(target == root or root in target.parents for root in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise InputError(f"{path}: outside the folders this server imports from ({allowed})")
    return path


# ---------------------------------------------------------------- the one entry point


@dataclass
class Upload:
    """Bytes a person uploaded (Streamlit's UploadedFile is one: name + read/seek)."""

    name: str
    data: Any  # bytes or a seekable binary file object


@contextlib.contextmanager
def open_source(source: Any, *, limits: Limits | None = None) -> Iterator[Bundle]:
    """A Bundle for `source`: a path (file or folder), an http(s) URL, s3://…, bytes, an upload, or a list
    of uploads; everything temporary is removed when the block exits, whatever happens."""
    limits = limits or Limits()
    temp = TempSpace()
    bundle: Bundle | None = None
    try:
        bundle = _open(source, temp, limits)
        if not bundle.names():
            raise InputError(f"{bundle.label}: no files inside")
        yield bundle
    finally:
        if bundle is not None:
            with contextlib.suppress(Exception):
                bundle.close()
        temp.close()


def source_label(source: Any) -> str:
    if isinstance(source, list | tuple):
        return ", ".join(source_label(s) for s in source)
    if isinstance(source, str | Path):
        return _redact(str(source))
    return str(getattr(source, "name", "upload"))


def _open(source: Any, temp: TempSpace, limits: Limits) -> Bundle:
    if isinstance(source, list | tuple):
        if len(source) == 1:
            return _open(source[0], temp, limits)
        return MultiBundle([_open(s, temp, limits) for s in source])
    if isinstance(source, OpenedFile):
        fileobj = temp.keep(os.fdopen(os.dup(source.fd), "rb"))
        size = fileobj.seek(0, 2)
        fileobj.seek(0)
        return bundle_for_file(source.name, fileobj, size, temp=temp, limits=limits)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        url = source
        out, name, size = fetched_file(
            (url, str(limits.max_unpacked)), lambda fileobj: fetch_url(url, fileobj, limits=limits)
        )
        temp.keep(out)
        return bundle_for_file(name, out, size, temp=temp, limits=limits)
    if isinstance(source, str) and source.startswith("s3://"):
        return open_s3(source, temp=temp, limits=limits)
    if isinstance(source, str) and "://" in source:
        raise InputError(f"{_redact(source)}: only http(s):// and s3:// addresses, or a path on the server")
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        if path.is_dir():
            return DirBundle(path)
        if not path.is_file():
            raise InputError(f"{path}: no such file or folder on the server")
        fileobj = temp.keep(path.open("rb"))
        return bundle_for_file(path.name, fileobj, path.stat().st_size, temp=temp, limits=limits)
    name = str(getattr(source, "name", "upload"))
    data = getattr(source, "data", source)
    if isinstance(data, bytes | bytearray | memoryview):
        fileobj: IO[bytes] = io.BytesIO(data)
    elif hasattr(data, "read") and hasattr(data, "seek"):
        fileobj = data
    else:
        raise InputError(f"{name}: cannot read this kind of source ({type(source).__name__})")
    size = fileobj.seek(0, 2)
    fileobj.seek(0)
    return bundle_for_file(name, fileobj, size, temp=temp, limits=limits)
