"""Native JSONL: a header line with the ontology, then one item a line with its annotations (DESIGN.md).

The first line is `{"parley": {"version": 1, "ontology": {...}}}`; every other line is an item:
    {"id", "name"?, "messages": [{"role", "content", "images"?, "meta"?}], "responses": [...]?,
     "suggestions": [...]?, "meta": {...}?, "annotations": [...]?, "history": [...]?}
An annotation: {"annotator", "status", "validity", "invalid_reason"?, "results", "classifications"?,
"updated_at"?, "submitted_at"?, "final": true?, "needs_review": true?, "review": {"by"?, "reason"?,
"rounds", "at"?}?, "original": work?, "seconds"?}; "final" marks the item's adjudicated answer (its
annotator is the reviewer), "original" the annotator's own work where a reviewer fixed it. A work (original,
a history entry's before/after) is {"validity", "invalid_reason"?, "results", "classifications"?}.
A history entry: {"at", "action", "by"?, "annotator"?, "status"?, "reason"?, "rounds"?, "before"?,
"after"?}, oldest first (store/team/history.py's actions).
Keys are written in one fixed order and empty ones are left out, annotations are sorted by annotator (the
final one after the annotators' work) and results by target then class, so a dataset imported from this file
exports to the same bytes. The dataset's
name and the export time are not in this file (they differ between installs): they are in the manifest.
"""

from __future__ import annotations

from typing import Any

NATIVE_VERSION = 1


def header(ontology: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "parley": {"version": NATIVE_VERSION, "ontology": ontology or {"classes": [], "classifications": []}}
    }


_ROLE_TEXT = frozenset(("role", "text"))  # a plain message's keys
_TEXT_MODEL = frozenset(("text", "model"))  # a plain candidate's keys


def _turn(message: dict[str, Any], text_key: str = "content") -> dict[str, Any]:
    # The common shapes first (same output as the general rules below, without their look-ups).
    keys = message.keys()
    if keys == _ROLE_TEXT:
        return {"role": message["role"], text_key: message["text"] or ""}
    if keys == _TEXT_MODEL:
        model = message["model"]
        return (
            {text_key: message["text"] or "", "model": model} if model else {text_key: message["text"] or ""}
        )
    out: dict[str, Any] = {}
    if "role" in message:
        out["role"] = message["role"]
    out[text_key] = message.get("text") or ""
    if message.get("model"):
        out["model"] = message["model"]
    if message.get("images"):
        out["images"] = list(message["images"])
    if message.get("meta"):
        out["meta"] = message["meta"]
    return out


def result_key(result: dict[str, Any]) -> tuple[int, int, str]:
    """Results in a stable order whatever the database returned: message results by message, then candidate
    results by candidate, then written replies; by class name within each."""
    if result.get("message") is not None:
        return (0, int(result["message"]), result["class"])
    if result.get("candidate") is not None:
        return (1, int(result["candidate"]), result["class"])
    return (2, 0, result["class"])


def native_result(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"class": result["class"]}
    if result.get("message") is not None:
        out["message"] = int(result["message"])
    elif result.get("candidate") is not None:
        out["candidate"] = int(result["candidate"])
    if result.get("role") is not None:
        out["role"] = result["role"]
    if result.get("text") is not None:
        out["text"] = result["text"]
    if result.get("source_text") is not None:
        out["source_text"] = result["source_text"]
    if result.get("values"):
        out["values"] = result["values"]
    return out


def _work_into(out: dict[str, Any], work: dict[str, Any]) -> dict[str, Any]:
    out["validity"] = work.get("validity") or "valid"
    if work.get("invalid_reason"):
        out["invalid_reason"] = work["invalid_reason"]
    out["results"] = [native_result(r) for r in sorted(work.get("results") or [], key=result_key)]
    classifications = work.get("classifications") or {}
    if classifications:
        out["classifications"] = {k: classifications[k] for k in sorted(classifications)}
    return out


def native_work(work: dict[str, Any]) -> dict[str, Any]:
    """A work (results by class name, classifications by name) as the file writes it."""
    return _work_into({}, work)


REVIEW_KEYS = ("by", "reason", "rounds", "at")


def native_annotation(ann: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"annotator": ann["annotator"], "status": ann["status"]}
    _work_into(out, ann)
    for key in ("updated_at", "submitted_at"):
        if ann.get(key):
            out[key] = ann[key]
    if ann.get("final"):
        out["final"] = True
    if ann.get("needs_review"):
        out["needs_review"] = True
    review = ann.get("review")
    if review:
        out["review"] = {k: review[k] for k in REVIEW_KEYS if review.get(k) not in (None, "")}
    if ann.get("original"):
        out["original"] = native_work(ann["original"])
    if ann.get("seconds"):
        out["seconds"] = ann["seconds"]
    return out


HISTORY_KEYS = ("at", "action", "by", "annotator", "status", "reason", "rounds")


def native_history(entry: dict[str, Any]) -> dict[str, Any]:
    """One history entry as the file writes it."""
    out = {k: entry[k] for k in HISTORY_KEYS if entry.get(k) not in (None, "")}
    for key in ("before", "after"):
        if entry.get(key) is not None:
            out[key] = native_work(entry[key])
    return out


def _annotation_order(ann: dict[str, Any]) -> tuple[bool, str]:
    return (bool(ann.get("final")), ann["annotator"])


def record(item: dict[str, Any]) -> dict[str, Any]:
    """One item as a native line."""
    out: dict[str, Any] = {"id": item["id"]}
    if item.get("name"):
        out["name"] = item["name"]
    out["messages"] = [_turn(m) for m in item.get("messages") or []]
    if item.get("candidates"):
        out["responses"] = [_turn(c) for c in item["candidates"]]
    if item.get("suggestions"):
        out["suggestions"] = item["suggestions"]
    if item.get("meta"):
        out["meta"] = item["meta"]
    annotations = sorted(item.get("annotations") or [], key=_annotation_order)
    if annotations:
        out["annotations"] = [native_annotation(a) for a in annotations]
    if item.get("history"):
        out["history"] = [native_history(e) for e in item["history"]]
    return out
