"""Where imported data comes from, opened as a Bundle of named members: uploads, server paths, archives,
http(s) URLs (with SSRF guards) and S3 — every refusal is an InputError that names the file and the reason.

`open_source` is the one entry point; the basics and temp files are in `base`, the archives and folders
in `bundles`, URLs and S3 in `remote`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from store.errors import InputError
from store.sources.base import (
    MB,
    Limits,
    OpenedFile,
    TempSpace,
    cleanup_stale_temp,
    fetched_file,
    forget_fetched,
    kept_download,
)
from store.sources.bundles import Bundle, DirBundle, MultiBundle, bundle_for_file
from store.sources.remote import fetch_url, open_s3, redact

__all__ = [
    "MB",
    "Bundle",
    "Limits",
    "OpenedFile",
    "Upload",
    "check_server_path",
    "cleanup_stale_temp",
    "forget_fetched",
    "kept_download",
    "open_source",
    "source_label",
]


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
        return redact(str(source))
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
        raise InputError(f"{redact(source)}: only http(s):// and s3:// addresses, or a path on the server")
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
