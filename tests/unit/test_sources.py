"""Import sources: archives, URLs and S3 opened safely, each refusal a clear message."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import socket
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from store import sources
from store.errors import InputError
from store.sources import Limits, Upload, base, cleanup_stale_temp, open_source, remote

JSONL = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def read_all(source, **kw) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    with open_source(source, **kw) as bundle:
        out = {}
        for name in bundle.names():
            with bundle.open(name) as fh:
                out[name] = fh.read()
        return out


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def temp_dirs() -> set[str]:
    return {p.name for p in base.temp_root().glob(base.TEMP_PREFIX + "*")}


# ---------------------------------------------------------------- archives


def test_zip_with_nested_folders_opens_by_relative_names() -> None:
    data = zip_bytes({"top/chats.jsonl": JSONL, "top/img/a.png": b"png", "__MACOSX/._x": b"junk"})
    assert read_all(Upload("x.zip", data)) == {"top/chats.jsonl": JSONL, "top/img/a.png": b"png"}


def test_zip_slip_is_refused() -> None:
    data = zip_bytes({"../../etc/evil.jsonl": JSONL})
    with pytest.raises(InputError, match=r"evil.zip: member '\.\./\.\./etc/evil.jsonl' points outside"):
        read_all(Upload("evil.zip", data))


def test_zip_absolute_path_is_refused() -> None:
    data = zip_bytes({"/etc/passwd": b"x"})
    with pytest.raises(InputError, match="absolute path"):
        read_all(Upload("abs.zip", data))


def test_zip_bomb_is_refused_by_ratio() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.jsonl", "w") as out:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(100):
            out.write(chunk)
    assert len(buf.getvalue()) < 1024 * 1024
    with pytest.raises(
        InputError, match=r"bomb.zip: member 'zeros.jsonl' unpacks \d+x its packed size \(zip bomb"
    ):
        read_all(Upload("bomb.zip", buf.getvalue()))


def test_zip_total_unpacked_limit() -> None:
    data = zip_bytes({f"f{i}.jsonl": os.urandom(200_000) for i in range(5)})
    with pytest.raises(InputError, match="over the limit of 0 MB"):
        read_all(Upload("big.zip", data), limits=Limits(max_unpacked=500_000))


def tar_bytes(add, mode: str = "w:gz") -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        add(tf)
    return buf.getvalue()


def _file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def test_tar_gz_with_folders_opens() -> None:
    data = tar_bytes(lambda tf: (_file(tf, "d/chats.jsonl", JSONL), _file(tf, "d/e/1.png", b"p")))
    assert read_all(Upload("x.tar.gz", data)) == {"d/chats.jsonl": JSONL, "d/e/1.png": b"p"}
    plain = tar_bytes(lambda tf: _file(tf, "chats.jsonl", JSONL), mode="w")
    assert read_all(Upload("x.tar", plain)) == {"chats.jsonl": JSONL}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (tarfile.SYMTYPE, "is a link"),
        (tarfile.LNKTYPE, "is a link"),
        (tarfile.CHRTYPE, "is a device or special"),
    ],
)
def test_tar_links_and_devices_are_refused(kind: bytes, message: str) -> None:
    def add(tf: tarfile.TarFile) -> None:
        _file(tf, "chats.jsonl", JSONL)
        info = tarfile.TarInfo("sneaky")
        info.type = kind
        info.linkname = "/etc/passwd"
        tf.addfile(info)

    with pytest.raises(InputError, match=f"x.tgz: member 'sneaky' {message}"):
        read_all(Upload("x.tgz", tar_bytes(add)))


def test_tar_path_escape_is_refused() -> None:
    data = tar_bytes(lambda tf: _file(tf, "../up.jsonl", JSONL))
    with pytest.raises(InputError, match="points outside the archive"):
        read_all(Upload("x.tgz", data))


def test_gzip_single_file_is_unpacked_as_it_is_read() -> None:
    assert read_all(Upload("chats.jsonl.gz", gzip.compress(JSONL * 3))) == {"chats.jsonl": JSONL * 3}


def test_truncated_gzip_names_the_file() -> None:
    data = gzip.compress(os.urandom(50_000))
    with pytest.raises(InputError, match="chats.jsonl.gz: the compressed data is truncated or corrupt"):
        read_all(Upload("chats.jsonl.gz", data[: len(data) // 2]))


def test_truncated_tar_gz_is_a_clear_error() -> None:
    data = tar_bytes(lambda tf: _file(tf, "chats.jsonl", os.urandom(100_000)))
    with pytest.raises(InputError, match="x.tar.gz: the compressed data is truncated or corrupt"):
        read_all(Upload("x.tar.gz", data[: len(data) // 2]))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("chats.zip", JSONL, "the name says zip but the bytes are plain data"),
        (
            "chats.jsonl",
            zip_bytes({"a.jsonl": JSONL}),
            "the name says a data file but the bytes are a zip archive",
        ),
        ("chats.json.gz", JSONL, "the name says gzip but the bytes are plain data"),
        ("book.xlsx", zip_bytes({"a.jsonl": JSONL}), "the name says xlsx but the zip holds no workbook"),
        ("chats.rar", gzip.compress(JSONL, mtime=0), "the name says rar but the bytes are a gzip file"),
    ],
)
def test_a_lying_extension_is_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=f"{name}: {message}"):
        read_all(Upload(name, data))


def test_empty_file_is_refused() -> None:
    with pytest.raises(InputError, match="x.jsonl: the file is empty"):
        read_all(Upload("x.jsonl", b""))


def test_real_rar_with_stored_members(datasets_dir: Path) -> None:
    members = read_all(datasets_dir / "llamafactory_mllm_demo.rar")
    assert sorted(members) == [
        "mllm_demo.json",
        "mllm_demo_data/1.jpg",
        "mllm_demo_data/2.jpg",
        "mllm_demo_data/3.jpg",
    ]
    assert (
        members["mllm_demo_data/1.jpg"]
        == (datasets_dir / "multimodal/data/mllm_demo_data/1.jpg").read_bytes()
    )


def compressed_rar(name: str, data: bytes) -> bytes:
    """A RAR 4 archive whose member claims method 0x33 (compressed), so reading it needs a RAR tool."""

    def block(head_type: int, flags: int, body: bytes) -> bytes:
        rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest

    raw = name.encode()
    body = struct.pack(
        "<IIBIIBBHI", len(data), len(data), 0, zlib.crc32(data), 0x5A000000, 29, 0x33, len(raw), 0x20
    )
    return (
        b"Rar!\x1a\x07\x00"
        + block(0x73, 0, b"\0" * 6)
        + block(0x74, 0x8000, body + raw)
        + data
        + block(0x7B, 0x4000, b"")
    )


def test_rar_without_a_backend_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rarfile

    monkeypatch.setenv("PATH", str(tmp_path))  # no bsdtar, unrar or 7z to be found
    try:
        with pytest.raises(InputError, match=r"x.rar: .*no RAR tool was found; install .*libarchive-tools"):
            read_all(Upload("x.rar", compressed_rar("chats.jsonl", JSONL)))
    finally:
        monkeypatch.undo()
        rarfile.tool_setup(force=True)


# ---------------------------------------------------------------- folders, temp files


def test_folder_on_the_server_with_nested_folders(datasets_dir: Path) -> None:
    with open_source(datasets_dir / "multimodal") as bundle:
        assert "data/mllm_demo_data/2.jpg" in bundle.names()
        assert "llava_serve_examples/waterview.jpg" in bundle.names()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder on the server"):
        read_all(str(tmp_path / "nope.jsonl"))


def test_temp_folder_is_removed_on_error_and_stale_ones_are_cleaned(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARLEY_TMP", str(tmp_path))
    data = tar_bytes(lambda tf: _file(tf, "chats.jsonl", os.urandom(100_000)))
    with pytest.raises(InputError):
        read_all(Upload("x.tar.gz", data[:-300]))
    assert temp_dirs() == set()
    stale = tmp_path / f"{base.TEMP_PREFIX}999999999-abc"
    stale.mkdir()
    (stale / "left.bin").write_bytes(b"x")
    mine = tmp_path / f"{base.TEMP_PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    assert cleanup_stale_temp() == 1
    assert not stale.exists() and mine.exists()


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 as one decimal number
        "http://0251.0376.0251.0376/",  # and in octal
    ],
)
def test_metadata_and_link_local_urls_are_always_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ALLOW_PRIVATE_URLS", "1")
    with pytest.raises(InputError, match="link-local or cloud-metadata address .always refused."):
        read_all(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x.jsonl", "http://2130706433/x.jsonl", "http://0177.0.0.1/", "http://0x7f.1/", "http://[::1]/",
     "http://10.0.0.5/", "http://192.168.1.1/", "http://localhost/"],
)  # fmt: skip
def test_private_and_loopback_urls_are_refused_by_default(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_ALLOW_PRIVATE_URLS", raising=False)
    with pytest.raises(InputError, match="a private or loopback address .refused; an operator may allow it"):
        read_all(url)


def test_other_schemes_are_refused() -> None:
    with pytest.raises(InputError, match="only http"):
        read_all("file:///etc/passwd")
    with pytest.raises(InputError, match="only http"):
        read_all("ftp://example.com/x.jsonl")


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        if self.path == "/slow":
            time.sleep(3)
        status, headers, body = self.routes.get(self.path, (404, {}, b"not here"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARLEY_ALLOW_PRIVATE_URLS", "1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Handler.routes = {
        "/chats.jsonl": (200, {}, JSONL),
        "/pack.zip": (200, {}, zip_bytes({"in/chats.jsonl": JSONL})),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/"}, b""),
        "/to-private": (302, {"Location": "http://10.1.2.3/chats.jsonl"}, b""),
        "/to-local": (301, {"Location": "/chats.jsonl"}, b""),
        "/slow": (200, {}, JSONL),
    }
    yield base
    server.shutdown()
    sources.forget_fetched()  # downloads kept for an import: none outlives its test


def test_url_download_and_zip_by_url(web: str) -> None:
    assert read_all(web + "/chats.jsonl") == {"chats.jsonl": JSONL}
    assert read_all(web + "/pack.zip") == {"in/chats.jsonl": JSONL}
    assert read_all(web + "/to-local") == {"chats.jsonl": JSONL}


def test_a_url_is_downloaded_once_for_mapping_preview_and_import(web: str) -> None:
    _Handler.hits.clear()
    sources.forget_fetched()
    url = web + "/pack.zip"
    for _ in range(3):  # table_info, preview_source, import_source each open the source
        assert read_all(url) == {"in/chats.jsonl": JSONL}
    assert _Handler.hits == ["/pack.zip"]
    kept = list(base.temp_root().glob(f"{base.TEMP_PREFIX}{os.getpid()}-fetched/*"))
    assert len(kept) == 1
    sources.forget_fetched(url)  # what import_source does once the import is in
    assert not kept[0].exists()
    assert read_all(url) == {"in/chats.jsonl": JSONL}
    assert _Handler.hits == ["/pack.zip", "/pack.zip"]
    sources.forget_fetched(url)


def test_a_failed_download_is_not_kept(web: str) -> None:
    _Handler.hits.clear()
    for _ in range(2):
        with pytest.raises(InputError, match="HTTP 404"):
            read_all(web + "/missing.jsonl")
    assert _Handler.hits == ["/missing.jsonl", "/missing.jsonl"]


def test_url_404_is_a_clear_error(web: str) -> None:
    with pytest.raises(InputError, match=r"/missing.jsonl: not found \(HTTP 404\)"):
        read_all(web + "/missing.jsonl")


def test_url_timeout(web: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_URL_TIMEOUT", "0.5")
    with pytest.raises(InputError, match=r"/slow: timed out after 0.5 s"):
        read_all(web + "/slow")


def test_every_redirect_is_checked_again(web: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="169.254.169.254.*always refused"):
        read_all(web + "/to-metadata")
    real = remote.check_address

    def loopback_only(address: str, *, url: str) -> None:
        # The test server is on 127.0.0.1: let it pass, and judge every other address as configured.
        monkeypatch.delenv("PARLEY_ALLOW_PRIVATE_URLS", raising=False)
        if address != "127.0.0.1":
            real(address, url=url)

    monkeypatch.setattr(remote, "check_address", loopback_only)
    with pytest.raises(InputError, match=r"http://10.1.2.3/chats.jsonl: resolves to 10.1.2.3, a private"):
        read_all(web + "/to-private")


def test_the_resolved_address_is_the_one_connected_to(web: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolves to a refused address on the check cannot be fetched by resolving again later."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def flipping(host, port, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(host)
        # First answer public-looking (allowed), any later lookup would say metadata: it must not happen.
        target = "127.0.0.1" if len(calls) == 1 else "169.254.169.254"
        return real(target, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", flipping)
    port = web.rsplit(":", 1)[1]
    assert read_all(f"http://rebind.example:{port}/chats.jsonl") == {"chats.jsonl": JSONL}
    assert calls == ["rebind.example"]


# ---------------------------------------------------------------- S3


def test_s3_key_prefix_and_missing_key(s3) -> None:  # type: ignore[no-untyped-def]
    client = s3.client()
    client.create_bucket(Bucket="imports")
    client.put_object(Bucket="imports", Key="set/chats.jsonl", Body=JSONL)
    client.put_object(Bucket="imports", Key="set/img/1.png", Body=b"png")
    client.put_object(Bucket="imports", Key="pack.zip", Body=zip_bytes({"a/chats.jsonl": JSONL}))
    assert read_all("s3://imports/set/chats.jsonl") == {"chats.jsonl": JSONL}
    assert read_all("s3://imports/set") == {"chats.jsonl": JSONL, "img/1.png": b"png"}
    assert read_all("s3://imports/pack.zip") == {"a/chats.jsonl": JSONL}
    with pytest.raises(InputError, match="s3://imports/nope.jsonl: no such S3 object"):
        read_all("s3://imports/nope.jsonl")
    with pytest.raises(InputError, match="s3://no-bucket/x.jsonl: no such S3 bucket"):
        read_all("s3://no-bucket/x.jsonl")


def test_an_s3_object_is_downloaded_once_until_it_changes(s3) -> None:  # type: ignore[no-untyped-def]
    client = s3.client()
    client.create_bucket(Bucket="again")
    client.put_object(Bucket="again", Key="chats.jsonl", Body=JSONL)
    calls: list[str] = []
    real = remote.fetch_s3_object

    def counting(url, out, client=None):  # type: ignore[no-untyped-def]
        calls.append(url)
        return real(url, out, client)

    remote.fetch_s3_object = counting  # type: ignore[assignment]
    try:
        assert read_all("s3://again/chats.jsonl") == {"chats.jsonl": JSONL}
        assert read_all("s3://again/chats.jsonl") == {"chats.jsonl": JSONL}
        assert calls == ["s3://again/chats.jsonl"]
        changed = JSONL.replace(b"hello", b"hello again")
        client.put_object(Bucket="again", Key="chats.jsonl", Body=changed)  # a new ETag: fetched afresh
        assert read_all("s3://again/chats.jsonl") == {"chats.jsonl": changed}
        assert len(calls) == 2
    finally:
        remote.fetch_s3_object = real  # type: ignore[assignment]
        sources.forget_fetched("s3://again/chats.jsonl")


def test_several_uploads_side_by_side_and_a_name_clash() -> None:
    files = [Upload("chats.jsonl", JSONL), Upload("pics.zip", zip_bytes({"img/a.png": b"p"}))]
    assert read_all(files) == {"chats.jsonl": JSONL, "img/a.png": b"p"}
    clash = [Upload("chats.jsonl", JSONL), Upload("more.zip", zip_bytes({"chats.jsonl": JSONL}))]
    with pytest.raises(InputError, match="more.zip: 'chats.jsonl' is also in chats.jsonl; rename one"):
        read_all(clash)


def test_server_paths_can_be_fenced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_IMPORT_ROOTS", raising=False)
    assert sources.check_server_path("/etc/passwd") == "/etc/passwd"
    monkeypatch.setenv("PARLEY_IMPORT_ROOTS", str(tmp_path))
    assert sources.check_server_path(str(tmp_path / "a" / "b.jsonl"))
    with pytest.raises(InputError, match="outside the folders this server imports from"):
        sources.check_server_path(str(tmp_path / ".." / "x.jsonl"))
    with pytest.raises(InputError, match="outside the folders"):
        sources.check_server_path("/etc/passwd")
