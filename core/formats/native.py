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

The team workflow's keys (core/export/native.py lists them: "final", "needs_review", "review", "original",
"seconds" on an annotation, "history" on the item) are optional: files written before them import as
before. ParsedItem has no place for an item's history, so it travels as one extra entry at the end of
`ParsedItem.annotations`: {"item_history": [...]}, the only entry without an "annotator" (HISTORY_ENTRY;
store/roundtrip.py takes it out). An item with history is thereby an annotated item for the importer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from core.dialogue import ROLE_ALIASES, Candidate, Message, ParsedItem
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
STATUSES = ("draft", "saved", "submitted", "accepted", "rejected")
HISTORY_ENTRY = "item_history"


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


def _work(raw: Any, rec: Record, field: str, n_messages: int, n_candidates: int) -> dict[str, Any]:
    """A work's validity, results and classifications checked (an annotation, or a work inside one)."""
    if type(raw) is not dict:
        raise rec.error("must be an object", field)
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
    out.update(validity=validity, results=checked, classifications=classifications)
    return out


def _user(value: Any, rec: Record, field: str) -> str:
    if type(value) is not str or not value.strip():
        raise rec.error("must be a username", field)
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
    out = _work(raw, rec, field, n_messages, n_candidates)
    out["status"] = status
    for key in ("final", "needs_review"):
        if out.get(key) is not None and type(out[key]) is not bool:
            raise rec.error("must be true or false", f"{field}.{key}")
    if out.get("final") and status != "accepted":
        raise rec.error("a final answer has status accepted", f"{field}.status")
    review = out.get("review")
    if review is not None:
        if type(review) is not dict:
            raise rec.error("must be an object with by, reason, rounds", f"{field}.review")
        if review.get("by") is not None:
            _user(review["by"], rec, f"{field}.review.by")
        if review.get("reason") is not None:
            rec.text(review["reason"], f"{field}.review.reason")
        rounds = review.get("rounds", 0)
        if type(rounds) is not int or rounds < 0:
            raise rec.error("must be a whole number, 0 or more", f"{field}.review.rounds")
    if out.get("original") is not None:
        out["original"] = _work(out["original"], rec, f"{field}.original", n_messages, n_candidates)
    seconds = out.get("seconds")
    if seconds is not None and (type(seconds) not in (int, float) or seconds < 0):
        raise rec.error("must be a number of seconds, 0 or more", f"{field}.seconds")
    return out


def _history(raw: Any, rec: Record, n_messages: int, n_candidates: int) -> list[dict[str, Any]]:
    if type(raw) is not list:
        raise rec.error("must be a list of entries", "history")
    entries = []
    for i, entry in enumerate(raw):
        field = f"history[{i}]"
        if type(entry) is not dict:
            raise rec.error("must be an object", field)
        if type(entry.get("at")) is not str or not entry["at"]:
            raise rec.error("must be a time (ISO 8601)", f"{field}.at")
        if type(entry.get("action")) is not str or not entry["action"]:
            raise rec.error("must name the action", f"{field}.action")
        for key in ("by", "annotator"):
            if entry.get(key) is not None:
                _user(entry[key], rec, f"{field}.{key}")
        out = dict(entry)
        for key in ("before", "after"):
            if entry.get(key) is not None:
                out[key] = _work(entry[key], rec, f"{field}.{key}", n_messages, n_candidates)
        entries.append(out)
    return entries


def _plain_response(resp: Any, max_chars: int) -> Candidate | None:
    """The fast path for a reply: a string, {content} or {content, model} with plain text (see _plain_turn)."""
    if type(resp) is str:
        text, model = resp, None
    elif type(resp) is dict and 0 < len(resp) <= 2:
        text, model = resp.get("content"), resp.get("model")
        if len(resp) != 1 + ("model" in resp):
            return None
    else:
        return None
    if type(text) is not str or len(text) > max_chars or "\x00" in text:
        return None
    if not model:
        return {"text": text, "images": []} if model is None else None
    if type(model) is not str or len(model) > max_chars or "\x00" in model:
        return None
    return {"text": text, "model": model, "images": []}


def _full_turn(turn: Any, rec: Record, images: ImageResolver, field: str) -> Message:
    if type(turn) is not dict:
        raise rec.error("must be an object with role and content", field)
    return message(
        rec.role(turn.get("role"), f"{field}.role"),
        _text(turn, rec, field),
        _images(turn, rec, images, field),
        _meta(turn.get("meta"), rec, f"{field}.meta"),
    )


def _full_response(resp: Any, rec: Record, images: ImageResolver, field: str) -> Candidate:
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
    return cand


