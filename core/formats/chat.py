"""Readers for one-record-one-dialogue JSON formats: OpenAI/TRL, ShareGPT/LLaVA, Alpaca, preference, KTO."""

from __future__ import annotations

from typing import Any

from core.dialogue import ROLE_ALIASES, Candidate, Message, ParsedItem
from core.formats.base import ImageResolver, Record, message, require_dialogue, require_dict

PLACEHOLDER = "<image>"


class ImageQueue:
    """The record's top-level `images` list, consumed in order by `<image>` placeholders / image parts."""

    __slots__ = ("refs", "pos", "rec", "resolve", "field")

    def __init__(self, refs: Any, rec: Record, resolve: ImageResolver, field: str) -> None:
        if refs is None:
            refs = []
        elif isinstance(refs, str):
            refs = [refs]
        elif not isinstance(refs, list):
            raise rec.error(f"images must be a list of paths, not {type(refs).__name__}", field)
        self.refs, self.pos, self.rec, self.resolve, self.field = refs, 0, rec, resolve, field

    def take(self, n: int, where: str) -> list[str]:
        if self.pos + n > len(self.refs):
            raise self.rec.error(
                f"more <image> placeholders than images ({len(self.refs)} in {self.field})", where
            )
        out = [
            self.resolve(r, self.rec, f"{self.field}[{i}]")
            for i, r in enumerate(self.refs[self.pos : self.pos + n], self.pos)
        ]
        self.pos += n
        return out

    def rest(self) -> list[str]:
        return self.take(len(self.refs) - self.pos, self.field) if self.pos < len(self.refs) else []


def _placeholders(text: str, queue: ImageQueue | None, field: str) -> tuple[str, list[str]]:
    """Strip `<image>` placeholders from text, taking that many images from the queue in order."""
    if queue is None or not queue.refs or PLACEHOLDER not in text:
        return text, []
    n = text.count(PLACEHOLDER)
    return text.replace(PLACEHOLDER, "").strip(), queue.take(n, field)


def _attach_leftover(messages: list[Message], queue: ImageQueue) -> None:
    """Images never named by a placeholder: with no placeholders at all they go to the first user message
    (LLaVA's habit); otherwise the counts disagree, which is an error."""
    if queue.pos == len(queue.refs):
        return
    if queue.pos:
        raise queue.rec.error(
            f"{len(queue.refs)} images but only {queue.pos} <image> placeholders", queue.field
        )
    target = next((m for m in messages if m["role"] == "user"), messages[0])
    target["images"] = queue.rest() + target["images"]


# ------------------------------------------------------------------ OpenAI / TRL / LLaMA-Factory v1 parts


def _part_image_ref(part: dict) -> Any:
    url = part.get("image_url")
    if isinstance(url, dict):
        return url.get("url")
    if url is not None:
        return url
    for key in ("value", "image", "url", "path"):
        if part.get(key) is not None:
            return part[key]
    return None


def _content(
    content: Any, rec: Record, field: str, resolve: ImageResolver, queue: ImageQueue | None
) -> tuple[str, list[str]]:
    """Text and image refs of an OpenAI-style content: a string, or a list of parts."""
    if type(content) is str or content is None:
        text = rec.text(content, field)
        return _placeholders(text, queue, field)
    if not isinstance(content, list):
        if isinstance(content, dict):
            content = [content]
        else:
            return _placeholders(rec.text(content, field), queue, field)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        pfield = f"{field}[{j}]"
        if isinstance(part, str):
            text, imgs = _placeholders(rec.text(part, pfield), queue, pfield)
            texts.append(text)
            images += imgs
            continue
        if not isinstance(part, dict):
            raise rec.error(f"content part must be an object, not {type(part).__name__}", pfield)
        kind = part.get("type", "text" if "text" in part else None)
        if kind in ("text", "input_text", "output_text"):
            raw = part.get("text", part.get("value"))
            text, imgs = _placeholders(rec.text(raw, pfield), queue, pfield)
            texts.append(text)
            images += imgs
        elif kind in ("image_url", "image", "input_image"):
            ref = _part_image_ref(part)
            if ref is None:  # TRL vision: {"type": "image"} stands for the next entry of `images`
                if queue is None:
                    raise rec.error("image part without a path and no images list", pfield)
                images += queue.take(1, pfield)
            else:
                images.append(resolve(ref, rec, pfield))
        else:
            raise rec.error(f"unknown content part type {kind!r} (known: text, image_url, image)", pfield)
    return "\n".join(t for t in texts if t), images


