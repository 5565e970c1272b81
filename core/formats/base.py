"""Shared pieces of the format readers: the Bundle protocol, options, records, text checks, image refs."""

from __future__ import annotations

import codecs
import gzip
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol, runtime_checkable

import orjson

from core.dialogue import ROLE_ALIASES, Message, ParsedItem, normalize_role
from core.errors import FormatError

# ------------------------------------------------------------------ contracts


@runtime_checkable
class Bundle(Protocol):
    """A set of files to import, built by the importer from an upload, a path or folder, an archive, a URL
    or S3. Member names are relative, "/"-separated and already safety-checked (no "..", no absolute paths).

    A member compressed with gzip (``x.jsonl.gz``) may be handed over either decompressed or as is: the
    readers recognise the gzip magic bytes and decompress on the fly, and ignore a trailing ``.gz`` when
    they look at the extension.
    """

    def names(self) -> list[str]:
        """Every member path (files only), "/"-separated and relative."""
        ...

    def open(self, name: str) -> BinaryIO:
        """A fresh binary stream of the member from its start; the caller closes it."""
        ...

    def size(self, name: str) -> int:
        """The member's size in bytes (as stored; used for limits and progress)."""
        ...


@dataclass
class TableMapping:
    """How a spreadsheet's columns make dialogues. Column names are the header cells as read.

    layout "item" (one row an item):
        id: column with the item id (else the row number), name: optional item name column,
        system: system prompt column, prompt: the user message, response: the bot reply kept as a
        message (SFT), candidates: columns holding alternative bot replies (RLHF, labelled A, B, …),
        images: columns holding image refs for the user message (several refs in one cell may be
        separated by newlines, "|" or ";").
        preference: when True and there are exactly two candidate columns, the first is "chosen" and
        the second "rejected" (a preference suggestion is added).
    layout "message" (one row a message):
        id: the conversation id column (rows with the same value make one item, in first-seen order),
        turn: optional column to order the rows of a conversation (else row order), role: the role
        column (user/human/prompter, assistant/gpt/bot/model, system), text: the message text,
        image: image refs for that message. Several bot rows sharing the last turn number become the
        item's candidates instead of messages.
    Both: meta lists columns copied into the item's meta.
    """

    layout: Literal["item", "message"] = "item"
    id: str | None = None
    name: str | None = None
    # one row an item
    system: str | None = None
    prompt: str | None = None
    response: str | None = None
    candidates: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    preference: bool = False
    # one row a message
    turn: str | None = None
    role: str | None = None
    text: str | None = None
    image: str | None = None
    meta: list[str] = field(default_factory=list)


@dataclass
class ImportOptions:
    """What the person importing chose.

    format: a name from FORMATS to force, else each data file is detected by content.
    sheet: the xlsx/xls sheet to read (default the first).
    mapping: the spreadsheet column mapping (default: guess_mapping's guess).
    max_message_chars: a message or candidate text longer than this is an error.
    qualify_ids: True → items without a source id get "path/in/bundle.jsonl:7" instead of "7". None (the
        default) → qualified when the bundle holds more than one data file. The importer sets True for
        archives.
    data_files: read only these members (default: every member that looks like a data file).
    """

    format: str | None = None
    sheet: str | None = None
    mapping: TableMapping | None = None
    max_message_chars: int = 200_000
    qualify_ids: bool | None = None
    data_files: list[str] | None = None


@dataclass
class Reading:
    """What read_bundle found: the format, the data files, and the items as a lazy stream.

    `items` is a generator: iterating it parses the files (JSONL streams line by line); a FormatError can
    come out of it at any record, so an importer must treat the whole iteration as one transaction.
    `skipped_files` lists members of a several-file bundle that are neither images nor a known data format
    (e.g. a README.txt, LLaMA-Factory's dataset_info.json); they are not imported.
    `ontology` is filled by the native reader when the file carries one.
    """

    format: str
    data_files: list[str]
    items: Iterator[ParsedItem]
    ontology: dict | None = None
    skipped_files: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ records


