"""Native format reader: Parley's own JSON/JSONL with items, candidate responses, suggestions, meta and
annotations, and an optional first header line carrying the ontology (written by core/export/native.py).

Header (first line of a JSONL, or first element of a JSON array): `{"parley": {"version": 1, "ontology":
{...}}}` (one key, "parley": how core.formats.detect knows the file). Items (DESIGN.md):
    {"id": "c1", "name": "...", "messages": [{"role": "user", "content": "...", "images": ["img/a.png"]}],
     "responses": [{"content": "...", "model": "m1"}], "suggestions": [...], "meta": {...},
     "annotations": [{"annotator": "alice", "status": "submitted", "validity": "valid",
                      "results": [...], "classifications": {...}}]}
A message's text may be under "content" or "text"; a response may be a plain string. Annotations are
checked for shape here (annotator, status, validity, results with a class and a target inside the item) and
applied by store/roundtrip.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.dialogue import Candidate, ParsedItem
from core.errors import FormatError
from core.formats.base import (
    Bundle,
    ImageResolver,
    ImportOptions,
    Reading,
    Record,
    iter_records,
    message,
    require_dialogue,
    require_dict,
)

FORMAT = "native"
SUPPORTED_VERSIONS = (1,)
STATUSES = ("draft", "saved", "submitted")


def header_of(obj: Any) -> dict[str, Any] | None:
    """The header's body ({"version", "ontology"}) when `obj` is a native header line, else None."""
    if type(obj) is dict and len(obj) == 1 and type(obj.get("parley")) is dict:
        return obj["parley"]
    return None


def looks_native(obj: Any) -> bool:
    """A record (or header) in the native shape: a header, or messages with "content" plus native keys."""
    if header_of(obj) is not None:
        return True
    if type(obj) is not dict or type(obj.get("messages")) is not list:
        return False
    if any(key in obj for key in ("responses", "annotations", "suggestions")):
        return True
    first = obj["messages"][0] if obj["messages"] else None
    return type(first) is dict and "role" in first and "content" in first and "conversations" not in obj


def check_header(body: dict[str, Any], rec: Record) -> dict[str, Any] | None:
    """The ontology a header carries (None when it has none); FormatError for a version we cannot read."""
    version = body.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise rec.error(f"native format version {version!r} is not supported (known: 1)", "parley.version")
    ontology = body.get("ontology")
    if ontology is not None and type(ontology) is not dict:
        raise rec.error("must be an object with classes and classifications", "parley.ontology")
    return ontology


def _images(turn: dict[str, Any], rec: Record, images: ImageResolver, field: str) -> list[str]:
    refs = turn.get("images") or []
    if type(refs) is not list:
        raise rec.error("must be a list of image references", f"{field}.images")
    return [images(ref, rec, f"{field}.images[{i}]") for i, ref in enumerate(refs)]