def parse_native(obj: Any, rec: Record, images: ImageResolver) -> ParsedItem | None:
    """One native record as a ParsedItem (None for the header line).

    Plain turns and replies (the bulk of a large file) take a fast path that builds no field names; any
    other shape goes through the full checks, so what is accepted and every error message stay the same.
    """
    header = header_of(obj)
    if header is not None:
        check_header(header, rec)
        return None
    obj = require_dict(obj, rec)
    raw_messages = obj.get("messages")
    if type(raw_messages) is not list:
        raise rec.error("must be a list of messages", "messages")
    max_chars = rec.max_chars
    messages: list[Message] = []
    for turn in raw_messages:
        # The fast path (inline: it runs for every turn of a large file): exactly {role, content} or
        # {role, text} with a known role and plain text within the limit, no NUL. Anything else takes
        # the full path, which also words the errors.
        if type(turn) is dict and len(turn) == 2:
            role = turn.get("role")
            text = turn.get("content")
            if text is None:
                text = turn.get("text")
            if (
                type(role) is str
                and type(text) is str
                and role in ROLE_ALIASES
                and len(text) <= max_chars
                and "\x00" not in text
            ):
                messages.append({"role": ROLE_ALIASES[role], "text": text, "images": []})
                continue
        messages.append(_full_turn(turn, rec, images, f"messages[{len(messages)}]"))
    require_dialogue(messages, rec)
    candidates: list[Candidate] = []
    raw_responses = obj.get("responses") or []
    if type(raw_responses) is not list:
        raise rec.error("must be a list of replies", "responses")
    for resp in raw_responses:
        cand = _plain_response(resp, max_chars)
        if cand is None:
            cand = _full_response(resp, rec, images, f"responses[{len(candidates)}]")
        candidates.append(cand)
    suggestions = obj.get("suggestions") or []
    if type(suggestions) is dict:  # {"preference": {...}} → one suggestion per kind
        suggestions = [{"kind": kind, "value": value} for kind, value in suggestions.items()]
    if type(suggestions) is not list or (suggestions and any(type(s) is not dict for s in suggestions)):
        raise rec.error("must be a list of objects (or one object keyed by kind)", "suggestions")
    raw_annotations = obj.get("annotations") or []
    if type(raw_annotations) is not list:
        raise rec.error("must be a list", "annotations")
    annotations = (
        [
            _annotation(a, rec, f"annotations[{i}]", len(messages), len(candidates))
            for i, a in enumerate(raw_annotations)
        ]
        if raw_annotations
        else []
    )
    if obj.get("history"):
        annotations.append({HISTORY_ENTRY: _history(obj["history"], rec, len(messages), len(candidates))})
    name = obj.get("name")
    meta = obj.get("meta")
    return ParsedItem(
        external_id=rec.item_id(obj),
        messages=messages,
        candidates=candidates,
        name=rec.text(name, "name") if name is not None else "",
        suggestions=suggestions,
        meta={} if meta is None else _meta(meta, rec, "meta"),
        annotations=annotations,
    )


_PLAIN_KEYS = frozenset(("id", "messages", "responses"))


def plain_row(obj: Any, rec: Record) -> tuple[str, bytes, bytes, str, str, int, int] | None:
    """The importer's bulk fast path for the commonest native record: only "id", "messages" and
    "responses", every turn exactly {role, content|text} and every reply a string, {content} or
    {content, model}, all plain (parse_native's inline fast path would take each of them).

    Returns (id, messages JSON bytes, candidates JSON bytes, search text, model names JSON, messages,
    candidates) exactly as the importer would store the ParsedItem parse_native makes of it (no "images" key: none are shown),
    without building that item first; None for any other record, which then goes through parse_native.
    """
    if type(obj) is not dict or not obj.keys() <= _PLAIN_KEYS:
        return None
    raw_messages = obj.get("messages")
    if type(raw_messages) is not list or not raw_messages:
        return None
    max_chars = rec.max_chars
    messages = []
    texts = []
    for turn in raw_messages:
        if type(turn) is not dict or len(turn) != 2:
            return None
        role = turn.get("role")
        text = turn.get("content")
        if text is None:
            text = turn.get("text")
        if not (
            type(role) is str
            and type(text) is str
            and role in ROLE_ALIASES
            and len(text) <= max_chars
            and "\x00" not in text
        ):
            return None
        messages.append({"role": ROLE_ALIASES[role], "text": text})
        texts.append(text)
    raw_responses = obj.get("responses") or []
    if type(raw_responses) is not list:
        return None
    candidates = []
    for resp in raw_responses:
        cand = _plain_response(resp, max_chars)
        if cand is None:
            return None
        del cand["images"]
        candidates.append(cand)
        texts.append(cand["text"])
    dumps = orjson.dumps
    return (
        rec.item_id(obj),
        dumps(messages),
        dumps(candidates),
        "\n".join(texts),  # = core.dialogue.dialogue_text of the stored parts
        dumps([c.get("model") or None for c in candidates]).decode(),  # = store.zjson.item_models
        len(messages),
        len(candidates),
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
