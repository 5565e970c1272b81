"""A dialogue as st.chat_message bubbles, for the import preview and the Dataset Center's item view."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.dialogue import candidate_label

AVATARS = {"user": "user", "bot": "assistant", "system": "⚙️"}


def _images_ui(refs: list[str], load: Callable[[str], bytes | None]) -> None:
    shown = [(ref, load(ref)) for ref in refs]
    for ref, data in shown:
        if data is None:
            st.caption(f"image {ref} is missing")
        else:
            st.image(data, width=320, caption=ref if len(ref) < 64 else None)


def dialogue_ui(
    messages: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    load_image: Callable[[str], bytes | None],
    *,
    max_chars: int = 4000,
) -> None:
    """Bubbles for the messages, then the candidate replies side by side labelled A, B, …"""
    for message in messages:
        role = message.get("role", "user")
        avatar = AVATARS.get(role, "user")
        name = "assistant" if role == "bot" else role
        with st.chat_message(name, avatar=None if avatar in ("user", "assistant") else avatar):
            text = str(message.get("text", ""))
            # Plain text, never HTML: imported data is untrusted.
            st.text(text[:max_chars] + ("…" if len(text) > max_chars else ""))
            _images_ui(list(message.get("images") or []), load_image)
    if candidates:
        columns = st.columns(min(len(candidates), 3))
        for index, candidate in enumerate(candidates):
            with columns[index % len(columns)], st.chat_message("assistant"):
                model = candidate.get("model") or ""
                st.markdown(f"**{candidate_label(index)}**" + (f" · `{model}`" if model else ""))
                text = str(candidate.get("text", ""))
                st.text(text[:max_chars] + ("…" if len(text) > max_chars else ""))
                _images_ui(list(candidate.get("images") or []), load_image)


NONE = "—"


def mapping_ui(info: Any, key: str) -> Any:
    """The spreadsheet mapping step for store.importer.TableInfo: the guess, correctable; a TableMapping."""
    st.markdown(f"**Columns of {info.data_file}** — check the guess; the preview follows.")
    guess, options = info.guess, [NONE, *info.columns]
    layout = st.radio("Layout", ["item", "message"], index=["item", "message"].index(guess.layout), horizontal=True,
                      format_func=lambda v: "One row an item" if v == "item" else "One row a message")  # fmt: skip

    def pick(label: str, field: str) -> str | None:
        value = getattr(guess, field)
        chosen = st.selectbox(
            label, options, index=options.index(value) if value in options else 0, key=f"{key}.{field}"
        )
        return None if chosen == NONE else chosen

    cols = st.columns(3)
    if layout == "item":
        fields = [
            ("Conversation id", "id"),
            ("System", "system"),
            ("Prompt", "prompt"),
            ("Response", "response"),
        ]
    else:
        fields = [
            ("Conversation id", "id"),
            ("Turn", "turn"),
            ("Role", "role"),
            ("Text", "text"),
            ("Image", "image"),
        ]
    picked = {}
    for i, (label, field) in enumerate(fields):
        with cols[i % 3]:
            picked[field] = pick(label, field)
    mapping = dataclasses.replace(guess, layout=layout, **picked)
    mapping.meta = [c for c in guess.meta if c not in picked.values()]
    if layout == "item":
        mapping.candidates = st.multiselect(
            "Candidate replies", info.columns, default=guess.candidates, key=f"{key}.cand"
        )
        mapping.images = st.multiselect("Image columns", info.columns, default=guess.images, key=f"{key}.img")
    return mapping
