"""Format detection by content: magic bytes first, then the keys of the first records."""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

from core.errors import FormatError
from core.formats.base import Bundle, base_name, check_encoding_head, open_member, read_member


class UnknownFormat(FormatError):
    """The bytes are readable but match no known format (a several-file bundle skips such files)."""


# (magic, offset, what it looks like)
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"%PDF", 0, "a PDF document"),
    (b"Rar!\x1a\x07", 0, "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"BZh", 0, "a bzip2 file"),
    (b"\xfd7zXZ\x00", 0, "an xz file"),
    (b"\x28\xb5\x2f\xfd", 0, "a zstd file"),
    (b"ustar", 257, "a tar archive"),
    (b"\x00\x00\x00\x18ftyp", 0, "a video or HEIC image"),
    (b"\x00\x00\x00\x1cftyp", 0, "a video or HEIC image"),
    (b"\x00\x00\x00\x20ftyp", 0, "a video or HEIC image"),
)
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"

DATA_EXTENSIONS = (".json", ".jsonl", ".ndjson", ".jsonlines", ".csv", ".tsv", ".xlsx", ".xlsm", ".xls")
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".svg",
    ".heic",
    ".avif",
)


def is_data_name(name: str) -> bool:
    return base_name(name).endswith(DATA_EXTENSIONS)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def describe_bytes(head: bytes) -> str | None:
    """What binary bytes look like ("a PNG image", "a zip archive", …), or None for text."""
    for magic, offset, what in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return what
    if head.startswith(ZIP) or head.startswith(b"PK\x05\x06"):
        return "a zip archive"
    if head.startswith(OLE2):
        return "an Excel 97-2003 (.xls) workbook or another OLE2 document"
    stripped = head.lstrip()
    if stripped[:5].lower() in (b"<?xml", b"<svg ", b"<html", b"<!doc"):
        return "an XML/HTML/SVG document"
    return None


def sniff_record(obj: Any) -> str | None:
    """The format one JSON record belongs to, by its keys; None when it matches nothing."""
    if not isinstance(obj, dict):
        return None
    keys = obj.keys()
    if len(obj) == 1 and isinstance(obj.get("parley"), dict):  # native header line (core/export/native.py)
        return "native"
    if "message_tree_id" in keys or (isinstance(obj.get("prompt"), dict) and "replies" in obj["prompt"]):
        return "oasst"
    if "question_id" in keys and "text" in keys and "answer_id" not in keys and "review_id" not in keys:
        return "vicuna_bench"
    chosen, rejected = obj.get("chosen"), obj.get("rejected")
    if (
        isinstance(chosen, str)
        and isinstance(rejected, str)
        and "prompt" not in keys
        and "\n\nHuman:" in chosen
    ):
        return "hh_rlhf"
    if "chosen" in keys and "rejected" in keys:
        return "preference"
    if "completions" in keys and "prompt" in keys:
        return "preference"
    if isinstance(obj.get("label"), bool) and (
        "messages" in keys or "completion" in keys or "conversations" in keys
    ):
        return "kto"
    if "responses" in keys or "annotations" in keys:
        return "native"
    if "messages" in keys:
        msgs = obj["messages"]
        if isinstance(msgs, list):
            for m in msgs[:50]:
                if isinstance(m, dict) and (
                    m.get("role") == "bot" or "images" in m or "text" in m and "content" not in m
                ):
                    return "native"
        return "openai"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and ("output" in keys or "input" in keys):
        return "alpaca"
    return None


def _sample_records(head: bytes, name: str) -> list[Any]:
    """Up to 20 records from the first bytes of a JSON/JSONL member (incomplete tail ignored)."""
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff").lstrip()
    out: list[Any] = []
    if text.startswith("["):
        decoder = json.JSONDecoder()
        pos = 1
        while len(out) < 20:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError):
                break
            out.append(obj)
        return out
    for line in text.splitlines()[:21]:
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                break
    if not out:  # one pretty-printed object: read it whole below
        try:
            doc = json.JSONDecoder().raw_decode(text)[0]
        except (ValueError, RecursionError):
            return []
        out = [doc]
    return out


