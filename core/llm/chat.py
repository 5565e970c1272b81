"""Chat requests from a dialogue, when to retry a failed call, and keys kept out of messages."""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

CHAT_ROLE = {"user": "user", "bot": "assistant", "system": "system"}


def image_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def chat_messages(
    messages: list[dict[str, Any]],
    *,
    system: str = "",
    image: Callable[[str], str | None] | None = None,
    as_role: str = "bot",
) -> list[dict[str, Any]]:
    """The dialogue as OpenAI chat messages, for the next reply as `as_role` ("bot", or "user": the model
    then writes the user's next turn, so the two roles swap). `image(asset id)` gives a data URL for
    vision models (None: images are left out)."""
    swap = as_role == "user"
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role = CHAT_ROLE.get(str(message.get("role")), "user")
        if swap and role != "system":
            role = "assistant" if role == "user" else "user"
        text = str(message.get("text") or "")
        urls = [u for u in (image(ref) for ref in message.get("images") or ()) if u] if image else []
        if urls and role == "user":
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
            out.append({"role": role, "content": parts})
        else:
            out.append({"role": role, "content": text})
    return out


# ---------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How calls are retried: `attempts` in all, waits of `backoff` × 2ⁿ (with jitter, at most `max_wait`)
    unless the server's Retry-After says otherwise; `timeout` seconds per call."""

    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    timeout: float = 120.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        return min(self.backoff * (2**attempt) * (0.5 + random.random() / 2), self.max_wait)


RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def retry_after(headers: Any, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_KEYLIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*.]{6,}", re.IGNORECASE)


def redact(message: str, secrets: tuple[str, ...] = ()) -> str:
    """`message` with every secret, and anything shaped like an API key, replaced by ***, cut to 500
    characters (a provider's error may echo part of the key)."""
    for secret in secrets:
        if len(secret) >= 8:  # the whole key, then its head (what providers echo of a wrong key)
            message = message.replace(secret, "***").replace(secret[:8], "***")
    return _KEYLIKE.sub(lambda m: m.group(1) + "-***", message)[:500]
