"""abuse: review queue, counselors' flags, time-limited blocks, coordinated-text hashes (issue 13)

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abuse_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("texter_id", sa.Integer(), sa.ForeignKey("texters.id"), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), sa.ForeignKey("conversations.id"), nullable=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("behaviour", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_abuse_reviews_texter_id", "abuse_reviews", ["texter_id"])
    op.create_index("ix_abuse_reviews_conversation_id", "abuse_reviews", ["conversation_id"])
    op.create_index("ix_abuse_reviews_queue", "abuse_reviews", ["status", "priority"])
    op.create_table(
        "abuse_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("texter_id", sa.Integer(), sa.ForeignKey("texters.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("predicted", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_abuse_flags_conversation_id", "abuse_flags", ["conversation_id"])
    op.create_table(
        "abuse_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("texter_id", sa.Integer(), sa.ForeignKey("texters.id"), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
        sa.Column("lifted_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_abuse_blocks_texter_id", "abuse_blocks", ["texter_id"])
    op.create_table(
        "abuse_text_seen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("texter_id", sa.Integer(), sa.ForeignKey("texters.id"), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_abuse_text_seen_hash", "abuse_text_seen", ["text_hash", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_abuse_text_seen_hash", table_name="abuse_text_seen")
    op.drop_table("abuse_text_seen")
    op.drop_index("ix_abuse_blocks_texter_id", table_name="abuse_blocks")
    op.drop_table("abuse_blocks")
    op.drop_index("ix_abuse_flags_conversation_id", table_name="abuse_flags")
    op.drop_table("abuse_flags")
    op.drop_index("ix_abuse_reviews_queue", table_name="abuse_reviews")
    op.drop_index("ix_abuse_reviews_conversation_id", table_name="abuse_reviews")
    op.drop_index("ix_abuse_reviews_texter_id", table_name="abuse_reviews")
    op.drop_table("abuse_reviews")
