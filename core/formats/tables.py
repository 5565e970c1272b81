"""Spreadsheets (CSV, XLSX, XLS): reading cells, guessing the column mapping, rows → dialogues."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from core.dialogue import Candidate, Message, ParsedItem
from core.errors import FormatError
from core.formats.base import (
    Bundle,
    ImageResolver,
    Record,
    TableMapping,
    base_name,
    check_surrogates,
    message,
    open_member,
    read_member,
)
from core.formats.chat import preference_suggestion

MAX_XLSX_UNPACKED = 1 << 30  # an xlsx is a zip: refuse more than 1 GiB of unpacked XML
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
csv.field_size_limit(1 << 30)


# ------------------------------------------------------------------ reading cells


def _cell(value: Any) -> str:
    """A cell value as text: whole floats without ".0", dates in ISO form, empty for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _check_xlsx(data: bytes, name: str) -> None:
    """Refuse xlsx files whose XML declares a DOCTYPE/entities (entity bombs) or unpacks too large."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FormatError("not a valid xlsx (broken zip)", file=name) from None
    with zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_XLSX_UNPACKED:
            raise FormatError("xlsx unpacks to more than 1 GiB (refused: possible zip bomb)", file=name)
        for info in infos:
            if not info.filename.endswith((".xml", ".rels", ".vml")):
                continue
            with zf.open(info) as f:
                tail = b""
                while chunk := f.read(1 << 20):
                    if _DOCTYPE.search(tail + chunk):
                        raise FormatError(
                            f"xlsx part {info.filename} declares an XML DOCTYPE/entities (refused: possible entity bomb)",
                            file=name,
                        )
                    tail = chunk[-16:]


def _sheet_rows(
    data: bytes, name: str, fmt: str, sheet: str | None
) -> tuple[list[list[Any]], list[str], str]:
    """Cell values (cached results, never formulas) of one sheet, the sheet names, and the sheet read."""
    from python_calamine import CalamineError, CalamineWorkbook

    if fmt == "xlsx":
        _check_xlsx(data, name)
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (CalamineError, ValueError, OSError) as exc:
        raise FormatError(f"cannot read the workbook: {exc}", file=name) from None
    sheets = list(wb.sheet_names)
    if not sheets:
        raise FormatError("the workbook has no sheets", file=name)
    chosen = sheet or sheets[0]
    if chosen not in sheets:
        raise FormatError(f"no sheet named {chosen!r} (sheets: {', '.join(sheets)})", file=name)
    try:
        rows = wb.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    except (CalamineError, ValueError) as exc:
        raise FormatError(f"cannot read sheet {chosen!r}: {exc}", file=name) from None
    return rows, sheets, chosen


def _csv_rows(bundle: Bundle, name: str) -> Iterator[list[str]]:
    stream = open_member(bundle, name)
    head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        stream.close()
        raise FormatError("not UTF-8 (looks like UTF-16); save the file as UTF-8", file=name)
    first = head.split(b"\n", 1)[0]
    if base_name(name).endswith(".tsv") or first.count(b"\t") > first.count(b","):
        delimiter = "\t"
    elif first.count(b";") > first.count(b","):
        delimiter = ";"
    else:
        delimiter = ","
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    row = 0
    try:
        for row, cells in enumerate(csv.reader(text, delimiter=delimiter), 1):  # noqa: B007
            yield cells
    except UnicodeDecodeError:
        raise FormatError(
            "not UTF-8 (the file must be UTF-8 encoded)", file=name, record=f"row {row + 1}"
        ) from None
    except csv.Error as exc:
        raise FormatError(f"invalid CSV: {exc}", file=name, record=f"row {row + 1}") from None
    finally:
        text.close()


def load_table(
    bundle: Bundle, name: str, fmt: str, sheet: str | None = None
) -> tuple[list[str], Iterator[list[Any]], list[str]]:
    """(header, data rows as lists of cell text, sheet names) of a CSV / XLSX / XLS member.

    Header cells are stripped; blank ones become "column N", repeated ones get " (2)", " (3)"."""
    if fmt == "csv":
        rows: Iterator[list[Any]] = _csv_rows(bundle, name)
        sheets: list[str] = []
    else:
        data = read_member(bundle, name)
        cells, sheets, _ = _sheet_rows(data, name, fmt, sheet)
        rows = iter([[_cell(v) for v in r] for r in cells])
    header_raw = next(rows, None)
    if header_raw is None:
        raise FormatError("the table is empty (no header row)", file=name)
    header: list[str] = []
    for i, h in enumerate(header_raw, 1):
        h = str(h).strip() or f"column {i}"
        base, n = h, 2
        while h in header:
            h, n = f"{base} ({n})", n + 1
        header.append(h)
    while (
        header and header[-1].startswith("column ") and header[-1] not in [str(x).strip() for x in header_raw]
    ):
        header.pop()  # trailing empty header cells of a sheet's used range
    return header, rows, sheets


def table_columns(
    bundle: Bundle, name: str, fmt: str, sheet: str | None = None
) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """For the mapping step: (column names, the first 20 rows as {column: text}, sheet names ([] for CSV))."""
    header, rows, sheets = load_table(bundle, name, fmt, sheet)
    sample = []
    for cells in rows:
        if len(sample) >= 20:
            break
        if any(str(c).strip() for c in cells):
            sample.append({h: (str(cells[i]) if i < len(cells) else "") for i, h in enumerate(header)})
    if hasattr(rows, "close"):
        rows.close()  # type: ignore[union-attr]
    return header, sample, sheets


# ------------------------------------------------------------------ guessing the mapping


def _norm(col: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", col.lower()).strip("_")


_ID = (
    "conversation_id",
    "conv_id",
    "dialogue_id",
    "dialog_id",
    "thread_id",
    "session_id",
    "chat_id",
    "item_id",
    "id",
    "uid",
    "uuid",
    "conversation",
    "dialogue",
    "dialog",
    "conv",
    "thread",
    "chat",
)
_TURN = (
    "turn",
    "turn_id",
    "turn_index",
    "turn_number",
    "message_index",
    "index",
    "position",
    "order",
    "seq",
    "step",
)
_ROLE_COLS = ("role", "speaker", "from", "author", "sender", "who")
_TEXT = ("content", "text", "message", "value", "utterance", "body")
_PROMPT = ("prompt", "question", "instruction", "query", "input", "user", "human", "user_message", "text")
_RESPONSE = ("response", "answer", "output", "completion", "reply", "assistant", "gpt", "bot", "target")
_SYSTEM = ("system", "system_prompt", "system_message")
_IMAGE = re.compile(r"^(image|images|img|picture|photo|image_path|image_url|image_file|file_name)(_?\d+)?$")
_CAND = re.compile(r"^(response|answer|output|completion|reply|candidate|model)_?([0-9]+|[a-z])$")
_NAME = ("name", "title")
_ROLE_VALUES = {"user", "human", "prompter", "assistant", "gpt", "bot", "model", "system"}


def _find(cols: dict[str, str], names: tuple[str, ...], taken: set[str]) -> str | None:
    for n in names:
        col = cols.get(n)
        if col is not None and col not in taken:
            return col
    return None


def guess_mapping(columns: list[str], sample_rows: list[dict]) -> TableMapping:
    """A first guess the person importing corrects. One row a message when there is a role column (by
    name, or a column whose sample values are all role names) and a text column; otherwise one row an item:
    prompt/question/instruction → prompt, response/answer/output → response, response_1..n (or _a, _b, or
    chosen + rejected) → candidates, image* → images. Unused columns go to meta."""
    cols = {_norm(c): c for c in reversed(columns)}
    taken: set[str] = set()
    role = _find(cols, _ROLE_COLS, taken)
    if role is None:
        for c in columns:
            values = {str(r.get(c, "")).strip().lower() for r in sample_rows} - {""}
            if values and values <= _ROLE_VALUES and len(sample_rows) >= 2:
                role = c
                break
    text = _find(cols, _TEXT, {role} if role else set())
    if role and text:
        taken = {role, text}
        m = TableMapping(layout="message", role=role, text=text)
        m.id = _find(cols, _ID, taken)
        taken.add(m.id or "")
        m.turn = _find(cols, _TURN, taken)
        taken.add(m.turn or "")
        m.image = next((c for c in columns if _IMAGE.match(_norm(c)) and c not in taken), None)
        taken.add(m.image or "")
        m.meta = [c for c in columns if c not in taken]
        return m
    m = TableMapping(layout="item")
    m.id = _find(cols, ("id", "item_id", "uid", "uuid", "conversation_id", "dialogue_id"), taken)
    taken.add(m.id or "")
    m.system = _find(cols, _SYSTEM, taken)
    taken.add(m.system or "")
    m.images = [c for c in columns if _IMAGE.match(_norm(c))]
    taken.update(m.images)
    if "chosen" in cols and "rejected" in cols:
        m.candidates, m.preference = [cols["chosen"], cols["rejected"]], True
    else:
        m.candidates = [c for c in columns if _CAND.match(_norm(c)) and c not in taken]
    taken.update(m.candidates)
    m.prompt = _find(cols, _PROMPT, taken)
    taken.add(m.prompt or "")
    resp = _find(cols, _RESPONSE, taken)
    if resp and m.candidates and not m.preference:
        m.candidates.insert(0, resp)  # "response" beside "response_1…" is one of the alternatives
        taken.add(resp)
    elif resp:
        m.response = resp
        taken.add(resp)
    if m.prompt is None and not m.response and not m.candidates:
        rest = [c for c in columns if c not in taken]
        m.prompt = rest[0] if rest else None
        taken.add(m.prompt or "")
    m.name = _find(cols, _NAME, taken)
    taken.add(m.name or "")
    m.meta = [c for c in columns if c not in taken]
    return m


# ------------------------------------------------------------------ rows → items


def _split_refs(cell: str) -> list[str]:
    return [p.strip() for p in re.split(r"[\n|;]", cell) if p.strip()]


def _check_columns(mapping: TableMapping, header: list[str], name: str) -> None:
    used = [
        mapping.id,
        mapping.name,
        mapping.system,
        mapping.prompt,
        mapping.response,
        mapping.turn,
        mapping.role,
        mapping.text,
        mapping.image,
    ]
    used += mapping.candidates + mapping.images + mapping.meta
    missing = [c for c in used if c and c not in header]
    if missing:
        raise FormatError(
            f"mapped column(s) not in the table: {', '.join(missing)} (columns: {', '.join(header)})",
            file=name,
        )
    if mapping.layout == "message" and not (mapping.role and mapping.text):
        raise FormatError("one row a message needs a role column and a text column", file=name)
    if mapping.layout == "item" and not (mapping.prompt or mapping.response or mapping.candidates):
        raise FormatError("one row an item needs at least a prompt, response or candidate column", file=name)


def read_table(
    bundle: Bundle,
    name: str,
    fmt: str,
    mapping: TableMapping | None,
    sheet: str | None,
    names: set[str],
    qualify: bool,
    max_chars: int,
) -> Iterator[ParsedItem]:
    """Items of a spreadsheet. Errors name the row as the spreadsheet shows it (header = row 1)."""
    header, rows, _ = load_table(bundle, name, fmt, sheet)
    if mapping is None:
        buffered = []
        for cells in rows:
            buffered.append(cells)
            if len(buffered) >= 20:
                break
        sample = [{h: (str(r[i]) if i < len(r) else "") for i, h in enumerate(header)} for r in buffered]
        mapping = guess_mapping(header, sample)
        rows = _chain(buffered, rows)
    _check_columns(mapping, header, name)
    index = {h: i for i, h in enumerate(header)}
    resolve = ImageResolver(name, names)
    xls = fmt == "xls"

    def records() -> Iterator[tuple[dict[str, str], Record]]:
        number = 0
        for rowno, cells in enumerate(rows, 2):
            if not any(str(c).strip() for c in cells):
                continue
            number += 1
            rec = Record(name, f"row {rowno}", number, qualify, max_chars)
            row = {h: (cells[i] if i < len(cells) else "") for h, i in index.items()}
            if xls:
                for h, v in row.items():
                    check_surrogates(v, rec, h)
            yield row, rec

    if mapping.layout == "message":
        yield from _message_rows(records(), mapping, resolve)
    else:
        for row, rec in records():
            yield _item_row(row, rec, mapping, resolve)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _item_row(row: dict[str, str], rec: Record, m: TableMapping, resolve: ImageResolver) -> ParsedItem:
    messages: list[Message] = []
    if m.system and row[m.system].strip():
        messages.append(message("system", rec.text(row[m.system], m.system)))
    images = [resolve(ref, rec, col) for col in m.images for ref in _split_refs(row[col])]
    if m.prompt:
        if not (row[m.prompt].strip() or images):
            raise rec.error("empty dialogue (the prompt is empty)", m.prompt)
        messages.append(message("user", rec.text(row[m.prompt], m.prompt), images))
    elif images:
        raise rec.error("images but no prompt text column", m.images[0])
    if m.response and row[m.response].strip():
        messages.append(message("bot", rec.text(row[m.response], m.response)))
    if not any(mm["role"] != "system" for mm in messages):
        raise rec.error("empty dialogue (no prompt)", m.prompt or "")
    candidates: list[Candidate] = [
        {"text": rec.text(row[c], c), "images": [], "meta": {"column": c}}
        for c in m.candidates
        if row[c].strip()
    ]
    suggestions = []
    if m.preference and len(m.candidates) == 2 and len(candidates) == 2:
        suggestions.append(preference_suggestion("table"))
    ext = row[m.id].strip() if m.id else ""
    return ParsedItem(
        external_id=ext or rec.default_id(),
        name=row[m.name].strip() if m.name else "",
        messages=messages,
        candidates=candidates,
        suggestions=suggestions,
        meta={c: row[c] for c in m.meta if row[c] != ""},
    )


def _turn_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _message_rows(
    records: Iterator[tuple[dict[str, str], Record]], m: TableMapping, resolve: ImageResolver
) -> Iterator[ParsedItem]:
    """Rows grouped by conversation id (first-seen order), ordered by turn (stable), then: several bot rows
    sharing the last turn → candidates; the rest → messages. The whole table is grouped in memory."""
    groups: dict[str, list[tuple[dict[str, str], Record]]] = {}
    for row, rec in records:
        key = row[m.id].strip() if m.id else ""
        if m.id and not key:
            raise rec.error("empty conversation id", m.id)
        groups.setdefault(key, []).append((row, rec))
    for key, rows in groups.items():
        if m.turn:
            rows.sort(key=lambda rr: _turn_key(rr[0][m.turn].strip()))  # type: ignore[index]
        parsed = []
        for row, rec in rows:
            role = rec.role(row[m.role], m.role or "")  # type: ignore[index]
            text = rec.text(row[m.text], m.text or "")  # type: ignore[index]
            images = [resolve(ref, rec, m.image) for ref in _split_refs(row[m.image])] if m.image else []
            parsed.append((role, text, images, row[m.turn].strip() if m.turn else None))
        candidates: list[Candidate] = []
        if m.turn and len(parsed) >= 2:
            last_turn = parsed[-1][3]
            tail = [p for p in parsed if p[3] == last_turn]
            if len(tail) >= 2 and all(p[0] == "bot" for p in tail):
                parsed = parsed[: len(parsed) - len(tail)]
                candidates = [{"text": t, "images": imgs} for _, t, imgs, _ in tail]
        messages = [message(role, text, images) for role, text, images, _ in parsed]
        first_row, first_rec = rows[0]
        if not messages:
            raise first_rec.error("empty dialogue (only candidate rows)", m.role or "")
        yield ParsedItem(
            external_id=key or first_rec.default_id(),
            messages=messages,
            candidates=candidates,
            meta={c: first_row[c] for c in m.meta if first_row[c] != ""},
        )
