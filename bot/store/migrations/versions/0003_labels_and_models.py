"""labels and models (issue 10): imported items, labels beside predictions, the triage model registry

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("text_hash"),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("labeller", sa.String(length=40), nullable=False),
        sa.Column("labeller_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("predicted_model", sa.String(length=80), nullable=True),
        sa.Column("predicted_score", sa.Integer(), nullable=True),
        sa.Column("predicted_level", sa.String(length=16), nullable=True),
        sa.Column("predicted_reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["imported_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["labeller_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labels_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labels_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labels_labeller_id"), ["labeller_id"], unique=False)
        batch_op.create_index("ix_labels_source", ["source", "conversation_id"], unique=False)
    op.create_table(
        "triage_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )
    with op.batch_alter_table("triage_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_models_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triage_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_models_status"))
    op.drop_table("triage_models")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index("ix_labels_source")
        batch_op.drop_index(batch_op.f("ix_labels_labeller_id"))
        batch_op.drop_index(batch_op.f("ix_labels_item_id"))
        batch_op.drop_index(batch_op.f("ix_labels_conversation_id"))
    op.drop_table("labels")
    op.drop_table("imported_items")
