"""OpenAssistant message trees (one tree a line): every branching point becomes one item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.dialogue import Candidate, Message, ParsedItem
from core.formats.base import ImageResolver, Record, message, require_dict

_SKIP = ("text", "role", "replies", "parent_id")


def _meta(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in _SKIP and v is not None}


def parse_oasst(obj: Any, rec: Record, resolve: ImageResolver) -> list[ParsedItem]:
    """One item per prompter message that has two or more assistant replies: the path from the root to
    that prompter message → messages, its assistant replies → candidates (in the file's order), and when
    at least two of them carry a human `rank` a suggestion {"kind": "ranking", "value": [candidate indexes
    best first], "agent": "oasst-human"} (unranked candidates are left out of it). Item id = the prompter
    message's message_id; item meta: message_tree_id, tree_state; each message/candidate meta keeps the
    source fields (message_id, rank, emojis, synthetic, model_name, lang, review_*…). A tree with no such
    branching point gives no item. The walk is iterative, so deep trees cannot exhaust recursion."""
    obj = require_dict(obj, rec)
    root = obj.get("prompt")
    if not isinstance(root, dict):
        raise rec.error("expected the root message object", "prompt")
    tree_meta = {k: v for k, v in obj.items() if k != "prompt"}
    items: list[ParsedItem] = []
    # stack of (message, path of messages above it, field path)
    stack: list[tuple[dict, list[Message], str]] = [(root, [], "prompt")]
    while stack:
        node, path, field = stack.pop()
        if type(node) is not dict:
            raise rec.error("message must be an object", field)
        role = rec.role(node.get("role"), field + ".role")
        here = path + [message(role, rec.text(node.get("text"), field + ".text"), None, _meta(node))]
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise rec.error("replies must be a list", field + ".replies")
        if role == "user":
            answers = [
                (i, r) for i, r in enumerate(replies) if isinstance(r, dict) and r.get("role") == "assistant"
            ]
            if len(answers) >= 2:
                items.append(_branch(node, here, answers, tree_meta, rec, field))
        for i in range(len(replies) - 1, -1, -1):
            stack.append((replies[i], here, f"{field}.replies[{i}]"))
    return items  # depth-first, in the file's order


def _branch(
    node: dict, path: list[Message], answers: list[tuple[int, dict]], tree_meta: dict, rec: Record, field: str
) -> ParsedItem:
    candidates: list[Candidate] = []
    ranked: list[tuple[int, int]] = []
    for k, (i, r) in enumerate(answers):
        cfield = f"{field}.replies[{i}]"
        cand: Candidate = {"text": rec.text(r.get("text"), cfield + ".text"), "images": [], "meta": _meta(r)}
        if r.get("model_name"):
            cand["model"] = str(r["model_name"])
        candidates.append(cand)
        if isinstance(r.get("rank"), int):
            ranked.append((r["rank"], k))
    suggestions = []
    if len(ranked) >= 2:
        suggestions.append(
            {
                "kind": "ranking",
                "target": None,
                "value": [k for _, k in sorted(ranked)],
                "score": None,
                "agent": "oasst-human",
            }
        )
    mid = node.get("message_id")
    return ParsedItem(
        external_id=str(mid) if mid else rec.default_id(f"/{len(path)}"),
        messages=path,
        candidates=candidates,
        suggestions=suggestions,
        meta=dict(tree_meta),
    )


def iter_oasst(records: Iterator[tuple[Any, Record]], resolve: ImageResolver) -> Iterator[ParsedItem]:
    for obj, rec in records:
        yield from parse_oasst(obj, rec, resolve)