def _unwrap(records: list[Any]) -> list[Any]:
    from core.formats.base import RECORD_LIST_KEYS

    if len(records) == 1 and isinstance(records[0], dict):
        doc = records[0]
        for key in RECORD_LIST_KEYS:
            if isinstance(doc.get(key), list) and len(doc) <= 3:
                return doc[key][:20]
    return records


def detect_file(bundle: Bundle, name: str) -> str:
    """The format name of one member, by its bytes and its first records (the extension only breaks ties).

    Raises FormatError saying what the bytes look like when they are an image, an archive etc., and
    UnknownFormat when they are text/JSON matching no format.
    """
    try:
        stream = open_member(bundle, name)
        try:
            head = stream.read(1 << 20)
        finally:
            stream.close()
    except (EOFError, OSError, zlib.error) as exc:
        raise FormatError(f"cannot read the file (truncated or corrupt?): {exc}", file=name) from None
    ext = base_name(name)
    what = describe_bytes(head)
    if what is not None:
        if what == "a zip archive" and _zip_is_xlsx(bundle, name):
            return "xlsx"
        if what.startswith("an Excel 97-2003") and not ext.endswith((".json", ".jsonl", ".csv")):
            return "xls"
        raise FormatError(f"this is not a data file: its bytes look like {what}", file=name)
    if not head.strip():
        raise FormatError("the file is empty", file=name)
    check_encoding_head(head[:4], name)
    first = head.lstrip(b"\xef\xbb\xbf").lstrip()[:1]
    if first in (b"[", b"{"):
        records = _unwrap(_sample_records(head, name))
        if not records:  # the first record is longer than the head, or the JSON is broken
            return _whole_document_format(bundle, name)
        for obj in records:
            fmt = sniff_record(obj)
            if fmt:
                return fmt
        keys = sorted(records[0].keys())[:12] if isinstance(records[0], dict) else type(records[0]).__name__
        raise UnknownFormat(f"JSON records match no known format (first record's keys: {keys})", file=name)
    if ext.endswith((".json", ".jsonl", ".ndjson")):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                raise FormatError("not UTF-8 (the file must be UTF-8 encoded)", file=name) from None
        raise FormatError(
            "not JSON: the file does not start with [ or { (looks like plain text or CSV)", file=name
        )
    if (
        ext.endswith(".tsv")
        or ext.endswith(".csv")
        or b"," in head.split(b"\n", 1)[0]
        or b"\t" in head.split(b"\n", 1)[0]
    ):
        return "csv"
    raise UnknownFormat("not a known data format (expected JSON, JSONL, CSV, XLSX or XLS)", file=name)


def _whole_document_format(bundle: Bundle, name: str) -> str:
    from core.formats.base import iter_records

    for obj, _rec in iter_records(bundle, name):
        fmt = sniff_record(obj)
        if fmt:
            return fmt
        break
    raise UnknownFormat("JSON matches no known format", file=name)


def _zip_is_xlsx(bundle: Bundle, name: str) -> bool:
    import io
    import zipfile

    try:
        data = read_member(bundle, name) if bundle.size(name) <= (256 << 20) else b""
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return "[Content_Types].xml" in members and any(m.startswith("xl/") for m in members)


def is_vicuna_layout(names: list[str]) -> bool:
    """question.jsonl plus answer files (answer/*.jsonl or answer*.jsonl) in one bundle."""
    has_q = any(n.rsplit("/", 1)[-1] == "question.jsonl" for n in names)
    has_a = any(
        "/answer/" in f"/{n}" or n.rsplit("/", 1)[-1].startswith("answer")
        for n in names
        if n.endswith(".jsonl")
    )
    return has_q and has_a
