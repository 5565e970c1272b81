"""The Respond page's bottom-left panel: class buttons, the open class's reply box, delete, start-from, diff."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from components.response_box import response_box
from core.dialogue import candidate_label
from core.response import (
    class_label,
    delete_result,
    find_result,
    limit_problems,
    set_text,
    start_from,
    word_diff,
)

OPEN_KEY = "respond.class"  # id of the open class
REV_KEY = "respond.rev"  # bumped whenever the page itself changes a reply (the box re-seeds)
ITEM_KEY = "respond.item"  # (item id, load key) the panel last showed
CONFIRM_KEY = "respond.confirm_delete"  # class id awaiting the second confirmation
BOX_KEY = "respond.box"
ACTION_KEY = "respond.last_action"  # nonce of the last Ctrl+S / Ctrl+Enter handled
LIMIT_NOTE_KEY = "respond.limit_note"  # set by a Save/Submit: show the classes outside their limits
_COLOR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
ROLE_LABEL = {"bot": "Bot", "user": "User"}


def _seed(item_id: int, class_id: int) -> str:
    return f"{item_id}:{class_id}:{st.session_state.get(REV_KEY, 0)}"


def _bump() -> None:
    st.session_state[REV_KEY] = st.session_state.get(REV_KEY, 0) + 1


def _parse_seed(seed: Any) -> tuple[int, int, int] | None:
    try:
        item_id, class_id, rev = (int(x) for x in str(seed).split(":"))
    except ValueError:
        return None
    return item_id, class_id, rev


def _target(payload: Any, item_id: int, by_id: dict[int, Any]) -> Any | None:
    """The class a box payload writes to, or None when it is stale (another item, or an older revision)."""
    if not isinstance(payload, dict):
        return None
    parsed = _parse_seed(payload.get("seed"))
    if parsed is None or parsed[0] != item_id or parsed[2] != st.session_state.get(REV_KEY, 0):
        return None
    return by_id.get(parsed[1])


def class_for_key(classes: list[Any], key: str | None) -> Any | None:
    """The class whose number hotkey is `key` ("1".."9", "0" = 10)."""
    if not key or not key.isdigit() or len(key) != 1:
        return None
    number = int(key) or 10
    return next((c for c in classes if c.number == number), None)


def _open(class_id: int | None, classes: list[Any]) -> None:
    st.session_state[OPEN_KEY] = class_id
    st.session_state.pop(CONFIRM_KEY, None)
    number = next((c.number for c in classes if c.id == class_id), None)
    if number is None:
        st.query_params.pop("class", None)
    else:
        st.query_params["class"] = str(number)  # a reload reopens the class being written


def _styles_ui(classes: list[Any]) -> None:
    rules = []
    for c in classes:
        color = c.color if _COLOR.match(c.color or "") else "#3b5bdb"
        rules.append(f".st-key-respond_cls_{c.id} button {{ border-left: 0.45rem solid {color}; }}")
    rules.append(".rb-diff del { background: #fdecea; color: #b71c1c; margin-right: 0.15em; }")
    rules.append(".rb-diff ins { background: #e8f5e9; color: #1b5e20; text-decoration: none; }")
    st.html("<style>" + "\n".join(rules) + "</style>")


def _sources(item: Any) -> list[tuple[str, str]]:
    """The model replies a rewrite can start from: bot messages, then candidates, as (label, text)."""
    out = []
    for i, message in enumerate(item.messages or []):
        if message.get("role") == "bot" and message.get("text"):
            out.append((f"Bot message {i + 1}", message["text"]))
    for k, cand in enumerate(item.candidates or []):
        if cand.get("text"):
            out.append((f"Candidate {candidate_label(k)}", cand["text"]))
    return out


def diff_html(original: str, rewrite: str) -> str:
    """The word diff as escaped HTML with <del>/<ins>."""
    tags = {"same": "{}", "removed": "<del>{}</del>", "added": "<ins>{}</ins>"}
    body = "".join(tags[p.op].format(html.escape(p.text)) for p in word_diff(original, rewrite))
    return f'<div class="rb-diff" style="white-space: pre-wrap">{body}</div>'


def response_panel_ui(
    *,
    item: Any,
    classes: list[Any],
    work: dict[str, Any],
    editable: bool,
    key: str | None,
    changed: Callable[[], None],
    pending_key: str,
    load_key: str = "",
    user_id: int | None = None,
) -> None:
    """Draw the panel and apply what the annotator did to `work` (calls `changed()` when it changed).

    `pending_key` is the shell's pending Save/Submit key (components/toolpage): Ctrl+S / Ctrl+Enter pressed
    inside the box set it, after the box's exact text has been applied to `work`. `load_key` changes when the shell loads the work again (another
    item, or "Reload item" after a conflict): the box is re-seeded and its older drafts are ignored.
    """
    if st.session_state.get(ITEM_KEY) != (item.id, load_key):
        st.session_state[ITEM_KEY] = (item.id, load_key)
        _bump()  # a stale draft from another visit of this item never lands
        st.session_state.pop(CONFIRM_KEY, None)
        st.session_state.pop(LIMIT_NOTE_KEY, None)
    by_id = {c.id: c for c in classes}
    if OPEN_KEY not in st.session_state:  # first run (or a reload): the URL remembers the class
        wanted = st.query_params.get("class")
        st.session_state[OPEN_KEY] = next((c.id for c in classes if str(c.number) == wanted), None)
    pressed = class_for_key(classes, key)
    if pressed is not None:
        _open(pressed.id, classes)

    # What the box sent: its draft and its last Ctrl+S / Ctrl+Enter (both state; an action runs once).
    event = response_box_event()
    action = event.get("action")
    if isinstance(action, dict):
        if action.get("nonce") == st.session_state.get(ACTION_KEY):
            action = None  # already handled (a rerun within the same press)
        else:
            st.session_state[ACTION_KEY] = action.get("nonce")
    action_cls = None
    for payload in (event.get("draft"), action):
        cls = _target(payload, item.id, by_id) if editable else None
        if cls is None:
            continue
        if payload is action:
            action_cls = cls
        if set_text(work, cls.id, cls.role or "bot", str(payload.get("text", ""))):
            changed()

    if action_cls is not None and action.get("action") in ("save", "submit"):
        st.session_state[pending_key] = action["action"]  # the shell runs it at finish, with this text

    _styles_ui(classes)
    note_slot = st.container()  # always present, so what follows keeps its place (the box is not remounted)
    cols = st.columns(min(len(classes), 5) or 1)
    open_id = st.session_state.get(OPEN_KEY)
    for i, c in enumerate(classes):
        written = find_result(work, c.id) is not None
        label = f"{c.number} · {class_label(c)}" + (" ✓" if written else "")
        with cols[i % len(cols)], st.container(key=f"respond_cls_{c.id}"):
            st.button(
                label,
                key=f"respond.open.{c.id}",
                type="primary" if c.id == open_id else "secondary",
                help=f"Answer as {ROLE_LABEL.get(c.role or 'bot', c.role)} (key {c.number % 10})",
                on_click=_open,
                args=(c.id, classes),
                use_container_width=True,
            )
    if st.session_state.get(pending_key) in ("save", "submit"):
        st.session_state[LIMIT_NOTE_KEY] = True  # Save and Submit name the classes outside their limits
    problems = limit_problems(work, classes)
    if not problems:
        st.session_state.pop(LIMIT_NOTE_KEY, None)
    elif st.session_state.get(LIMIT_NOTE_KEY):
        note_slot.warning("Outside the character limits:\n" + "\n".join(f"- {p}" for p in problems))
    cls = by_id.get(open_id)
    if cls is None:
        st.caption("Pick a response class (click it or press its number) to write the reply.")
        return
    _open_class_ui(item, cls, work, editable, changed, user_id)


def response_box_event() -> dict[str, Any]:
    """The box's state as it stands before it is mounted this run (widget values in
    session state), so the page applies them before drawing anything that depends on them."""
    raw = st.session_state.get(BOX_KEY)
    if raw is None:
        return {}
    try:
        return {"draft": raw.get("draft"), "action": raw.get("action")}
    except AttributeError:
        return {}


def _open_class_ui(
    item: Any,
    cls: Any,
    work: dict[str, Any],
    editable: bool,
    changed: Callable[[], None],
    user_id: int | None,
) -> None:
    # Fixed containers keep the box at the same place in the page, so it is never remounted (and the
    # cursor never lost) when a confirmation or a hint appears above it.
    header, confirm, starter, box, below = (st.container() for _ in range(5))
    role = cls.role or "bot"
    result = find_result(work, cls.id)
    limits = [f"min {cls.min_chars}"] if cls.min_chars else []
    limits += [f"max {cls.max_chars}"] if cls.max_chars else []
    with header:
        head, tools = st.columns([3, 1], vertical_alignment="center")
        head.markdown(
            f"**{class_label(cls)}** · answers as **{ROLE_LABEL.get(role, role)}**"
            + (f" · {', '.join(limits)} characters" if limits else "")
        )
        if editable and result is not None:
            tools.button(
                "Delete",
                icon=":material/delete:",
                key="respond.delete",
                help="Delete this reply",
                use_container_width=True,
                on_click=lambda: st.session_state.__setitem__(CONFIRM_KEY, cls.id),
            )
        if cls.instruction:
            st.info(cls.instruction, icon=":material/info:")
    if st.session_state.get(CONFIRM_KEY) == cls.id and result is not None:
        with confirm:
            st.warning(f"Delete the reply for {class_label(cls)}?")
            yes, no, _ = st.columns([1, 1, 3])
            if yes.button("Yes, delete", key="respond.delete.yes", type="primary"):
                delete_result(work, cls.id)
                st.session_state.pop(CONFIRM_KEY, None)
                _bump()
                changed()
                st.rerun()
            if no.button("Cancel", key="respond.delete.no"):
                st.session_state.pop(CONFIRM_KEY, None)
                st.rerun()
    sources = _sources(item)
    if editable and sources:
        with starter:
            pick, go = st.columns([3, 2], vertical_alignment="bottom")
            labels = [label for label, _ in sources]
            chosen = pick.selectbox("Model reply", labels, index=len(labels) - 1, key="respond.source")
            if go.button(
                "Start from this reply",
                key="respond.start",
                icon=":material/content_copy:",
                help="Copy the model's reply into the box to rewrite it (the original is kept for the export)",
                use_container_width=True,
            ):
                start_from(work, cls.id, role, dict(sources)[chosen])
                _bump()
                changed()
                st.rerun()
    text = (result or {}).get("text") or ""
    with box:
        response_box(
            key=BOX_KEY,
            seed=_seed(item.id, cls.id),
            value=text,
            label=class_label(cls),
            min_chars=cls.min_chars,
            max_chars=cls.max_chars,
            disabled=not editable,
            placeholder=f"Write the reply as {ROLE_LABEL.get(role, role)}…",
            backup_key=f"parley.respond.{user_id}.{item.id}.{cls.id}" if user_id is not None else "",
        )
    source = (result or {}).get("source_text")
    if source:
        with below:
            if st.toggle("Show changes against the model's reply", key="respond.diff"):
                st.html(diff_html(source, text))
