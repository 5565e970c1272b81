"""HH-RLHF transcript pairs: `{"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": "…"}`."""

from __future__ import annotations

import re
from typing import Any

from core.dialogue import Candidate, ParsedItem
from core.formats.base import ImageResolver, Record, message, require_dict
from core.formats.chat import preference_suggestion

_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")
_ROLE = {"Human": "user", "Assistant": "bot"}


def split_transcript(text: str, rec: Record, field: str) -> list[tuple[str, str]]:
    """[(role, text)] of a transcript; turn texts are stripped of surrounding whitespace (blank lines
    inside a turn are kept)."""
    text = rec.text(text, field)
    if text.startswith(("Human:", "Assistant:")):
        text = "\n\n" + text
    parts = _TURN.split(text)
    if parts[0].strip():
        raise rec.error('transcript must start with "\\n\\nHuman: "', field)
    return [(_ROLE[parts[i]], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def _ending(turns: list[tuple[str, str]]) -> Candidate:
    """A side's turns after the shared prefix → one candidate. Normally one assistant turn; when a side has
    several (5 records of harmless-base have two assistant turns in a row) they are joined by a blank line;
    a side that goes on with human turns keeps "Human:"/"Assistant:" markers so nothing is lost."""
    if len(turns) == 1:
        return {"text": turns[0][1], "images": []}
    if all(role == "bot" for role, _ in turns):
        return {"text": "\n\n".join(t for _, t in turns), "images": [], "meta": {"turns": len(turns)}}
    names = {"user": "Human", "bot": "Assistant"}
    text = "\n\n".join(f"{names[r]}: {t}" for r, t in turns)
    return {"text": text, "images": [], "meta": {"turns": len(turns), "diverges_before_last_turn": True}}


def parse_hh(obj: Any, rec: Record, resolve: ImageResolver) -> ParsedItem:
    """The longest common prefix of turns that ends with a human turn → messages; each side's remaining
    turns → one candidate (chosen = c0, rejected = c1) and a preference suggestion (agent "hh_rlhf")."""
    obj = require_dict(obj, rec)
    chosen = split_transcript(obj.get("chosen"), rec, "chosen")
    rejected = split_transcript(obj.get("rejected"), rec, "rejected")
    n = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        n += 1
    while n and chosen[n - 1][0] != "user":
        n -= 1
    if n == 0:
        raise rec.error("the two transcripts share no human turn", "chosen")
    if n == len(chosen) or n == len(rejected):
        side = "chosen" if n == len(chosen) else "rejected"
        raise rec.error("transcript ends with a human turn (no assistant reply to compare)", side)
    messages = [message(role, text) for role, text in chosen[:n]]
    meta = {k: v for k, v in obj.items() if k not in ("chosen", "rejected", "id")}
    return ParsedItem(
        external_id=rec.item_id(obj),
        messages=messages,
        candidates=[_ending(chosen[n:]), _ending(rejected[n:])],
        suggestions=[preference_suggestion("hh_rlhf")],
        meta=meta,
    )
