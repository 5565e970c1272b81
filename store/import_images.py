"""Images an import brings, and their blobs: each distinct image checked (Pillow), stored once in the blob
store, with its Asset row written in the import's transaction; blobs an import stored and did not commit are
deleted again (on its error, or later by the orphan sweep after a kill)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import warnings
from hashlib import sha256
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlmodel import Session

from store.blobs import BlobStore
from store.errors import InputError
from store.models import Asset, utcnow
from store.sources import MB, Bundle, Limits
from store.sources.remote import fetch_s3_object, fetch_url

IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_IMAGE_BYTES = 50 * MB


def check_image(data: bytes, *, label: str) -> tuple[str, int, int]:
    """(mime, width, height) for PNG/JPEG/GIF/WebP bytes; InputError for anything else or a pixel bomb."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"{label}: image larger than {MAX_IMAGE_BYTES // MB} MB (refused)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as im:
                width, height = im.size
                fmt = im.format or ""
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputError(
                f"{label}: image has too many pixels (decompression bomb, over {Image.MAX_IMAGE_PIXELS} "
                f"pixels; refused): {exc}"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise InputError(f"{label}: not a PNG, JPEG, GIF or WebP image (refused)") from None
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"{label}: image format {fmt or 'unknown'} is not allowed (PNG, JPEG, GIF, WebP)")
    return IMAGE_FORMATS[fmt], width, height


def read_image_ref(
    ref: str, bundle: Bundle, *, label: str, limits: Limits, names: set[str] | None = None
) -> bytes:
    """The bytes behind an image reference: a bundle member, an http(s) URL (SSRF-guarded) or s3://."""
    if ref.startswith(("http://", "https://")):
        buf = io.BytesIO()
        fetch_url(ref, buf, limits=Limits(max_unpacked=MAX_IMAGE_BYTES, url_timeout=limits.url_timeout))
        return buf.getvalue()
    if ref.startswith("data:"):
        return _data_uri(ref, label=label)
    if ref.startswith("s3://"):
        buf = io.BytesIO()
        fetch_s3_object(ref, buf)
        return buf.getvalue()
    if ref not in (names if names is not None else set(bundle.names())) and not _has(bundle, ref):
        raise InputError(f"{label}: image {ref!r} is not in {bundle.label}")
    with bundle.open(ref) as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    return data


def _data_uri(ref: str, *, label: str) -> bytes:
    import base64
    import binascii

    head, _, payload = ref.partition(",")
    if not head.endswith(";base64"):
        raise InputError(f"{label}: only base64 data: image URIs are supported")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{label}: a data: image URI is not valid base64") from None


def _has(bundle: Bundle, name: str) -> bool:
    try:
        bundle.size(name)
    except (KeyError, InputError):
        return False
    return True


class ImageStore:
    """Stores each distinct image once per import: checked by Pillow, put in the blob store, Asset rows."""

    def __init__(self, session: Session, bundle: Bundle, blobs: BlobStore, limits: Limits) -> None:
        self.session, self.bundle, self.blobs, self.limits = session, bundle, blobs, limits
        self.by_ref: dict[str, str] = {}
        self.known: set[str] = set()  # asset ids with a row (before or in this import)
        self.pending: dict[str, dict[str, Any]] = {}  # Asset rows to insert unless one exists already
        self.created_blobs: list[str] = []
        self.used: set[str] = set()
        self.names = set(bundle.names())

    def asset_id(self, ref: str, *, label: str) -> str:
        found = self.by_ref.get(ref)
        if found is None:
            data = read_image_ref(ref, self.bundle, label=label, limits=self.limits, names=self.names)
            mime, width, height = check_image(data, label=f"{label}: image {ref!r}")
            found = sha256(data).hexdigest()
            if found not in self.known:
                if not self.blobs.exists(found):
                    self.blobs.put(found, data, content_type=mime)
                    self.created_blobs.append(found)
                elif hasattr(self.blobs, "touch"):
                    self.blobs.touch(found)  # in use again: sweep_orphan_blobs must not take it now
                self.pending[found] = {"id": found, "mime": mime, "width": width, "height": height,
                                       "bytes": len(data), "created_at": utcnow()}  # fmt: skip
            self.known.add(found)
            self.by_ref[ref] = found
        self.used.add(found)
        return found

    def flush(self, pending: dict[str, dict[str, Any]]) -> None:
        """Insert a batch's new Asset rows; one query finds those stored by an earlier import."""
        if not pending:
            return
        ids = list(pending)
        for start in range(0, len(ids), 500):
            query = select(Asset.id).where(Asset.id.in_(ids[start : start + 500]))
            for existing in self.session.execute(query).scalars():
                del pending[existing]
        if pending:
            self.session.execute(insert(Asset), list(pending.values()))


ORPHAN_BLOB_HOURS = float(os.environ.get("PARLEY_ORPHAN_BLOB_HOURS", "24"))
SWEEP_EVERY_SECONDS = 3600.0
_last_sweep: dict[int, float] = {}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def sweep_orphan_blobs(
    engine: Engine, blobs: BlobStore, *, older_than_hours: float = ORPHAN_BLOB_HOURS
) -> int:
    """Delete image blobs that no Asset row names and that were last written over `older_than_hours` ago.

    An import killed with `kill -9` leaves the blobs it stored without rows (its transaction never
    committed). The age keeps the blobs of an import still running (or one about to commit) safe: an
    import touches a blob it finds already stored. Only sha256-named keys are looked at. Returns how many
    were deleted."""
    keys_older_than = getattr(blobs, "keys_older_than", None)
    if keys_older_than is None:
        return 0
    old = [k for k in keys_older_than(older_than_hours * 3600) if _SHA256.fullmatch(k)]
    deleted = 0
    for start in range(0, len(old), 500):
        chunk = old[start : start + 500]
        with Session(engine) as session:
            kept = set(session.execute(select(Asset.id).where(Asset.id.in_(chunk))).scalars())
        for key in chunk:
            if key not in kept:
                with contextlib.suppress(Exception):
                    blobs.delete(key)
                    deleted += 1
    return deleted


def sweep_now(engine: Engine, blobs: BlobStore) -> None:
    """sweep_orphan_blobs at an import's start, at most once an hour per blob store in this process."""
    now = time.monotonic()
    if now - _last_sweep.get(id(blobs), -SWEEP_EVERY_SECONDS) < SWEEP_EVERY_SECONDS:
        return
    _last_sweep[id(blobs)] = now
    with contextlib.suppress(Exception):  # a sweep that fails must not stop the import
        sweep_orphan_blobs(engine, blobs)


def delete_blobs(engine: Engine, blobs: BlobStore, keys: list[str]) -> None:
    """Delete blobs this import created, unless another import committed an Asset row for one meanwhile."""
    if not keys:
        return
    with contextlib.suppress(Exception), Session(engine) as session:
        kept = set(session.execute(select(Asset.id).where(Asset.id.in_(keys))).scalars())
        keys = [k for k in keys if k not in kept]
    for key in keys:
        with contextlib.suppress(Exception):
            blobs.delete(key)
