"""Comments: a thread per item, optionally on one bubble ("m3" / "c1"), with author and time.

Who sees what: reviewers and admins see every comment. An annotator sees their own comments and those
written by reviewers and admins (the feedback meant for them), but not other annotators' comments, so
annotators do not sway each other's independent judgements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, select

from store.access import visible_item
from store.errors import Forbidden, InputError, NotFound
from store.models import Comment, User

MAX_CHARS = 5000


@dataclass
class CommentView:
    id: int
    item_id: int
    target: str | None  # "m3", "c1" or None for the whole item
    author: str
    author_role: str
    text: str
    resolved: bool
    created_at: datetime
    mine: bool


def _target_to_index(target: str | None) -> int | None:
    """Comment.message_index stores messages as i and candidates as -(k + 1)."""
    if not target:
        return None
    kind, number = target[0], target[1:]
    if kind not in "mc" or not number.isdigit():
        raise InputError(f"comment target {target!r}: must look like m3 or c1")
    return int(number) if kind == "m" else -(int(number) + 1)


def _index_to_target(index: int | None) -> str | None:
    if index is None:
        return None
    return f"m{index}" if index >= 0 else f"c{-index - 1}"


def add_comment(*, session: Session, user: User, item_id: int, text: str, target: str | None = None) -> int:
    """Add a comment on the item (or one of its bubbles); returns its id."""
    item = visible_item(session=session, user=user, item_id=item_id)
    text = (text or "").strip()
    if not text:
        raise InputError("comment: empty")
    if len(text) > MAX_CHARS:
        raise InputError(f"comment: {len(text)} characters, at most {MAX_CHARS}")
    index = _target_to_index(target)
    if index is not None:
        count = len(item.messages or []) if index >= 0 else len(item.candidates or [])
        if (index if index >= 0 else -index - 1) >= count:
            raise InputError(f"comment target {target!r}: no such bubble in this item")
    comment = Comment(item_id=item_id, message_index=index, author_id=user.id, text=text)
    session.add(comment)
    session.commit()
    return int(comment.id)


def list_comments(*, session: Session, user: User, item_id: int) -> list[CommentView]:
    """The item's comments that `user` may see, oldest first."""
    visible_item(session=session, user=user, item_id=item_id)
    query = (
        select(Comment, User.username, User.display_name, User.role)
        .join(User, User.id == Comment.author_id)
        .where(Comment.item_id == item_id)
    )
    if user.role not in ("admin", "reviewer"):
        query = query.where(or_(Comment.author_id == user.id, User.role.in_(("admin", "reviewer"))))
    rows = session.exec(query.order_by(Comment.created_at, Comment.id)).all()
    return [
        CommentView(
            id=int(c.id),
            item_id=c.item_id,
            target=_index_to_target(c.message_index),
            author=display or username,
            author_role=role,
            text=c.text,
            resolved=c.resolved,
            created_at=c.created_at,
            mine=c.author_id == user.id,
        )
        for c, username, display, role in rows
    ]


def set_resolved(*, session: Session, user: User, comment_id: int, resolved: bool = True) -> None:
    """Mark a comment resolved (its author, reviewers and admins)."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"comment {comment_id}: not found")
    visible_item(session=session, user=user, item_id=comment.item_id)
    if comment.author_id != user.id and user.role not in ("admin", "reviewer"):
        raise Forbidden("only the author, reviewers and admins may resolve a comment")
    comment.resolved = resolved
    session.add(comment)
    session.commit()
