"""Errors from reading bad input in core/: each names the file, the record and the field."""

from __future__ import annotations


class FormatError(ValueError):
    """Bad input data. str() reads like: "chats.jsonl, line 7, field messages[2].role: unknown role 'narrator'"."""

    def __init__(
        self, message: str, *, file: str = "", record: str | int | None = None, field: str = ""
    ) -> None:
        self.file, self.record, self.field, self.detail = file, record, field, message
        where = [file] if file else []
        if record is not None:
            where.append(record if isinstance(record, str) else f"record {record}")
        if field:
            where.append(f"field {field}")
        super().__init__(", ".join(where) + (": " if where else "") + message)
