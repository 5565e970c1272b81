"""team workflow: overlap queue (leases, slots), review, final annotations, annotation history

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# History is append-only: the database itself refuses to change or remove a row (user_id may still be
# cleared by its foreign key's ON DELETE SET NULL).
SQLITE_TRIGGERS = [
    """CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent
       BEGIN SELECT RAISE(ABORT, 'history is append-only'); END""",
    """CREATE TRIGGER auditevent_no_update BEFORE UPDATE OF at, dataset_id, item_id, annotation_id, action, detail
       ON auditevent BEGIN SELECT RAISE(ABORT, 'history is append-only'); END""",
]
PG_TRIGGERS = [
    """CREATE FUNCTION auditevent_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'history is append-only'; END IF;
         IF (NEW.at, NEW.dataset_id, NEW.item_id, NEW.annotation_id, NEW.action, NEW.detail::text)
            IS DISTINCT FROM (OLD.at, OLD.dataset_id, OLD.item_id, OLD.annotation_id, OLD.action, OLD.detail::text)
         THEN RAISE EXCEPTION 'history is append-only'; END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent
       FOR EACH ROW EXECUTE FUNCTION auditevent_append_only()""",
]


NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("full", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_index("ix_item_queue", ["dataset_id", "full", "position"], unique=False)

    postgres = op.get_bind().dialect.name == "postgresql"
    # 0001 left the (item, annotator) unique constraint unnamed: PostgreSQL named it itself, SQLite's
    # batch copy names it by this convention.
    old_unique = "annotation_item_id_annotator_id_key" if postgres else "uq_annotation_item_id_annotator_id"
    with op.batch_alter_table("annotation", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("needs_review", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("reviewer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("review_rounds", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("original", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("final", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("active_seconds", sa.Float(), server_default="0", nullable=False))
        batch_op.create_foreign_key(
            "fk_annotation_reviewer_id_user", "user", ["reviewer_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_constraint(old_unique, type_="unique")
        batch_op.create_unique_constraint(
            "uq_annotation_item_id_annotator_id_final", ["item_id", "annotator_id", "final"]
        )
        batch_op.create_index("ix_annotation_review", ["dataset_id", "needs_review", "status"], unique=False)
        batch_op.create_index(
            "ux_annotation_one_final", ["item_id"], unique=True,
            sqlite_where=sa.text("final"), postgresql_where=sa.text("final"),
        )

    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("annotation_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_auditevent_item", ["item_id", "id"], unique=False)

    op.create_table(
        "lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("taken_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "user_id"),
    )
    with op.batch_alter_table("lease", schema=None) as batch_op:
        batch_op.create_index("ix_lease_dataset_expires", ["dataset_id", "expires_at"], unique=False)
        batch_op.create_index("ix_lease_user", ["user_id", "dataset_id", "position"], unique=False)

    op.create_table(
        "queuecursor",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "user_id"),
    )
    # Annotations submitted before the queue existed hold their slots.
    op.execute(
        "UPDATE item SET taken = (SELECT count(*) FROM annotation a WHERE a.item_id = item.id "
        "AND a.status IN ('submitted', 'accepted', 'rejected'))"
    )
    triggers = PG_TRIGGERS if postgres else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER auditevent_append_only ON auditevent")
        op.execute("DROP FUNCTION auditevent_append_only()")
    else:
        op.execute("DROP TRIGGER auditevent_no_delete")
        op.execute("DROP TRIGGER auditevent_no_update")
    op.drop_table("queuecursor")
    op.drop_table("lease")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index("ix_auditevent_item")
        batch_op.drop_column("annotation_id")
        batch_op.drop_column("item_id")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index("ux_annotation_one_final")
        batch_op.drop_index("ix_annotation_review")
        batch_op.drop_constraint("uq_annotation_item_id_annotator_id_final", type_="unique")
        batch_op.create_unique_constraint("uq_annotation_item_id_annotator_id", ["item_id", "annotator_id"])
        batch_op.drop_constraint("fk_annotation_reviewer_id_user", type_="foreignkey")
        for name in ("active_seconds", "final", "original", "reviewed_at", "review_rounds", "review_reason",
                     "reviewer_id", "needs_review"):  # fmt: skip
            batch_op.drop_column(name)
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_queue")
        batch_op.drop_column("full")
        batch_op.drop_column("taken")
