"""SQLModel tables for the whole data model (DESIGN.md); schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from store.zjson import item_assets, item_models, zjson_bytes, zjson_value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(JSON, **kw))


class ZJson(TypeDecorator[Any]):
    """JSON stored zstd-compressed (#18): an item's dialogue is 3–4× smaller than its JSON text, and reading
    it back costs a fraction of parsing it. SQL cannot look inside it: what queries need (model names,
    counts, image ids) has columns of its own on Item."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return zjson_bytes(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return zjson_value(value)


def _parts(context: Any, *names: str) -> list[Any]:
    params = context.get_current_parameters()
    out: list[Any] = []
    for name in names:
        value = params.get(name)
        if isinstance(value, bytes):
            value = zjson_value(value)
        out.extend(value or ())
    return out


def _models_default(context: Any) -> str:
    return item_models(_parts(context, "candidates"))


def _count_default(context: Any) -> int:
    return len(_parts(context, "messages"))


def _assets_default(context: Any) -> str:
    return item_assets(_parts(context, "messages", "candidates"))


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
        Index("ix_item_queue", "dataset_id", "full", "position"),
        # For the filters (store/filters.py) at 1M items, each read from its index instead of every item row:
        # imported between dates, a candidate's model (the few distinct lists, then their ranges), disagree.
        Index("ix_item_created", "dataset_id", "created_at"),
        # (on PostgreSQL with the ids and positions, read from the index alone: migration 0008; SQLite has rowids)
        Index("ix_item_models", "dataset_id", "models", postgresql_include=["id", "position"]),
        Index(
            "ix_item_disagree",
            "dataset_id",
            "position",
            sqlite_where=text("disagree = 1"),
            postgresql_where=text("disagree"),
        ),  # fmt: skip
    )
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    external_id: str = Field(max_length=512)
    name: str = Field(default="", max_length=512)
    position: int = Field(default=0)
    messages: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(ZJson))
    candidates: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(ZJson))
    # Derived from the dialogue when the row is written (importer, or these defaults): what SQL asks of it.
    models: str | None = Field(default=None, sa_column=Column(Text, nullable=False, default=_models_default))
    message_count: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=False, default=_count_default)
    )
    assets: str | None = Field(default=None, sa_column=Column(Text, nullable=False, default=_assets_default))
    meta: dict[str, Any] | None = _json()
    # The team queue (store/team/queue.py): how many annotators hold one of the item's overlap slots (an
    # active lease, or a submitted / accepted / rejected annotation), and whether that reaches the overlap.
    # Recomputed from those rows whenever they change; `full` leads the queue's index.
    taken: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    full: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # The filter "annotators disagree" (core/filters.py), kept by store/filters.refresh_disagree whenever the
    # item's submitted or accepted work changes: computing it on a read took ~28 s at 1M items.
    disagree: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
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
    """One annotator's work on one item; `version` guards against silent overwrites.

    A reviewer's adjudicated answer for an item is an Annotation too, with `final` set (one per item).
    """

    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id", "final"),
        # (…, item_id): the filters count and list an annotation condition's items from the index alone; (id):
        # and join them to their values (SQLite's indexes hold the rowid anyway; migration 0009).
        Index(
            "ix_annotation_dataset_status",
            "dataset_id",
            "status",
            "final",
            "item_id",
            postgresql_include=["id"],
        ),
        Index("ix_annotation_dataset_item", "dataset_id", "item_id"),
        Index(
            "ix_annotation_annotator_id",
            "annotator_id",
            "dataset_id",
            "item_id",
            "status",
            "final",
            postgresql_include=["id"],
        ),
        Index(
            "ix_annotation_invalid",
            "dataset_id",
            "item_id",
            sqlite_where=text("validity = 'invalid'"),
            postgresql_where=text("validity = 'invalid'"),
        ),  # fmt: skip
        Index(
            "ux_annotation_one_final",
            "item_id",
            unique=True,
            sqlite_where=text("final"),
            postgresql_where=text("final"),
        ),  # fmt: skip
        # The review stream, oldest submission first: the annotations waiting (a few of the dataset's, often
        # none), and every non-final one (which "show reviewed" reads a page of in order). Migration 0010.
        Index(
            "ix_annotation_waiting",
            "dataset_id",
            "submitted_at",
            "id",
            sqlite_where=text("needs_review = 1"),
            postgresql_where=text("needs_review"),
        ),  # fmt: skip
        Index("ix_annotation_submitted_at", "dataset_id", "final", "submitted_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    annotator_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    # draft | saved | submitted | accepted | rejected (rejected goes back to its author; resubmitting
    # returns it to review)
    status: str = Field(default="draft", max_length=16)
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
    # Review: waiting in the review stream (the dataset's review setting decides on each submit).
    needs_review: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    reviewer_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    review_reason: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="", server_default="")
    )
    review_rounds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    reviewed_at: datetime | None = None
    # "Fix & accept": the annotator's own work (store/annotations.py shape), kept beside the reviewer's fix.
    original: dict[str, Any] | None = _json()
    # The adjudicated answer of the item (authored by the reviewer who adjudicated).
    final: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # Seconds of active work on the item (tab visible, a key or pointer event in the last 60 s).
    active_seconds: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})


