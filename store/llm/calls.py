"""Calls to an endpoint through the official `openai` package: one completion with retries, or a stream.

The key is read from the endpoint's environment variable for each client made, and kept out of every
message this module returns (core.llm.chat.redact).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from core.llm.chat import RETRY_STATUSES, RetryPolicy, redact, retry_after
from store.errors import InputError
from store.models import ModelEndpoint

# Local servers (vLLM, llama.cpp, Ollama) need no key; the package insists on one, so this stands in.
NO_KEY = "no-key"


def policy_from_env() -> RetryPolicy:
    """The retry policy, with PARLEY_LLM_ATTEMPTS / _BACKOFF / _TIMEOUT overriding the defaults."""
    base = RetryPolicy()
    return RetryPolicy(
        attempts=int(os.environ.get("PARLEY_LLM_ATTEMPTS", base.attempts)),
        backoff=float(os.environ.get("PARLEY_LLM_BACKOFF", base.backoff)),
        max_wait=base.max_wait,
        timeout=float(os.environ.get("PARLEY_LLM_TIMEOUT", base.timeout)),
    )


def api_key(endpoint: ModelEndpoint) -> str:
    """The endpoint's key from its environment variable, read now; InputError when it is not set."""
    if not endpoint.api_key_env:
        return NO_KEY
    value = os.environ.get(endpoint.api_key_env, "")
    if not value:
        raise InputError(
            f"model {endpoint.name}: the environment variable {endpoint.api_key_env} (its API key) is not set "
            "in the server's environment"
        )
    return value


def request_args(endpoint: ModelEndpoint) -> dict[str, Any]:
    args: dict[str, Any] = {"model": endpoint.model}
    if endpoint.temperature is not None:
        args["temperature"] = endpoint.temperature
    if endpoint.max_tokens is not None:
        args["max_tokens"] = endpoint.max_tokens
    return args


def async_client(endpoint: ModelEndpoint, policy: RetryPolicy, key: str) -> openai.AsyncOpenAI:
    # Retries are ours (max_retries=0): counted per item, honouring Retry-After, with the job's backoff.
    return openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=key, max_retries=0, timeout=policy.timeout)


class CallFailed(Exception):
    """A request that failed for good (a 4xx, or every attempt used); the message holds no key."""


@dataclass
class Reply:
    text: str
    tokens: int


def _problem(exc: BaseException) -> tuple[bool, float | None, str]:
    """(worth retrying, the server's Retry-After, what happened)."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body.get("message") if isinstance(exc.body, dict) else None
        text = f"HTTP {status}: {body or exc.message}"
        return status in RETRY_STATUSES, retry_after(exc.response.headers), text
    if isinstance(exc, openai.APITimeoutError):
        return True, None, "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return True, None, f"connection failed ({type(cause).__name__ if cause else 'no answer'})"
    if isinstance(exc, ValueError | openai.APIResponseValidationError):  # a body that is not JSON
        return True, None, "the server's answer was not valid JSON"
    return False, None, f"{type(exc).__name__}: {exc}"


async def complete(
    client: openai.AsyncOpenAI,
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    policy: RetryPolicy,
    *,
    secrets: tuple[str, ...] = (),
    on_retry: Callable[[str], None] | None = None,
) -> Reply:
    """One chat completion, retried on 429 / 5xx / timeouts / dropped connections / malformed answers
    (waiting what Retry-After asks, else backoff); CallFailed when it fails for good."""
    what = "no attempt made"
    for attempt in range(policy.attempts):
        try:
            # The package's own POST of the chat completion: `chat.completions.create` would first walk the
            # whole request through its TypedDict transform (~2.5 ms of CPU a call, a third of a job's CPU)
            # for messages that are plain JSON already.
            response = await client.post(
                "/chat/completions",
                body={"messages": messages, **request_args(endpoint)},
                cast_to=ChatCompletion,
            )
            if not response.choices:
                raise CallFailed("the server sent no choices")
            text = response.choices[0].message.content or ""
            tokens = response.usage.total_tokens if response.usage else 0
            return Reply(text=text, tokens=int(tokens or 0))
        except CallFailed:
            raise
        except Exception as exc:  # noqa: BLE001  (sorted by _problem; unknown kinds fail for good)
            retry, wait, what = _problem(exc)
            what = redact(what, secrets)
            if not retry:
                raise CallFailed(what) from None
            if attempt + 1 < policy.attempts:
                if on_retry is not None:
                    on_retry(what)
                await asyncio.sleep(policy.wait(attempt, wait))
    raise CallFailed(f"{what} (after {policy.attempts} attempts)")


def stream(endpoint: ModelEndpoint, messages: list[dict[str, Any]], policy: RetryPolicy) -> Iterator[str]:
    """A completion as it streams (text pieces). A failure before the first piece is retried as in
    `complete`; CallFailed (no key in its message) when it fails for good."""
    key = api_key(endpoint)
    with openai.OpenAI(
        base_url=endpoint.base_url, api_key=key, max_retries=0, timeout=policy.timeout
    ) as client:
        what = "no attempt made"
        for attempt in range(policy.attempts):
            started = False
            try:
                with client.chat.completions.create(
                    messages=messages, stream=True, **request_args(endpoint)
                ) as chunks:
                    for chunk in chunks:
                        piece = chunk.choices[0].delta.content if chunk.choices else None
                        if piece:
                            started = True
                            yield piece
                return
            except Exception as exc:  # noqa: BLE001
                retry, wait, what = _problem(exc)
                what = redact(what, (key,))
                if started or not retry:
                    raise CallFailed(what) from None
                if attempt + 1 < policy.attempts:
                    time.sleep(policy.wait(attempt, wait))
    raise CallFailed(f"{what} (after {policy.attempts} attempts)")
