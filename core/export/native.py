"""Native JSONL: a header line with the ontology, then one item a line with its annotations (DESIGN.md).

The first line is `{"parley": {"version": 1, "ontology": {...}}}`; every other line is an item:
    {"id", "name"?, "messages": [{"role", "content", "images"?, "meta"?}], "responses": [...]?,
     "suggestions": [...]?, "meta": {...}?, "annotations": [...]?}
Keys are written in one fixed order and empty ones are left out, annotations are sorted by annotator and
results by target then class, so a dataset imported from this file exports to the same bytes. The dataset's
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


def native_annotation(ann: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"annotator": ann["annotator"], "status": ann["status"]}
    out["validity"] = ann.get("validity") or "valid"
    if ann.get("invalid_reason"):
        out["invalid_reason"] = ann["invalid_reason"]
    out["results"] = [native_result(r) for r in sorted(ann.get("results") or [], key=result_key)]
    classifications = ann.get("classifications") or {}
    if classifications:
        out["classifications"] = {k: classifications[k] for k in sorted(classifications)}
    for key in ("updated_at", "submitted_at"):
        if ann.get(key):
            out[key] = ann[key]
    return out


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
    annotations = sorted(item.get("annotations") or [], key=lambda a: a["annotator"])
    if annotations:
        out["annotations"] = [native_annotation(a) for a in annotations]
    return out
