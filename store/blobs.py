"""Blob storage behind one small interface: a local folder (default) or S3 via boto3 (PARLEY_BLOBS=s3://…)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

DEFAULT_BLOBS = "data/blobs"


class BlobStore(Protocol):
    """Content-addressed bytes: keys are sha256 hex digests (or other plain names made by Parley)."""

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    if not key or key.startswith(("/", ".")) or ".." in key or "\\" in key:
        raise ValueError(f"blob key {key!r}: not a plain name")
    return key


class LocalBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        if path.exists():
            self.touch(key)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def touch(self, key: str) -> None:
        """Mark a blob as just used (its age is what keys_older_than judges orphans by)."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(key))

    def keys_older_than(self, seconds: float) -> Iterator[str]:
        """Keys of blobs last written or touched more than `seconds` ago; also removes such leftover
        temp files of a put that was killed half-way."""
        cutoff = time.time() - seconds
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                try:
                    old = path.stat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if not old:
                    continue
                if path.name.startswith("."):
                    path.unlink(missing_ok=True)  # ".<key>.<pid>.tmp" of a killed put
                else:
                    yield path.name


class S3BlobStore:
    """S3 through boto3: credentials and AWS_ENDPOINT_URL come from boto3's own chain (server config only)."""

    def __init__(self, bucket: str, prefix: str = "", client=None) -> None:  # type: ignore[no-untyped-def]
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys_older_than(self, seconds: float) -> Iterator[str]:
        """Keys of objects under the prefix last written more than `seconds` ago."""
        cutoff = time.time() - seconds
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.prefix) :]
                if key and "/" not in key and obj["LastModified"].timestamp() < cutoff:
                    yield key


def make_blob_store(spec: str) -> BlobStore:
    """A blob store for `spec`: a folder path, or s3://bucket/prefix."""
    if spec.startswith("s3://"):
        parsed = urlparse(spec)
        return S3BlobStore(parsed.netloc, parsed.path)
    return LocalBlobStore(spec)


@cache
def _blob_store_for(spec: str) -> BlobStore:
    return make_blob_store(spec)


def get_blob_store(spec: str | None = None) -> BlobStore:
    """The process-wide blob store (default: PARLEY_BLOBS as it is now, else data/blobs)."""
    return _blob_store_for(spec or os.environ.get("PARLEY_BLOBS", DEFAULT_BLOBS))


get_blob_store.cache_clear = _blob_store_for.cache_clear  # type: ignore[attr-defined]