def _meta(value: Any, rec: Record, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise rec.error("must be an object", field)
    return value


def _text(turn: dict[str, Any], rec: Record, field: str) -> str:
    key = "content" if "content" in turn else "text"
    return rec.text(turn.get(key), f"{field}.{key}")


def _index(value: Any, size: int, rec: Record, field: str) -> int:
    if type(value) is not int or not 0 <= value < size:
        raise rec.error(f"{value!r} is not an index of this item's list (0 to {size - 1})", field)
    return value


def _annotation(raw: Any, rec: Record, field: str, n_messages: int, n_candidates: int) -> dict[str, Any]:
    if type(raw) is not dict:
        raise rec.error("must be an object", field)
    annotator = raw.get("annotator")
    if type(annotator) is not str or not annotator.strip():
        raise rec.error("must name the annotator (a username)", f"{field}.annotator")
    status = raw.get("status", "submitted")
    if status not in STATUSES:
        raise rec.error(f"unknown status {status!r} (known: {', '.join(STATUSES)})", f"{field}.status")
    validity = raw.get("validity", "valid")
    if validity not in ("valid", "invalid"):
        raise rec.error(f"unknown validity {validity!r} (known: valid, invalid)", f"{field}.validity")
    results = raw.get("results") or []
    if type(results) is not list:
        raise rec.error("must be a list", f"{field}.results")
    checked = []
    for i, result in enumerate(results):
        where = f"{field}.results[{i}]"
        if type(result) is not dict or type(result.get("class")) is not str:
            raise rec.error("must be an object naming its class", where)
        out = dict(result)
        if result.get("message") is not None:
            out["message"] = _index(result["message"], n_messages, rec, f"{where}.message")
        elif result.get("candidate") is not None:
            out["candidate"] = _index(result["candidate"], n_candidates, rec, f"{where}.candidate")
        if out.get("values") is not None and type(out["values"]) is not dict:
            raise rec.error("must be an object of attribute values", f"{where}.values")
        for key in ("text", "source_text"):
            if out.get(key) is not None:
                out[key] = rec.text(out[key], f"{where}.{key}")
        checked.append(out)
    classifications = raw.get("classifications") or {}
    if type(classifications) is not dict:
        raise rec.error("must be an object keyed by classification name", f"{field}.classifications")
    out = dict(raw)
    out.update(status=status, validity=validity, results=checked, classifications=classifications)
    return out


def parse_native(obj: Any, rec: Record, images: ImageResolver) -> ParsedItem | None:
    """One native record as a ParsedItem (None for the header line)."""
    header = header_of(obj)
    if header is not None:
        check_header(header, rec)
        return None
    obj = require_dict(obj, rec)
    raw_messages = obj.get("messages")
    if type(raw_messages) is not list:
        raise rec.error("must be a list of messages", "messages")
    messages = []
    for i, turn in enumerate(raw_messages):
        field = f"messages[{i}]"
        if type(turn) is not dict:
            raise rec.error("must be an object with role and content", field)
        messages.append(
            message(
                rec.role(turn.get("role"), f"{field}.role"),
                _text(turn, rec, field),
                _images(turn, rec, images, field),
                _meta(turn.get("meta"), rec, f"{field}.meta"),
            )
        )
    require_dialogue(messages, rec)
    candidates: list[Candidate] = []
    raw_responses = obj.get("responses") or []
    if type(raw_responses) is not list:
        raise rec.error("must be a list of replies", "responses")
    for i, resp in enumerate(raw_responses):
        field = f"responses[{i}]"
        if type(resp) is str:
            resp = {"content": resp}
        if type(resp) is not dict:
            raise rec.error("must be an object with content (or a string)", field)
        cand: Candidate = {"text": _text(resp, rec, field)}
        if resp.get("model"):
            cand["model"] = rec.text(resp["model"], f"{field}.model")
        cand["images"] = _images(resp, rec, images, field)
        meta = _meta(resp.get("meta"), rec, f"{field}.meta")
        if meta:
            cand["meta"] = meta
        candidates.append(cand)
    suggestions = obj.get("suggestions") or []
    if type(suggestions) is dict:  # {"preference": {...}} → one suggestion per kind
        suggestions = [{"kind": kind, "value": value} for kind, value in suggestions.items()]
    if type(suggestions) is not list or any(type(s) is not dict for s in suggestions):
        raise rec.error("must be a list of objects (or one object keyed by kind)", "suggestions")
    raw_annotations = obj.get("annotations") or []
    if type(raw_annotations) is not list:
        raise rec.error("must be a list", "annotations")
    annotations = [
        _annotation(a, rec, f"annotations[{i}]", len(messages), len(candidates))
        for i, a in enumerate(raw_annotations)
    ]
    name = obj.get("name")
    return ParsedItem(
        external_id=rec.item_id(obj),
        messages=messages,
        candidates=candidates,
        name=rec.text(name, "name") if name is not None else "",
        suggestions=suggestions,
        meta=_meta(obj.get("meta"), rec, "meta"),
        annotations=annotations,
    )


# The names core.formats' registry looks for.
parse_record = parse_native


def read_ontology(bundle: Bundle, files: list[str]) -> dict[str, Any] | None:
    """The ontology in the header of the first of `files` that has one (read eagerly: it is one line)."""
    for name in files:
        records = iter_records(bundle, name)
        try:
            first = next(records, None)
        finally:
            records.close()
        header = header_of(first[0]) if first is not None else None
        if header is not None:
            found = check_header(header, first[1])  # type: ignore[index]
            if found is not None:
                return found
    return None


def read_native(bundle: Bundle, options: ImportOptions | None = None) -> Reading:
    """Every native data file of `bundle` as one Reading; `ontology` is the first file's header's, if any.

    The header is read eagerly (it is the first record), the items lazily as the Reading is iterated.
    """
    options = options or ImportOptions()
    names = options.data_files or [
        n
        for n in sorted(bundle.names())
        if n.lower().removesuffix(".gz").endswith((".jsonl", ".json", ".ndjson"))
    ]
    if not names:
        raise FormatError("no .json or .jsonl file found", file="")
    qualify = options.qualify_ids if options.qualify_ids is not None else len(names) > 1
    all_names = set(bundle.names())
    streams = []
    ontology: dict[str, Any] | None = None
    for index, name in enumerate(names):
        records = iter_records(bundle, name, qualify=qualify, max_chars=options.max_message_chars)
        first = next(records, None)
        header = header_of(first[0]) if first is not None else None
        if header is not None:
            found = check_header(header, first[1])  # type: ignore[index]
            if index == 0:
                ontology = found
            first = None
        streams.append((name, first, records))

    def items() -> Iterator[ParsedItem]:
        for name, first, records in streams:
            resolver = ImageResolver(name, all_names)
            if first is not None:
                item = parse_native(first[0], first[1], resolver)
                if item is not None:
                    yield item
            for obj, rec in records:
                item = parse_native(obj, rec, resolver)
                if item is not None:
                    yield item

    return Reading(format=FORMAT, data_files=names, items=items(), ontology=ontology)