class Record:
    """Where a record sits, for ids and error messages: file, "line 7" / "record 7" / "row 7".

    `number` is the record's 1-based number in its file (its default id). For JSONL the label is built
    only when needed (from `line`), which keeps the per-line cost low."""

    __slots__ = ("file", "_label", "line", "number", "qualify", "max_chars")

    def __init__(
        self, file: str, label: str | None, number: int, qualify: bool, max_chars: int, line: int = 0
    ) -> None:
        self.file, self._label, self.number, self.qualify, self.max_chars, self.line = (
            file,
            label,
            number,
            qualify,
            max_chars,
            line,
        )

    @property
    def label(self) -> str | None:
        return self._label if self._label is not None or not self.line else f"line {self.line}"

    def error(self, message: str, field: str = "") -> FormatError:
        return FormatError(message, file=self.file, record=self.label, field=field)

    def default_id(self, suffix: str = "") -> str:
        """The id of an item with no source id: "7", or "path/file.jsonl:7" in a several-file bundle."""
        base = f"{self.file}:{self.number}" if self.qualify else str(self.number)
        return base + suffix

    def item_id(self, obj: dict, key: str = "id") -> str:
        """The source id (obj[key]) when present, else default_id()."""
        value = obj.get(key)
        if value is None or value == "":
            return self.default_id()
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        raise self.error(f"id must be a string or a number, not {type(value).__name__}", key)

    def text(self, value: Any, field: str) -> str:
        """A text field, checked: str (numbers are turned into text), no NUL byte, not too long."""
        if type(value) is not str:
            if value is None:
                return ""
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            else:
                raise self.error(f"expected text, got {type(value).__name__}", field)
        if len(value) > self.max_chars:
            raise self.error(
                f"text is {len(value):,} characters, over the limit of {self.max_chars:,}", field
            )
        if "\x00" in value:
            raise self.error("text contains a NUL byte (\\u0000)", field)
        return value

    def role(self, value: Any, field: str) -> str:
        role = normalize_role(value) if isinstance(value, str) else None
        if role is None:
            known = ", ".join(sorted(ROLE_ALIASES))
            raise self.error(f"unknown role {value!r} (known: {known})", field)
        return role


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_surrogates(text: str, rec: Record, field: str) -> str:
    """Text from sources that can carry lone surrogates (xls); JSON's are refused by orjson already."""
    if _SURROGATE.search(text):
        raise rec.error("text contains a lone surrogate (invalid Unicode)", field)
    return text


def message(role: str, text: str, images: list[str] | None = None, meta: dict | None = None) -> Message:
    """A message as readers emit it: role, text and images always present, meta only when non-empty."""
    m: Message = {"role": role, "text": text, "images": images or []}  # type: ignore[typeddict-item]
    if meta:
        m["meta"] = meta
    return m


def plain_message(m: Any, max_chars: int) -> Message | None:
    """The fast path for the common message: a {role, content} (or {role, text}, {from, value}) dict of
    two keys, a known lower-case role and plain text without NUL or `<image>`; None → take the full path
    (which also produces the error messages). No per-field strings are built here, which is what makes
    the 1 GB JSONL import fast."""
    if type(m) is not dict or len(m) != 2:
        return None
    role = m.get("role")
    if role is None:
        role = m.get("from")
        text = m.get("value")
    else:
        text = m.get("content")
        if text is None:
            text = m.get("text")
    if (
        type(role) is str
        and type(text) is str
        and role in ROLE_ALIASES
        and len(text) <= max_chars
        and "\x00" not in text
        and "<image>" not in text
    ):
        return {"role": ROLE_ALIASES[role], "text": text, "images": []}
    return None


def require_dialogue(messages: list, rec: Record, field: str = "messages") -> None:
    if not messages:
        raise rec.error("empty dialogue (no messages)", field)


# ------------------------------------------------------------------ image refs

_URL_PREFIXES = ("http://", "https://", "s3://", "data:")


def resolve_image_ref(ref: str, data_file: str, names: set[str]) -> str | None:
    """The bundle member an image ref names, or the ref itself when it is a URL.

    http(s)://, s3:// and data: URIs are returned as they are (the importer fetches or decodes them).
    A relative path is looked up relative to the data file's folder first, then from the bundle root;
    "./" and backslashes are tolerated. Absolute paths, "file:" URLs and paths escaping the bundle give
    None, as does a path that is not in the bundle.
    """
    ref = ref.strip()
    if ref.startswith(_URL_PREFIXES):
        return ref
    if not ref or ref.startswith(("/", "file:")) or re.match(r"^[A-Za-z]:[\\/]", ref):
        return None
    ref = ref.replace("\\", "/")
    folder = posixpath.dirname(data_file)
    for candidate in (posixpath.join(folder, ref), ref) if folder else (ref,):
        path = posixpath.normpath(candidate)
        if path.startswith("../") or path == "..":
            continue
        if path in names:
            return path
    return None


