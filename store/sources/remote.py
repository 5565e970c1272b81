"""Remote sources: http(s) URLs fetched with SSRF guards (every hop checked, the checked address pinned)
and S3 objects or prefixes; a fetched file is kept for the import that follows its preview.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import time
from pathlib import PurePosixPath
from typing import IO, Any, BinaryIO
from urllib.parse import urljoin, urlsplit

from store.errors import InputError
from store.sources.base import MB, Limits, TempSpace, fetched_file
from store.sources.bundles import Bundle, bundle_for_file, guarded, safe_member_name, skip_name

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


def redact(url: str) -> str:
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
    shown = redact(url)
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
                shown = redact(url)
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
                if name and not skip_name(name):
                    keys[name] = (obj["Key"], obj["Size"])
    except ClientError as exc:
        raise _s3_error(url, exc) from None
    except BotoCoreError as exc:
        raise InputError(f"{url}: S3 error ({exc})") from None
    if not keys:
        raise InputError(f"{url}: no such S3 object (and no objects under that prefix)")
    return S3PrefixBundle(url, client, bucket, prefix, keys)
