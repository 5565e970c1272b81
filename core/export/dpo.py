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

from core.export.common import OPENAI_ROLE, Options, Schema, chat, content, images_in, usable_annotations
from core.export.pairs import Pair, pair_tuples, preference_pairs


def _pairs(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[tuple[dict[str, Any], Pair]]:
    n = len(item.get("candidates") or [])
    if n < 2:
        return
    for ann in usable_annotations(item):
        for pair in preference_pairs(ann, schema, n, options.pair_mode):
            yield ann, pair


def _meta(item: dict[str, Any], ann: dict[str, Any], pair: Pair) -> dict[str, Any]:
    return {"item": item["id"], "annotator": ann["annotator"], "status": ann["status"], **_pair_meta(pair)}


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


def lines(item: dict[str, Any], schema: Schema, options: Options) -> list[bytes]:
    """The same records as `records`, already as JSONL lines (tests check the bytes are equal), made for
    speed: the prompt and each reply are serialized once per item, the meta's annotation part once per
    annotation and its pair part once per distinct pair (the same few pairs recur on every item)."""
    candidates = item.get("candidates") or []
    n = len(candidates)
    if n < 2:
        return []
    out: list[bytes] = []
    head = b""
    replies: list[bytes] = []
    candidate_images: list[list[str]] = []
    images: list[str] = []
    plain_images = b""
    tails = _TAILS
    for ann in item.get("annotations") or ():
        if ann.get("validity", "valid") != "valid":
            continue
        pairs = pair_tuples(ann, schema, n, options.pair_mode)
        if not pairs:
            continue
        if not head:
            messages = item.get("messages") or []
            # [chat(m) for m in messages] serialized by hand, like the replies below.
            head = (
                b'{"prompt":['
                + b",".join(
                    [
                        _ROLE_HEAD.get(m.get("role", "bot"), _ASSISTANT) + dumps(content(m)) + b"}"
                        for m in messages
                    ]
                )
                + b'],"chosen":['
            )
            # chat(c, "bot") serialized by hand: the same bytes, without a dict per candidate.
            replies = [b'{"role":"assistant","content":' + dumps(content(c)) + b"}" for c in candidates]
            images = images_in(*messages)
            candidate_images = [c.get("images") or [] for c in candidates]
            plain_images = b'],"images":' + dumps(images) + b',"meta":'
        meta = b'{"item":%b,"annotator":%b,"status":%b,' % (
            dumps(item["id"]),
            dumps(ann["annotator"]),
            dumps(ann["status"]),
        )
        for pair in pairs:
            tail = tails.get(pair)
            if tail is None:
                if len(tails) > 100_000:  # pairwise strengths or many questions: keep the memo bounded
                    tails.clear()
                tail = tails[pair] = dumps(_pair_meta(Pair(*pair)))[1:] + b"}\n"
            chosen, rejected = pair[2], pair[3]
            if candidate_images[chosen] or candidate_images[rejected]:
                extra = images + candidate_images[chosen] + candidate_images[rejected]
                middle = b'],"images":' + dumps(extra) + b',"meta":'
            else:
                middle = plain_images
            out.append(
                b"".join((head, replies[chosen], b'],"rejected":[', replies[rejected], middle, meta, tail))
            )
    return out


_TAILS: dict[tuple[Any, ...], bytes] = {}
# chat()'s role mapping as the bytes before a message's content (any other role is the assistant's).
_ROLE_HEAD = {role: b'{"role":"%s","content":' % openai.encode() for role, openai in OPENAI_ROLE.items()}
_ASSISTANT = b'{"role":"assistant","content":'


def _pair_meta(pair: Pair) -> dict[str, Any]:
    return {
        "source": pair.source,
        "question": pair.question,
        "chosen": pair.chosen,
        "rejected": pair.rejected,
        "strength": pair.strength,
    }