class ImageResolver:
    """resolve_image_ref bound to one data file, raising FormatError for refs not in the bundle."""

    __slots__ = ("data_file", "names", "cache")

    def __init__(self, data_file: str, names: set[str]) -> None:
        self.data_file, self.names, self.cache = data_file, names, {}

    def __call__(self, ref: Any, rec: Record, field: str) -> str:
        if not isinstance(ref, str):
            raise rec.error(f"image reference must be text, not {type(ref).__name__}", field)
        hit = self.cache.get(ref)
        if hit is None:
            hit = resolve_image_ref(ref, self.data_file, self.names)
            if hit is None:
                raise rec.error(
                    f"image {ref!r} is not in the upload (looked beside the data file and at the root)", field
                )
            self.cache[ref] = hit
        return hit


# ------------------------------------------------------------------ bytes → records

GZIP_MAGIC = b"\x1f\x8b"


class _RawAdapter(io.RawIOBase):
    """A stream with only read() (e.g. an HTTP or S3 body) made fit for io.BufferedReader."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()


class _GzipMember(gzip.GzipFile):
    """A gunzipping stream that also closes the member stream under it."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__(fileobj=inner, mode="rb")
        self._inner = inner

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._inner.close()


def open_member(bundle: Bundle, name: str) -> BinaryIO:
    """The member's bytes as a stream with peek(), gunzipped when they start with the gzip magic."""
    raw: Any = bundle.open(name)
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw if hasattr(raw, "readinto") else _RawAdapter(raw), 1 << 16)
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return _GzipMember(raw)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def read_member(bundle: Bundle, name: str) -> bytes:
    """All of a member's (gunzipped) bytes, for formats that need them at once (xlsx, xls)."""
    stream = open_member(bundle, name)
    try:
        return stream.read()
    finally:
        stream.close()


def base_name(name: str) -> str:
    """The member name without a trailing .gz, lower-cased, for extension checks."""
    low = name.lower()
    return low[:-3] if low.endswith(".gz") else low


def _json_error(exc: Exception, rec: Record) -> FormatError:
    text = str(exc)
    if "UTF-8" in text:
        return rec.error("not UTF-8 (the file must be UTF-8 encoded)")
    if "depth limit" in text or "recursion" in text:
        return rec.error("JSON nested too deep")
    if "surrogate" in text:
        return rec.error(f"invalid JSON: lone surrogate in a string ({text})")
    return rec.error(f"invalid JSON: {text}")


