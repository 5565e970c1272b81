"""DPO JSONL: `{"prompt": [...], "chosen": [...], "rejected": [...], "images": [...], "meta": {...}}`.

`prompt` is the item's messages, `chosen`/`rejected` one assistant message each: the two candidates of a
preference pair (core/export/pairs.py: rankings, pairwise answers, per-candidate scores; ties give no pair).
Invalid annotations give nothing. `meta` names the item, the annotator, the source (ranking | pairwise |
scores), the question, the candidates (0-based) and the pairwise strength.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orjson import dumps

from core.export.common import Options, Schema, chat, images_in, usable_annotations
from core.export.pairs import Pair, preference_pairs


def _pairs(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[tuple[dict[str, Any], Pair]]:
    n = len(item.get("candidates") or [])
    if n < 2:
        return
    for ann in usable_annotations(item):
        for pair in preference_pairs(ann, schema, n, options.pair_mode):
            yield ann, pair


def _meta(item: dict[str, Any], ann: dict[str, Any], pair: Pair) -> dict[str, Any]:
    return {
        "item": item["id"],
        "annotator": ann["annotator"],
        "status": ann["status"],
        "source": pair.source,
        "question": pair.question,
        "chosen": pair.chosen,
        "rejected": pair.rejected,
        "strength": pair.strength,
    }


def records(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    candidates = item.get("candidates") or []
    messages = item.get("messages") or []
    prompt = [chat(m) for m in messages]
    images = images_in(*messages)
    replies = [chat(c, "bot") for c in candidates]
    candidate_images = [c.get("images") or [] for c in candidates]
    for ann, pair in _pairs(item, schema, options):
        yield {
            "prompt": prompt,
            "chosen": [replies[pair.chosen]],
            "rejected": [replies[pair.rejected]],
            "images": images + candidate_images[pair.chosen] + candidate_images[pair.rejected],
            "meta": _meta(item, ann, pair),
        }


def lines(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[bytes]:
    """The same records as `records`, already as JSONL lines: the prompt and each reply are serialized once
    per item rather than once per pair (an item gives several pairs). Tests check the bytes are equal."""
    pairs = list(_pairs(item, schema, options))
    if not pairs:
        return
    candidates = item.get("candidates") or []
    messages = item.get("messages") or []
    head = b'{"prompt":' + dumps([chat(m) for m in messages]) + b',"chosen":['
    replies = [dumps(chat(c, "bot")) for c in candidates]
    images = images_in(*messages)
    candidate_images = [c.get("images") or [] for c in candidates]
    plain_images = dumps(images)
    for ann, pair in pairs:
        extra = candidate_images[pair.chosen] + candidate_images[pair.rejected]
        yield b"".join(
            (
                head, replies[pair.chosen], b'],"rejected":[', replies[pair.rejected], b'],"images":',
                dumps(images + extra) if extra else plain_images, b',"meta":', dumps(_meta(item, ann, pair)), b"}\n",
            )
        )  # fmt: skip
