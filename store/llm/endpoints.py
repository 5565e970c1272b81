"""Model endpoints: OpenAI-compatible servers an admin names once (base URL, model id, the key's variable)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, select

from store.access import require_admin
from store.errors import InputError, NotFound
from store.models import AuditEvent, ModelEndpoint, User

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_CONCURRENCY = 64


def _check(name: str, base_url: str, model: str, api_key_env: str, temperature: float | None,
           max_tokens: int | None, concurrency: int) -> None:  # fmt: skip
    if not name.strip() or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise InputError("model name: give 1 to 200 characters, no control characters")
    parts = urlsplit(base_url)
    # Loopback and private addresses are allowed on purpose: local servers are the usual case, and only
    # admins set endpoints.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--base-url {base_url!r}: give an http(s) URL such as http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        raise InputError("--base-url: no credentials in the URL; name the key's variable with --api-key-env")
    if not model.strip() or len(model) > 200:
        raise InputError("--model: give the model id the server knows (1 to 200 characters)")
    if api_key_env and not ENV_NAME.match(api_key_env):
        raise InputError(
            f"--api-key-env {api_key_env!r}: give the NAME of an environment variable, not a key"
        )
    if temperature is not None and not 0 <= temperature <= 2:
        raise InputError(f"--temperature {temperature}: give a number from 0 to 2")
    if max_tokens is not None and max_tokens < 1:
        raise InputError(f"--max-tokens {max_tokens}: give a whole number of at least 1")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(f"--concurrency {concurrency}: give a whole number from 1 to {MAX_CONCURRENCY}")


def add_model(
    *,
    session: Session,
    user: User,
    name: str,
    base_url: str,
    model: str,
    api_key_env: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    system: str = "",
    concurrency: int = 4,
    vision: bool = False,
) -> ModelEndpoint:
    """Add an endpoint (admins only). The key itself is never given here: only its variable's name."""
    require_admin(user)
    name, base_url, model = name.strip(), base_url.strip().rstrip("/"), model.strip()
    _check(name, base_url, model, api_key_env, temperature, max_tokens, concurrency)
    if session.exec(select(ModelEndpoint).where(ModelEndpoint.name == name)).first() is not None:
        raise InputError(f"a model named {name!r} exists already (remove it first to change it)")
    row = ModelEndpoint(
        name=name, base_url=base_url, model=model, api_key_env=api_key_env, temperature=temperature,
        max_tokens=max_tokens, system=system, concurrency=concurrency, vision=vision, created_by=user.id,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.add(AuditEvent(user_id=user.id, action="model.add", detail=describe(row)))
    session.flush()
    return row


def list_models(*, session: Session) -> list[ModelEndpoint]:
    return list(session.exec(select(ModelEndpoint).order_by(ModelEndpoint.name)).all())


def get_model(*, session: Session, name: str) -> ModelEndpoint:
    row = session.exec(select(ModelEndpoint).where(ModelEndpoint.name == name)).first()
    if row is None:
        known = ", ".join(m.name for m in list_models(session=session)) or "none yet"
        raise NotFound(f"no model named {name!r} (known: {known})")
    return row


def remove_model(*, session: Session, user: User, name: str) -> None:
    require_admin(user)
    row = get_model(session=session, name=name)
    session.delete(row)
    session.add(AuditEvent(user_id=user.id, action="model.remove", detail={"name": name}))
    session.flush()


def describe(row: ModelEndpoint) -> dict[str, Any]:
    """What may be shown of an endpoint: everything but a key (which the row never holds)."""
    return {
        "name": row.name,
        "base_url": row.base_url,
        "model": row.model,
        "api_key_env": row.api_key_env,
        "temperature": row.temperature,
        "max_tokens": row.max_tokens,
        "system": row.system,
        "concurrency": row.concurrency,
        "vision": row.vision,
    }