def check_encoding_head(head: bytes, file: str) -> None:
    """Refuse UTF-16/32 early with a clear message (UTF-8 with BOM is fine)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) >= 2 and (head[0] == 0 or head[1] == 0)):
        raise FormatError("not UTF-8 (looks like UTF-16); save the file as UTF-8", file=file)


def iter_jsonl(stream: BinaryIO, file: str, qualify: bool, max_chars: int) -> Iterator[tuple[Any, Record]]:
    """(object, Record) per non-blank line; Record.label is "line N" (physical), Record.number counts records."""
    loads = orjson.loads
    number = 0
    lineno = 0
    for line in stream:
        lineno += 1
        if lineno == 1:
            check_encoding_head(line[:4], file)
            if line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
        if line.isspace() or not line:
            continue
        number += 1
        rec = Record(file, None, number, qualify, max_chars, lineno)
        try:
            obj = loads(line)
        except orjson.JSONDecodeError as exc:
            raise _json_error(exc, rec) from None
        yield obj, rec


def load_json(stream: BinaryIO, file: str) -> Any:
    """A whole JSON document (arrays are loaded at once; JSONL is the streaming format)."""
    data = stream.read()
    check_encoding_head(data[:4], file)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _json_error(exc, Record(file, None, 0, False, 0)) from None  # type: ignore[arg-type]


ARRAY_STREAM_BYTES = 16 << 20  # JSON arrays larger than this are read element by element
_WS = re.compile(r"[ \t\n\r]*")


def iter_json_array(
    stream: BinaryIO, file: str, qualify: bool, max_chars: int, chunk: int = 4 << 20
) -> Iterator[tuple[Any, Record]]:
    """(object, Record) per element of a top-level JSON array, holding one chunk (+ one element) in memory.

    The stdlib decoder's raw_decode finds where each element ends (an element cut by the chunk boundary is
    retried with the next chunk); orjson then parses the element's text, so values, limits and error
    messages are the same as on the JSONL path."""
    import json

    raw_decode = json.JSONDecoder().raw_decode
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buf, pos, eof = "", 0, False
    where = Record(file, "record 1", 1, qualify, max_chars)

    def more() -> None:
        nonlocal buf, pos, eof
        data = stream.read(chunk)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise where.error("not UTF-8 (the file must be UTF-8 encoded)") from None
        eof = not data
        buf, pos = buf[pos:] + text, 0

    def skip_ws() -> None:
        nonlocal pos
        while True:
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if pos < len(buf) or eof:
                return
            more()

    more()
    check_encoding_head(buf[:2].encode("utf-8", "surrogatepass"), file)
    skip_ws()
    if pos >= len(buf) or buf[pos] != "[":
        raise FormatError("expected a JSON array", file=file)
    pos += 1
    number = 0
    while True:
        skip_ws()
        if pos >= len(buf):
            raise where.error("invalid JSON: the array is not closed (truncated file?)")
        if buf[pos] == "]" and number == 0:
            pos += 1
            break
        if number:
            if buf[pos] == "]":
                pos += 1
                break
            if buf[pos] != ",":
                raise where.error(f"invalid JSON: expected ',' or ']' after record {number}")
            pos += 1
            skip_ws()
        where = Record(file, f"record {number + 1}", number + 1, qualify, max_chars)
        while True:
            try:
                end = raw_decode(buf, pos)[1]
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(buf) - 8 or exc.msg.startswith("Unterminated string")
                if cut and not eof:
                    more()
                    continue
                raise where.error(f"invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise where.error("JSON nested too deep") from None
            if end >= len(buf) and not eof:  # a number or literal may go on in the next chunk
                more()
                continue
            break
        number += 1
        try:
            obj = orjson.loads(buf[pos:end])
        except orjson.JSONDecodeError as exc:
            raise _json_error(exc, where) from None
        pos = end
        yield obj, where
    skip_ws()
    if pos < len(buf):
        raise FormatError("invalid JSON: content after the closing ]", file=file)


RECORD_LIST_KEYS = ("data", "items", "records", "rows", "examples", "instances", "dialogues")


def records_of_document(doc: Any, file: str, qualify: bool, max_chars: int) -> Iterator[tuple[Any, Record]]:
    """Records of a JSON document: an array's elements, a wrapper object's list (data/items/…), or the
    object itself as one record."""
    if isinstance(doc, dict):
        for key in RECORD_LIST_KEYS:
            if isinstance(doc.get(key), list) and len(doc) <= 3:
                doc = doc[key]
                break
        else:
            yield doc, Record(file, "record 1", 1, qualify, max_chars)
            return
    if not isinstance(doc, list):
        raise FormatError(f"expected a JSON array or object, got {type(doc).__name__}", file=file)
    for i, obj in enumerate(doc, 1):
        yield obj, Record(file, f"record {i}", i, qualify, max_chars)


def is_jsonl_name(name: str) -> bool:
    return base_name(name).endswith((".jsonl", ".ndjson", ".jsonlines"))


def iter_records(
    bundle: Bundle, name: str, *, qualify: bool = False, max_chars: int = 200_000, jsonl: bool | None = None
) -> Iterator[tuple[Any, Record]]:
    """(object, Record) for each record of a JSON or JSONL member, streaming JSONL.

    jsonl None → decided by content: a document whose first non-blank byte is "[" is a JSON array, one
    whose first line is a complete JSON value is JSONL, anything else is one JSON document.
    """
    stream = open_member(bundle, name)
    try:
        if jsonl is None:
            jsonl = _looks_like_jsonl(stream) if hasattr(stream, "peek") else is_jsonl_name(name)
        if jsonl:
            yield from iter_jsonl(stream, name, qualify, max_chars)
        elif _starts_array(stream) and bundle.size(name) > ARRAY_STREAM_BYTES:
            yield from iter_json_array(stream, name, qualify, max_chars)
        else:
            yield from records_of_document(load_json(stream, name), name, qualify, max_chars)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
        # a truncated gzip, a corrupt archive member: the bytes end or break mid-way
        raise FormatError(
            f"cannot read the file to its end (truncated or corrupt?): {exc}", file=name
        ) from None
    finally:
        stream.close()


def _starts_array(stream: Any) -> bool:
    return hasattr(stream, "peek") and stream.peek(4096).lstrip(b"\xef\xbb\xbf").lstrip()[:1] == b"["


def _looks_like_jsonl(stream: Any) -> bool:
    head = stream.peek(65536)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"["):
        return False
    first, sep, _ = text.partition(b"\n")
    if not sep:
        # the first line goes past the peeked head (a long record, or a one-line file): reading it as
        # JSONL is right for both, since a pretty-printed document's first line is a lone "{"
        return text.startswith(b"{")
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError:
        return False


RecordParser = Callable[[Any, Record, ImageResolver], "ParsedItem | list[ParsedItem] | None"]


def require_dict(obj: Any, rec: Record) -> dict:
    if type(obj) is not dict:
        raise rec.error(f"expected a JSON object, got {type(obj).__name__}")
    return obj
