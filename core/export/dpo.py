"""DPO JSONL: `{"prompt": [...], "chosen": [...], "rejected": [...], "images": [...], "meta": {...}}`.

`prompt` is the item's messages, `chosen`/`rejected` one assistant message each: the two candidates of a
preference pair (core/export/pairs.py: rankings, pairwise answers, per-candidate scores; ties give no pair).
Invalid annotations give nothing. `meta` names the item, the annotator, the source (ranking | pairwise |
scores), the question, the candidates (0-based) and the pairwise strength.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.export.common import Options, Schema, chat, images_in, usable_annotations
from core.export.pairs import preference_pairs


def records(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    candidates = item.get("candidates") or []
    if len(candidates) < 2:
        return
    messages = item.get("messages") or []
    prompt = [chat(m) for m in messages]
    images = images_in(*messages)
    replies = [chat(c, "bot") for c in candidates]
    candidate_images = [c.get("images") or [] for c in candidates]
    for ann in usable_annotations(item):
        for pair in preference_pairs(ann, schema, len(candidates), options.pair_mode):
            yield {
                "prompt": prompt,
                "chosen": [replies[pair.chosen]],
                "rejected": [replies[pair.rejected]],
                "images": images + candidate_images[pair.chosen] + candidate_images[pair.rejected],
                "meta": {
                    "item": item["id"],
                    "annotator": ann["annotator"],
                    "status": ann["status"],
                    "source": pair.source,
                    "question": pair.question,
                    "chosen": pair.chosen,
                    "rejected": pair.rejected,
                    "strength": pair.strength,
                },
            }
