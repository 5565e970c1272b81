"""Whether an item's annotators agree ("only items where annotators agree").

Annotators agree when at least two of them annotated the item and their judgements are identical: the same
validity, the same answers to every non-text classification (ranking, pairwise, radio, checkbox) and the
same results (class and target) with the same values in every non-text attribute. Free text (rationales,
written replies) is left out of the comparison: two people never write the same words.
"""

from __future__ import annotations

from typing import Any

import orjson

from core.export.common import Schema


def _judgement(ann: dict[str, Any], schema: Schema) -> bytes:
    answers = ann.get("classifications") or {}
    questions = {
        name: answer
        for name, answer in answers.items()
        if (schema.classifications.get(name) or {}).get("type") != "text"
    }
    results = []
    for result in ann.get("results") or []:
        cls = schema.classes.get(result.get("class", "")) or {}
        text_attrs = {a["name"] for a in cls.get("attributes") or [] if a.get("type") == "text"}
        values = {k: v for k, v in (result.get("values") or {}).items() if k not in text_attrs}
        results.append([result.get("class"), result.get("message"), result.get("candidate"), values])
    results.sort(key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    return orjson.dumps([ann.get("validity", "valid"), questions, results], option=orjson.OPT_SORT_KEYS)


def annotators_agree(annotations: list[dict[str, Any]], schema: Schema) -> bool:
    if len(annotations) < 2:
        return False
    first = _judgement(annotations[0], schema)
    return all(_judgement(a, schema) == first for a in annotations[1:])
