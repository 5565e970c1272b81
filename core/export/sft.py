"""SFT JSONL: `{"messages": [...context, reply], "images": [...], "meta": {...}}` per response result.

The reply is the response result's text, in the role the class answers as (bot → "assistant", user →
"user"). The context is the item's messages; when the last one has the reply's role (the annotator rewrote
that turn: "the reply the model should have given"), the reply takes its place, otherwise the reply follows
it. `meta.original` keeps the text the annotator started from (a bot bubble copied into the box), if any.
Invalid annotations and empty replies give no record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.export.common import Options, Schema, chat, images_in, usable_annotations


def context_for(messages: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """The messages a reply in `role` follows (see the module docstring)."""
    if messages and messages[-1].get("role") == role:
        return messages[:-1]
    return messages


def records(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    messages = item.get("messages") or []
    for ann in usable_annotations(item):
        for result in sorted(ann.get("results") or [], key=lambda r: r["class"]):
            if result.get("message") is not None or result.get("candidate") is not None:
                continue
            text = result.get("text") or ""
            cls = schema.classes.get(result["class"]) or {}
            if not text.strip() or cls.get("tool", "dialog_response") != "dialog_response":
                continue
            role = result.get("role") or cls.get("role") or "bot"
            context = context_for(messages, role)
            yield {
                "messages": [chat(m) for m in context] + [chat({"text": text}, role)],
                "images": images_in(*context),
                "meta": {
                    "item": item["id"],
                    "annotator": ann["annotator"],
                    "status": ann["status"],
                    "class": result["class"],
                    "original": result.get("source_text"),
                },
            }