def parse_messages(
    raw: Any, rec: Record, resolve: ImageResolver, queue: ImageQueue | None, field: str = "messages"
) -> list[Message]:
    """OpenAI-style `[{role, content}]` (also `{from, value}`) into messages.

    The common case (a two-key message with a known lower-case role and plain text) takes a fast path
    with no per-message function calls; everything else goes through _message."""
    if type(raw) is not list:
        raise rec.error(f"expected a list of messages, not {type(raw).__name__}", field)
    out: list[Message] = []
    append = out.append
    aliases = ROLE_ALIASES
    max_chars = rec.max_chars
    plain = queue is None or not queue.refs
    for i, m in enumerate(raw):
        if type(m) is dict and len(m) == 2:
            role = m.get("role")
            text = m.get("content")
            if role is None:
                role = m.get("from")
                text = m.get("value")
            if (
                type(role) is str
                and type(text) is str
                and role in aliases
                and len(text) <= max_chars
                and "\x00" not in text
                and (plain or PLACEHOLDER not in text)
            ):
                append({"role": aliases[role], "text": text, "images": []})
                continue
        append(_message(m, rec, resolve, queue, f"{field}[{i}]"))
    return out


def _message(m: Any, rec: Record, resolve: ImageResolver, queue: ImageQueue | None, mfield: str) -> Message:
    if type(m) is not dict:
        raise rec.error(f"message must be an object, not {type(m).__name__}", mfield)
    if "role" in m:
        role = rec.role(m["role"], mfield + ".role")
        text, images = _content(m.get("content"), rec, mfield + ".content", resolve, queue)
    elif "from" in m:
        role = rec.role(m["from"], mfield + ".from")
        text, images = _placeholders(rec.text(m.get("value"), mfield + ".value"), queue, mfield + ".value")
    else:
        raise rec.error("message has no role (expected role/content or from/value)", mfield)
    extra = {k: v for k, v in m.items() if k not in ("role", "content", "from", "value")}
    return message(role, text, images, extra)


def _meta(obj: dict, used: tuple[str, ...]) -> dict:
    """The record's fields no reader consumed, kept as item meta."""
    if len(obj) == 1:
        return {}
    return {k: v for k, v in obj.items() if k not in used}


_OPENAI_KEYS = ("messages", "images", "id")


