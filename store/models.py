"""SQLModel tables for the whole data model (DESIGN.md); schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(JSON, **kw))


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(default="", max_length=128)
    password_hash: str = Field(default="")
    role: str = Field(default="annotator", max_length=16)  # admin | annotator | reviewer
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class UserSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, the table only its sha256."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class LoginAttempt(SQLModel, table=True):
    """Failed sign-ins, for the growing delay after repeated failures."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, max_length=64)
    at: datetime = Field(default_factory=utcnow)


class Setting(SQLModel, table=True):
    """Install-wide values generated on first start (cookie secret, setup-code hash)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Dataset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    guidelines: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Open to every annotator unless restricted to the members in DatasetMember.
    restricted: bool = Field(default=False)
    # shuffle_candidates, hide_model_names, …
    settings: dict[str, Any] | None = _json()
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class DatasetMember(SQLModel, table=True):
    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")


class Item(SQLModel, table=True):
    """One dialogue. Its content never changes after import, so one row holds it."""

    __table_args__ = (
        UniqueConstraint("dataset_id", "external_id"),
        Index("ix_item_dataset_position", "dataset_id", "position"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    external_id: str = Field(max_length=512)
    name: str = Field(default="", max_length=512)
    position: int = Field(default=0)
    messages: list[dict[str, Any]] | None = _json()
    candidates: list[dict[str, Any]] | None = _json()
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    meta: dict[str, Any] | None = _json()
    import_job_id: int | None = Field(default=None, foreign_key="importjob.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class Asset(SQLModel, table=True):
    """An image stored once by sha256 in the blob store."""

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex
    mime: str = Field(max_length=64)
    width: int = 0
    height: int = 0
    bytes: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class OntologyClass(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    alias: str = Field(default="", max_length=200)
    number: int = Field(default=0)
    color: str = Field(default="#3b5bdb", max_length=16)
    tags: list[str] | None = _json()
    tool: str = Field(max_length=32)  # dialog_evaluation | dialog_response
    # evaluation: targets ["user", "bot"], attributes [...]; response: role, min_chars, max_chars, instruction
    targets: list[str] | None = _json()
    attributes: list[dict[str, Any]] | None = _json()
    role: str | None = Field(default=None, max_length=16)
    min_chars: int | None = None
    max_chars: int | None = None
    instruction: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    position: int = Field(default=0)
    # Deleted classes are kept (soft delete) so results made with them stay explainable.
    deleted_at: datetime | None = None


class Classification(SQLModel, table=True):
    """A question about the whole item: radio, checkbox, text, ranking, pairwise."""

    __table_args__ = (UniqueConstraint("dataset_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    title: str = Field(default="", max_length=500)
    type: str = Field(max_length=16)  # radio | checkbox | text | ranking | pairwise
    options: list[str] | None = _json()
    required: bool = Field(default=False)
    settings: dict[str, Any] | None = _json()  # allow_ties, strengths, …
    position: int = Field(default=0)
    deleted_at: datetime | None = None


class Annotation(SQLModel, table=True):
    """One annotator's work on one item; `version` guards against silent overwrites."""

    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id"),
        Index("ix_annotation_dataset_status", "dataset_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    annotator_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    status: str = Field(default="draft", max_length=16)  # draft | saved | submitted
    validity: str = Field(default="valid", max_length=16)  # valid | invalid
    invalid_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    classifications: dict[str, Any] | None = _json()
    # Unsaved work kept on the server (autosave): the whole working copy, applied by Save/Submit.
    draft: dict[str, Any] | None = _json()
    draft_at: datetime | None = None
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None


class Result(SQLModel, table=True):
    """One class applied inside an annotation: to a message, a candidate, or (response) the item."""

    __table_args__ = (UniqueConstraint("annotation_id", "class_id", "slot"),)
    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int = Field(foreign_key="annotation.id", index=True, ondelete="CASCADE")
    class_id: int = Field(foreign_key="ontologyclass.id", index=True)
    # "m3" (message 3), "c1" (candidate 1) or "r" (a response result: one per class per item).
    slot: str = Field(max_length=16)
    message_index: int | None = None
    candidate_index: int | None = None
    values: dict[str, Any] | None = _json()
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    role: str | None = Field(default=None, max_length=16)
    # Where a response started from a bot bubble's text (the original, kept for exports).
    source_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Suggestion(SQLModel, table=True):
    """Imported or model-made pre-annotations; never mixed with results."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")
    # What it suggests: "preference", "ranking", "score", "label", or a class/classification name.
    kind: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=16)  # "m3", "c1", or None for the item
    value: Any = _json()
    score: float | None = None
    agent: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Comment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")
    message_index: int | None = None
    author_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    text: str = Field(sa_column=Column(Text, nullable=False))
    resolved: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class ImportJob(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    source: str = Field(sa_column=Column(Text, nullable=False))
    format: str = Field(default="", max_length=32)
    status: str = Field(default="running", max_length=16)  # running | done | failed
    counts: dict[str, Any] | None = _json()
    errors: list[Any] | None = _json()
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """What changed and who changed it: ontology deletions, role changes, dataset deletions."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    dataset_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64)
    detail: dict[str, Any] | None = _json()
