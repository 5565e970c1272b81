"""search and size: full-text index instead of search_text, compressed dialogues, saved filters

Item.search_text (a lower-cased second copy of every message and candidate, searched with LIKE) goes; the
database's own full-text index takes its place (store/search.py). Item.messages and Item.candidates become
zstd-compressed JSON (store/zjson.py), with the facts SQL asked of them in columns of their own: models,
message_count, assets. SavedFilter holds the named item filters of a dataset. Item.disagree keeps the
filter "annotators disagree" per item.

Every item is rewritten once, in chunks, and indexed: existing databases stay searchable.

Revision ID: 0004_search
Revises: 0003_models
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.dialogue import dialogue_text
from store import filters, search
from store.zjson import compress, item_assets, item_models

revision: str = "0004_search"
down_revision: str | None = "0003_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000


def _loads(raw):  # type: ignore[no-untyped-def]
    if raw is None or not isinstance(raw, str | bytes):
        return raw
    return orjson.loads(raw)


def upgrade() -> None:
    op.create_table(
        "savedfilter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "name"),
    )
    with op.batch_alter_table("savedfilter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_savedfilter_dataset_id"), ["dataset_id"], unique=False)

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("messages_z", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("candidates_z", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("models", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("assets", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("disagree", sa.Boolean(), nullable=False, server_default=sa.false()))

    conn = op.get_bind()
    item = sa.table(
        "item",
        sa.column("id", sa.Integer),
        sa.column("dataset_id", sa.Integer),
        sa.column("messages", sa.Text),
        sa.column("candidates", sa.Text),
        sa.column("messages_z", sa.LargeBinary),
        sa.column("candidates_z", sa.LargeBinary),
        sa.column("models", sa.Text),
        sa.column("message_count", sa.Integer),
        sa.column("assets", sa.Text),
        sa.column("disagree", sa.Boolean),
    )
    old = sa.select(
        item.c.id, item.c.dataset_id, sa.cast(item.c.messages, sa.Text), sa.cast(item.c.candidates, sa.Text)
    )
    update = (
        item.update()
        .where(item.c.id == sa.bindparam("b_id"))
        .values(
            messages_z=sa.bindparam("b_m"),
            candidates_z=sa.bindparam("b_c"),
            models=sa.bindparam("b_models"),
            message_count=sa.bindparam("b_count"),
            assets=sa.bindparam("b_assets"),
        )
    )
    indexed: set[int] = set()
    last = 0
    while True:
        rows = conn.execute(old.where(item.c.id > last).order_by(item.c.id).limit(CHUNK)).all()
        if not rows:
            break
        last = rows[-1][0]
        params, texts = [], {}
        for item_id, dataset_id, raw_m, raw_c in rows:
            messages, candidates = _loads(raw_m) or [], _loads(raw_c) or []
            params.append(
                {
                    "b_id": item_id,
                    "b_m": compress(orjson.dumps(messages)),
                    "b_c": compress(orjson.dumps(candidates)),
                    "b_models": item_models(candidates),
                    "b_count": len(messages),
                    "b_assets": item_assets(messages, candidates),
                }
            )
            texts.setdefault(dataset_id, []).append((item_id, dialogue_text(messages, candidates)))
        conn.execute(update, params)
        for dataset_id, pairs in texts.items():
            if dataset_id not in indexed:
                search.ensure_index(conn, dataset_id)
                indexed.add(dataset_id)
            search.index_texts(conn, dataset_id, pairs)
    if conn.dialect.name != "sqlite":
        search.ensure_index(conn, 0)  # the shared table, even with no item yet
    # "annotators disagree", kept per item from now on (store/filters.refresh_disagree): the items with two
    # or more finished annotations that differ, by the filter's own query
    flagged = filters.disagreeing()
    conn.execute(item.update().where(item.c.id.in_(flagged)).values(disagree=sa.true()))

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("messages")
        batch_op.drop_column("candidates")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.alter_column("messages_z", new_column_name="messages")
        batch_op.alter_column("candidates_z", new_column_name="candidates")
        batch_op.alter_column("models", server_default=None)
        batch_op.alter_column("message_count", server_default=None)
        batch_op.alter_column("assets", server_default=None)


def downgrade() -> None:
    raise NotImplementedError("0004 rewrote every item; restore a backup taken before it to go back")
