"""Bundles: named members opened as binary streams, from one file, an archive (zip, tar, gzip, RAR) or a
folder, each guarded against zip-slip, links and bombs; `bundle_for_file` picks one by the bytes, not the name.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from store.errors import InputError
from store.sources.base import MB, Limits, TempSpace

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


def skip_name(name: str) -> bool:
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
            if name is None or info.is_dir() or skip_name(name):
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
            if skip_name(name):
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
            if name is None or info.is_dir() or skip_name(name):
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
            if not skip_name(name):
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