class Result(SQLModel, table=True):
    """One class applied inside an annotation: to a message, a candidate, or (response) the item."""

    __table_args__ = (
        UniqueConstraint("annotation_id", "class_id", "slot"),
        # The few results with written text (responses), for search's "in a written reply" without reading
        # every result (0.4 s at 1M items on each search: store.search._work_matches).
        Index(
            "ix_result_written",
            "annotation_id",
            sqlite_where=text("text IS NOT NULL"),
            postgresql_where=text("text IS NOT NULL"),
        ),  # fmt: skip
    )
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


class AnnotationValue(SQLModel, table=True):
    """What the item filters look up (#18): one row per class on a result, attribute value of a result and
    classification answer of a saved (not draft) annotation, written with them (store/annotation_values.py
    names the keys and values). Reading the results' and answers' JSON instead took 500-850 ms at 1M items."""

    __tablename__ = "annotation_value"
    __table_args__ = (
        # (…, item_id, …): a class or answer filter alone counts and lists its items from this index only
        Index("ix_annotation_value_lookup", "dataset_id", "key", "value", "item_id", "annotation_id"),
        {"sqlite_with_rowid": False},
    )
    annotation_id: int = Field(foreign_key="annotation.id", primary_key=True, ondelete="CASCADE")
    key: str = Field(primary_key=True, max_length=300)
    value: str = Field(primary_key=True, max_length=300)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")


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
    """What changed and who changed it: append-only (database triggers refuse UPDATE and DELETE).

    Annotation history: `item_id` and `annotation_id` set, `action` one of store/team/history.ACTIONS,
    `detail` {"annotator", "status", "reason"?, "before"?, "after"?} (before/after: the work where it changed).
    """

    __table_args__ = (Index("ix_auditevent_item", "item_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    dataset_id: int | None = Field(default=None, index=True)
    item_id: int | None = None
    annotation_id: int | None = None
    action: str = Field(max_length=64)
    detail: dict[str, Any] | None = _json()


class Lease(SQLModel, table=True):
    """An annotator's hold on one of an item's overlap slots while working on it (store/team/queue.py).

    Active until the annotator submits (deleted) or skips (`skipped`, kept so the queue passes the item
    by), or until `expires_at` (30 minutes after the last activity; swept when the queue is asked).
    """

    __table_args__ = (
        UniqueConstraint("item_id", "user_id"),
        Index("ix_lease_dataset_expires", "dataset_id", "expires_at"),
        Index("ix_lease_user", "user_id", "dataset_id", "position"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    position: int = Field(default=0)  # the item's, so "my items" read in order without a join
    skipped: bool = Field(default=False)
    taken_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class QueueCursor(SQLModel, table=True):
    """Where an annotator's queue goes on from: the position of the last item it handed them."""

    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(default=0)


class ModelEndpoint(SQLModel, table=True):
    """An OpenAI-compatible endpoint (store/llm): the *name* of the environment variable with its key, never the key."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    base_url: str = Field(sa_column=Column(Text, nullable=False))
    model: str = Field(max_length=200)
    api_key_env: str = Field(default="", max_length=128)
    temperature: float | None = None
    max_tokens: int | None = None
    system: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    concurrency: int = Field(default=4)
    # Images go to the model as data URLs only when it reads them.
    vision: bool = Field(default=False)
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class GenerationJob(SQLModel, table=True):
    """A resumable background job (store/llm/jobs.py): candidates from models, or judge suggestions.

    The runner owns the counters and writes a heartbeat; a running job whose heartbeat stopped (its process
    ended) is taken up again by the next process that looks. Cancel is only a request the runner reads.
    """

    __table_args__ = (Index("ix_generationjob_status", "status", "heartbeat_at"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="generate", max_length=16)  # generate | judge
    models: list[str] | None = _json()
    # The selection: item ids from their source (None: every item), and at most item_limit of them.
    items: list[str] | None = _json()
    item_limit: int | None = None
    params: dict[str, Any] | None = _json()  # judge: the prompt template
    status: str = Field(default="running", max_length=16)  # running | done | cancelled | failed
    cancel_requested: bool = Field(default=False)
    total: int = Field(default=0)
    done: int = Field(default=0)
    skipped: int = Field(default=0)
    failed: int = Field(default=0)
    tokens: int = Field(default=0)
    seconds: float = Field(default=0.0)  # time spent running, over every resume
    # [{"item": external id, "model": name, "message": text}], one per permanently failed request.
    errors: list[dict[str, Any]] | None = _json()
    owner: str = Field(default="", max_length=128)
    heartbeat_at: datetime | None = None
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class SavedFilter(SQLModel, table=True):
    """A named item filter of one dataset (core/filters.py's ItemFilter as JSON), shared by its users."""

    __table_args__ = (UniqueConstraint("dataset_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    spec: dict[str, Any] | None = _json()
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
