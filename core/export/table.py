"""CSV and XLSX: one row a result, readable by a person; cells that a spreadsheet would run are escaped.

Columns: item, annotator, status, validity, invalid reason, updated at, class, alias, target ("message 2",
"candidate B", "response"), message, candidate, role, text, source text, then one column per attribute of
the ontology (by attribute name; the class column says whose) and one per classification ("q: name") with
that annotation's answer on each of its rows. Rows follow native's result order (message results, candidate
results, written replies: core/export/native.py result_key). An annotation without results still gets one
row (its classification answers). Lists are joined with "; ", other structures written as JSON.

Formula injection: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, or the
full-width `＝ ＋ － ＠`, gets a leading `'`, in CSV and in XLSX (where cells are also written as plain
strings, never formulas). Numbers stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

import orjson

from core.dialogue import candidate_label
from core.export.common import Options, Schema
from core.export.native import result_key

RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
BASE_COLUMNS = [
    "item", "annotator", "status", "validity", "invalid_reason", "updated_at", "class", "alias", "target",
    "message", "candidate", "role", "text", "source_text",
]  # fmt: skip


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as written: text cells that could run as a formula get a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        value = "; ".join(str(v) for v in value)
    elif not isinstance(value, str):
        value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return "'" + value if value.startswith(RISKY_START) else value


def columns(schema: Schema) -> list[str]:
    return BASE_COLUMNS + schema.attribute_names() + [f"q: {name}" for name in schema.classifications]


def _target(result: dict[str, Any]) -> str:
    if result.get("message") is not None:
        return f"message {result['message']}"
    if result.get("candidate") is not None:
        return f"candidate {candidate_label(int(result['candidate']))}"
    return "response" if result.get("class") else ""


def records(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    """One row (a dict by column) per result, per annotation."""
    attributes = schema.attribute_names()
    for ann in sorted(item.get("annotations") or [], key=lambda a: a["annotator"]):
        answers = ann.get("classifications") or {}
        base = {
            "item": item["id"],
            "annotator": ann["annotator"],
            "status": ann["status"],
            "validity": ann.get("validity", "valid"),
            "invalid_reason": ann.get("invalid_reason") or "",
            "updated_at": ann.get("updated_at") or "",
        }
        questions = {f"q: {name}": answers.get(name) for name in schema.classifications}
        results = sorted(ann.get("results") or [], key=result_key) or [{}]
        for result in results:
            values = result.get("values") or {}
            cls = schema.classes.get(result.get("class", "")) or {}
            row = {
                **base,
                "class": result.get("class", ""),
                "alias": cls.get("alias", ""),
                "target": _target(result),
                "message": result.get("message"),
                "candidate": result.get("candidate"),
                "role": result.get("role"),
                "text": result.get("text"),
                "source_text": result.get("source_text"),
                **{name: values.get(name) for name in attributes},
                **questions,
            }
            yield row


class CsvWriter:
    """Rows to a CSV text stream (UTF-8 with a BOM so spreadsheet programs read the accents right)."""

    def __init__(self, fh: IO[str], header: list[str]) -> None:
        fh.write("\ufeff")
        self.header = header
        self.writer = csv.writer(fh)
        self.writer.writerow([safe_cell(h) for h in header])

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow([safe_cell(row.get(h)) for h in self.header])

    def close(self) -> None:
        pass


class XlsxWriter:
    """Rows to an XLSX file in openpyxl's write-only mode (rows go to disk as they come)."""

    def __init__(self, path: str, header: list[str]) -> None:
        from openpyxl import Workbook

        self.path = path
        self.header = header
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("results")
        self._append(header)

    def _append(self, values: list[Any]) -> None:
        from openpyxl.cell import WriteOnlyCell

        cells = []
        for value in values:
            value = safe_cell(value)
            cell = WriteOnlyCell(self.sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # a string cell is never evaluated, whatever it starts with
            cells.append(cell)
        self.sheet.append(cells)

    def write(self, row: dict[str, Any]) -> None:
        self._append([row.get(h) for h in self.header])

    def close(self) -> None:
        self.book.save(self.path)
