"""The dialogue shapes every part of Parley shares: messages, candidate replies, parsed items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

Role = Literal["user", "bot", "system"]
ROLES: tuple[Role, ...] = ("user", "bot", "system")

# Source vocabularies (ShareGPT, OpenAI, OpenAssistant, HH-RLHF) mapped to our three roles.
ROLE_ALIASES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "prompter": "user",
    "bot": "bot",
    "assistant": "bot",
    "gpt": "bot",
    "model": "bot",
    "system": "system",
}


class Message(TypedDict, total=False):
    """One turn as stored in Item.messages. `images` holds asset ids (sha256) once imported."""

    role: Role
    text: str
    images: list[str]
    meta: dict[str, Any]


class Candidate(TypedDict, total=False):
    """An alternative bot reply to the last message (Item.candidates), labelled A, B, C… on the page."""

    text: str
    model: str
    images: list[str]
    meta: dict[str, Any]


@dataclass
class ParsedItem:
    """One dialogue as a format reader yields it, before it is stored.

    Image references in `messages[*]["images"]` and `candidates[*]["images"]` are still references
    (a path relative to the archive root, an http(s) URL or an s3:// URL); the importer replaces them
    with asset ids.
    """

    external_id: str
    messages: list[Message]
    candidates: list[Candidate] = field(default_factory=list)
    name: str = ""
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # Annotations carried by a native export, applied by the importer when it knows the users.
    annotations: list[dict[str, Any]] = field(default_factory=list)


def normalize_role(raw: str) -> Role | None:
    """Our role for a source's role name, or None when it is unknown."""
    return ROLE_ALIASES.get(str(raw).strip().lower())


def candidate_label(index: int) -> str:
    """A, B, … Z, AA, AB … for candidate `index` (0-based)."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(65 + rest) + label
    return label


def prompt_text(messages: Sequence[Any] | None) -> str:
    """An item's prompt: the text of every message, one a line (the candidates are the replies to it)."""
    return "\n".join(str(m.get("text") or "") for m in messages or ())


def dialogue_text(messages: Sequence[Any] | None, candidates: Sequence[Any] | None) -> str:
    """An item's whole dialogue: the text of its messages, then of its candidate replies, one a line (what
    full-text search indexes, and near-duplicates compare with over="dialogue")."""
    return "\n".join(str(p.get("text") or "") for p in [*(messages or ()), *(candidates or ())])
