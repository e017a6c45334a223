"""texter surveys and intake experiments (issue 12)

Revision ID: 0006
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversations_closed", "conversations", ["state", "closed_at"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("texter_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("score_text", sa.Text(), nullable=True),
        sa.Column("second", sa.String(length=16), nullable=True),
        sa.Column("second_text", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["texter_id"], ["texters.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index("ix_surveys_texter_id", "surveys", ["texter_id"])
    op.create_table(
        "experiment_assignments",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("conversation_id", "experiment"),
    )
    op.create_index(
        "ix_experiment_assignments_exp", "experiment_assignments", ["experiment", "variant", "assigned_at"]
    )
    op.create_table(
        "experiment_looks",
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("look", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("stopped", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("experiment", "look"),
    )


def downgrade() -> None:
    op.drop_table("experiment_looks")
    op.drop_index("ix_experiment_assignments_exp", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_index("ix_surveys_texter_id", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_conversations_closed", table_name="conversations")
