"""KTO JSONL: `{"prompt": [...], "completion": [...], "label": bool, "images": [...], "meta": {...}}`.

Per-candidate judgements, defined here once:
- **scores**: a numeric attribute (rating, number, radio with numeric options) of an evaluation class on a
  candidate: above the middle of its scale → `true`, below → `false`, exactly the middle → no record
  (a rating 1–5: 4 and 5 desirable, 1 and 2 undesirable, 3 left out).
- **pairwise**: the chosen candidate → `true`, the rejected one → `false`; a tie → no record.
Rankings give no KTO labels (a rank says better or worse than a sibling, not good or bad).
Invalid annotations give nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.export.common import Options, Schema, as_number, chat, images_in, usable_annotations
from core.export.pairs import as_index, pairwise_pair


def judgements(ann: dict[str, Any], schema: Schema, n: int) -> Iterator[tuple[int, bool, str, str]]:
    """(candidate, label, source, question) for one annotation, in a stable order."""
    answers = ann.get("classifications") or {}
    for name in sorted(answers):
        if (schema.classifications.get(name) or {}).get("type") == "pairwise":
            pair = pairwise_pair(answers[name], n)
            if pair is not None:
                yield pair[0], True, "pairwise", name
                yield pair[1], False, "pairwise", name
    results = sorted(
        ann.get("results") or [],
        key=lambda r: (r.get("candidate") is None, r.get("candidate") or 0, r.get("class") or ""),
    )
    for result in results:
        index = as_index(result.get("candidate"), n)
        if index is None:
            continue
        values = result.get("values") or {}
        for attr, (low, high), question in schema.score_attributes(result["class"]):
            value = as_number(values.get(attr))
            middle = (low + high) / 2
            if value is not None and value != middle:
                yield index, value > middle, "scores", question


def records(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    candidates = item.get("candidates") or []
    if not candidates:
        return
    messages = item.get("messages") or []
    prompt = [chat(m) for m in messages]
    images = images_in(*messages)
    for ann in usable_annotations(item):
        for index, label, source, question in judgements(ann, schema, len(candidates)):
            yield {
                "prompt": prompt,
                "completion": [chat(candidates[index], "bot")],
                "label": label,
                "images": images + images_in(candidates[index]),
                "meta": {
                    "item": item["id"],
                    "annotator": ann["annotator"],
                    "status": ann["status"],
                    "source": source,
                    "question": question,
                    "candidate": index,
                },
            }