def parse_openai(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """`{"messages": [{role, content: str | parts}], "images"?: [...]}`; no candidates (SFT shape)."""
    if type(obj) is not dict:
        raise rec.error(f"expected a JSON object, got {type(obj).__name__}")
    queue = ImageQueue(obj["images"], rec, resolve, "images") if "images" in obj else None
    messages = parse_messages(obj.get("messages"), rec, resolve, queue)
    if not messages:
        raise rec.error("empty dialogue (no messages)", "messages")
    if queue is not None:
        _attach_leftover(messages, queue)
    ext = obj.get("id")
    return ParsedItem(
        rec.default_id() if ext is None else rec.item_id(obj),
        messages,
        meta=_meta(obj, _OPENAI_KEYS) if len(obj) > 1 else {},
    )


# ------------------------------------------------------------------ ShareGPT / LLaVA

_SHAREGPT_KEYS = ("conversations", "image", "images", "id", "system")


def parse_sharegpt(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """`{"conversations": [{from, value}], "image"|"images": ..., "system"?: str}` with `<image>`
    placeholders; a top-level system prompt becomes the first message."""
    obj = require_dict(obj, rec)
    key = "images" if "images" in obj else "image"
    queue = ImageQueue(obj[key], rec, resolve, key) if key in obj else None
    messages = parse_messages(obj.get("conversations"), rec, resolve, queue, "conversations")
    require_dialogue(messages, rec, "conversations")
    if obj.get("system"):  # LLaMA-Factory's sharegpt keeps the system prompt beside the turns
        messages.insert(0, message("system", rec.text(obj["system"], "system")))
    if queue is not None:
        _attach_leftover(messages, queue)
    return ParsedItem(external_id=rec.item_id(obj), messages=messages, meta=_meta(obj, _SHAREGPT_KEYS))


# ------------------------------------------------------------------ Alpaca

_ALPACA_KEYS = ("instruction", "input", "output", "system", "history", "id", "images")


def parse_alpaca(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """`{instruction, input, output}` → user (instruction + "\\n\\n" + input), bot (output).

    LLaMA-Factory's optional `system` and `history` ([[user, bot], …]) come first."""
    obj = require_dict(obj, rec)
    queue = ImageQueue(obj["images"], rec, resolve, "images") if "images" in obj else None
    messages: list[Message] = []
    if obj.get("system"):
        messages.append(message("system", rec.text(obj["system"], "system")))
    history = obj.get("history") or []
    if not isinstance(history, list):
        raise rec.error("history must be a list of [prompt, reply] pairs", "history")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise rec.error("history entry must be a [prompt, reply] pair", f"history[{i}]")
        messages.append(
            message("user", *_placeholders(rec.text(pair[0], f"history[{i}][0]"), queue, f"history[{i}]"))
        )
        messages.append(message("bot", rec.text(pair[1], f"history[{i}][1]")))
    instruction = rec.text(obj.get("instruction"), "instruction")
    extra = rec.text(obj.get("input"), "input")
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    if len(prompt) > rec.max_chars:
        raise rec.error(
            f"text is {len(prompt):,} characters, over the limit of {rec.max_chars:,}", "instruction"
        )
    if not prompt.strip():
        raise rec.error("empty dialogue (no instruction)", "instruction")
    messages.append(message("user", *_placeholders(prompt, queue, "instruction")))
    output = obj.get("output")
    if output not in (None, ""):
        messages.append(message("bot", rec.text(output, "output")))
    if queue is not None:
        _attach_leftover(messages, queue)
    return ParsedItem(external_id=rec.item_id(obj), messages=messages, meta=_meta(obj, _ALPACA_KEYS))


# ------------------------------------------------------------------ preference pairs


def preference_suggestion(agent: str, chosen: int = 0, rejected: int = 1) -> dict:
    return {
        "kind": "preference",
        "target": None,
        "value": {"chosen": chosen, "rejected": rejected},
        "score": None,
        "agent": agent,
    }


def _as_messages(
    value: Any, rec: Record, resolve: ImageResolver, field: str, default_role: str
) -> list[Message]:
    """A prompt/chosen/rejected value: a string, one {from,value}/{role,content} object, or a list of them."""
    if isinstance(value, str):
        return [message(default_role, rec.text(value, field))]
    if isinstance(value, dict):
        return parse_messages([value], rec, resolve, None, field)
    if isinstance(value, list):
        return parse_messages(value, rec, resolve, None, field)
    if value is None:
        return []
    raise rec.error(f"expected text or messages, not {type(value).__name__}", field)


def _candidate(msgs: list[Message], rec: Record, field: str, model: str = "") -> Candidate:
    """A completion given as one or more messages → one candidate (texts joined by a blank line)."""
    if not msgs:
        raise rec.error("empty completion", field)
    if any(m["role"] == "user" for m in msgs):
        raise rec.error("completion contains a user turn after the shared prompt", field)
    cand: Candidate = {
        "text": "\n\n".join(m["text"] for m in msgs),
        "images": [i for m in msgs for i in m["images"]],
    }
    if model:
        cand["model"] = model
    if len(msgs) > 1:
        cand["meta"] = {"turns": len(msgs)}
    return cand


def _common_prefix(a: list[Message], b: list[Message]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x["role"] != y["role"] or x["text"] != y["text"] or x["images"] != y["images"]:
            break
        n += 1
    return n


_PREF_KEYS = (
    "prompt",
    "chosen",
    "rejected",
    "conversations",
    "messages",
    "completions",
    "id",
    "images",
    "system",
)
_SCORE_KEYS = ("overall_score", "score", "rating", "fine-grained_score")


def parse_preference(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """TRL `{prompt, chosen, rejected}` (strings or message lists, prompt optional: then the shared prefix
    is the context), LLaMA-Factory DPO `{conversations, chosen: {from, value}, rejected: {...}}`, and
    UltraFeedback-like `{prompt, completions: [...]}` (text/response/content + model; scores kept as score
    suggestions). Candidates: [chosen, rejected] + a preference suggestion; or the completions in order."""
    obj = require_dict(obj, rec)
    queue = ImageQueue(obj["images"], rec, resolve, "images") if "images" in obj else None
    context: list[Message] = []
    if obj.get("system"):
        context.append(message("system", rec.text(obj["system"], "system")))
    if "conversations" in obj:
        context += parse_messages(obj["conversations"], rec, resolve, queue, "conversations")
    elif "messages" in obj:
        context += parse_messages(obj["messages"], rec, resolve, queue, "messages")
    elif "prompt" in obj:
        if isinstance(obj["prompt"], str):
            context.append(
                message("user", *_placeholders(rec.text(obj["prompt"], "prompt"), queue, "prompt"))
            )
        else:
            context += parse_messages(obj["prompt"], rec, resolve, queue, "prompt")
    suggestions: list[dict] = []
    candidates: list[Candidate] = []
    if "completions" in obj:
        comps = obj["completions"]
        if not isinstance(comps, list) or not comps:
            raise rec.error("completions must be a non-empty list", "completions")
        for k, comp in enumerate(comps):
            field = f"completions[{k}]"
            if isinstance(comp, dict) and "role" not in comp and "from" not in comp:
                text = comp.get("text", comp.get("response", comp.get("content")))
                cand: Candidate = {"text": rec.text(text, field + ".text"), "images": []}
                if comp.get("model"):
                    cand["model"] = str(comp["model"])
                for skey in _SCORE_KEYS:
                    if isinstance(comp.get(skey), int | float) and not isinstance(comp.get(skey), bool):
                        suggestions.append(
                            {
                                "kind": "score",
                                "target": f"c{k}",
                                "value": float(comp[skey]),
                                "score": None,
                                "agent": "preference",
                            }
                        )
                        break
                rest = {
                    kk: vv for kk, vv in comp.items() if kk not in ("text", "response", "content", "model")
                }
                if rest:
                    cand["meta"] = rest
                candidates.append(cand)
            else:
                candidates.append(_candidate(_as_messages(comp, rec, resolve, field, "bot"), rec, field))
    else:
        chosen = _as_messages(obj.get("chosen"), rec, resolve, "chosen", "bot")
        rejected = _as_messages(obj.get("rejected"), rec, resolve, "rejected", "bot")
        if not context and chosen and rejected and len(chosen) > 1:
            # implicit prompt: the conversation both sides share is the context
            n = _common_prefix(chosen, rejected)
            while n and chosen[n - 1]["role"] != "user":
                n -= 1
            context, chosen, rejected = chosen[:n], chosen[n:], rejected[n:]
        candidates = [_candidate(chosen, rec, "chosen"), _candidate(rejected, rec, "rejected")]
        suggestions.append(preference_suggestion("preference"))
    require_dialogue(context, rec, "prompt")
    if queue is not None:
        _attach_leftover(context, queue)
    return ParsedItem(
        external_id=rec.item_id(obj),
        messages=context,
        candidates=candidates,
        suggestions=suggestions,
        meta=_meta(obj, _PREF_KEYS),
    )


# ------------------------------------------------------------------ KTO

_KTO_KEYS = ("messages", "conversations", "prompt", "completion", "label", "id", "images")


def parse_kto(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """`{messages, label}`: the last assistant turn → candidates[0], the rest → messages, label → a
    `label` suggestion on c0. Also TRL's unpaired `{prompt, completion, label}`."""
    obj = require_dict(obj, rec)
    label = obj.get("label")
    if not isinstance(label, bool):
        raise rec.error(f"label must be true or false, not {label!r}", "label")
    queue = ImageQueue(obj["images"], rec, resolve, "images") if "images" in obj else None
    if "prompt" in obj and "completion" in obj:
        if isinstance(obj["prompt"], str):
            context = [message("user", *_placeholders(rec.text(obj["prompt"], "prompt"), queue, "prompt"))]
        else:
            context = parse_messages(obj["prompt"], rec, resolve, queue, "prompt")
        candidate = _candidate(
            _as_messages(obj["completion"], rec, resolve, "completion", "bot"), rec, "completion"
        )
    else:
        key = "messages" if "messages" in obj else "conversations"
        msgs = parse_messages(obj.get(key), rec, resolve, queue, key)
        require_dialogue(msgs, rec, key)
        if msgs[-1]["role"] != "bot":
            raise rec.error("the last message must be the assistant reply the label judges", key)
        last = msgs.pop()
        candidate = {"text": last["text"], "images": last["images"]}
        context = msgs
    require_dialogue(context, rec)
    if queue is not None:
        _attach_leftover(context, queue)
    suggestion = {"kind": "label", "target": "c0", "value": label, "score": None, "agent": "kto"}
    return ParsedItem(
        external_id=rec.item_id(obj),
        messages=context,
        candidates=[candidate],
        suggestions=[suggestion],
        meta=_meta(obj, _KTO_KEYS),
    )


# ------------------------------------------------------------------ native (fallback until core.formats.native lands)

_NATIVE_KEYS = ("id", "name", "messages", "responses", "suggestions", "meta", "annotations")


def parse_native_basic(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """The native item shape without annotations/ontology handling; core.formats.native replaces it."""
    obj = require_dict(obj, rec)
    messages: list[Message] = []
    raw = obj.get("messages")
    if not isinstance(raw, list):
        raise rec.error("expected a list of messages", "messages")
    for i, m in enumerate(raw):
        f = f"messages[{i}]"
        if type(m) is not dict:
            raise rec.error("message must be an object", f)
        role = rec.role(m.get("role"), f + ".role")
        text = rec.text(m.get("content", m.get("text")), f + ".content")
        imgs = [resolve(r, rec, f"{f}.images[{j}]") for j, r in enumerate(m.get("images") or [])]
        messages.append(message(role, text, imgs, m.get("meta")))
    require_dialogue(messages, rec)
    candidates: list[Candidate] = []
    for k, c in enumerate(obj.get("responses") or []):
        f = f"responses[{k}]"
        if type(c) is not dict:
            raise rec.error("response must be an object", f)
        cand: Candidate = {
            "text": rec.text(c.get("content", c.get("text")), f + ".content"),
            "images": [resolve(r, rec, f"{f}.images[{j}]") for j, r in enumerate(c.get("images") or [])],
        }
        if c.get("model"):
            cand["model"] = str(c["model"])
        if c.get("meta"):
            cand["meta"] = c["meta"]
        candidates.append(cand)
    sugg = obj.get("suggestions") or []
    if isinstance(sugg, dict):
        sugg = [
            {"kind": k, "target": None, "value": v, "score": None, "agent": "native"} for k, v in sugg.items()
        ]
    meta = obj.get("meta") or {}
    return ParsedItem(
        external_id=rec.item_id(obj),
        name=str(obj.get("name") or ""),
        messages=messages,
        candidates=candidates,
        suggestions=list(sugg),
        meta=meta if isinstance(meta, dict) else {"meta": meta},
        annotations=list(obj.get("annotations") or []),
    )
