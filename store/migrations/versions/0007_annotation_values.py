"""the values the item filters look up: annotation_value

A class, attribute value or classification answer filter read the JSON of every result or annotation of the
dataset (500-850 ms at 1M items). annotation_value holds one row per class on a result, attribute value and
answer of each saved annotation (store/annotation_values.py), looked up on (dataset, key, value, item,
annotation); this migration writes them for the annotations already saved (42 s at 1M items).

Revision ID: 0007_annotation_values
Revises: 0006_filter_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from store import annotation_values

revision: str = "0007_annotation_values"
down_revision: str | None = "0006_filter_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotation_value",
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("annotation_id", "key", "value"),
        sqlite_with_rowid=False,
    )
    annotation_values.backfill(op.get_bind())
    op.create_index(
        "ix_annotation_value_lookup", "annotation_value", ["dataset_id", "key", "value", "item_id", "annotation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_annotation_value_lookup", table_name="annotation_value")
    op.drop_table("annotation_value")
