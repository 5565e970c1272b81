"""PostgreSQL: the items' ids and positions in the model filter's index

A model filter combined with annotation filters (status, annotator) joins the items holding one of the
models to the annotations' items by id, and next_todo orders them by position. SQLite's index holds each
item's id (its rowid); PostgreSQL's held only the row's address, so it read 667k item rows to learn their ids
(submitted · ann1 · m-large at 1M items: ~300-350 ms, ~175-220 ms with the ids in the index; next_todo at the
end of that filtered queue ~500 -> ~340-430 ms with the positions too). SQLite is left as it is.

Revision ID: 0008_models_index_ids
Revises: 0007_annotation_values
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_models_index_ids"
down_revision: str | None = "0007_annotation_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_item_models", table_name="item")
    op.create_index("ix_item_models", "item", ["dataset_id", "models"], postgresql_include=["id", "position"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_item_models", table_name="item")
    op.create_index("ix_item_models", "item", ["dataset_id", "models"])
