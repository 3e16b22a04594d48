"""The auditors' review queue of inspected parts, and reviews of one flagged check.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_FLAG = "flag IS NULL OR (part IS NOT NULL AND verdict IN ('pass', 'fail'))"
_REASONS = "reason IN ('flagged', 'sampled')"


def upgrade() -> None:
    """Add a review's part and flag (NULL: a review of the whole session, as before),
    and the queue (empty: parts inspected before are not queued after the fact)."""
    # Batch mode: SQLite can only add the CHECK constraint by copying the table.
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("part", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("flag", sa.String(length=50), nullable=True))
        batch.create_check_constraint(op.f("ck_reviews_flag"), sa.text(_FLAG))
    op.create_table(
        "review_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_REASONS, name=op.f("ck_review_queue_reason")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_review_queue_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queue")),
        sa.UniqueConstraint("session_id", "part", name=op.f("uq_review_queue_session_id_part")),
    )
    op.create_index(op.f("ix_review_queue_session_id"), "review_queue", ["session_id"])
    op.create_index(op.f("ix_review_queue_queued_at"), "review_queue", ["queued_at"])


def downgrade() -> None:
    """Drop the queue and the flag reviews' columns (reviews of flags are lost)."""
    op.drop_index(op.f("ix_review_queue_queued_at"), table_name="review_queue")
    op.drop_index(op.f("ix_review_queue_session_id"), table_name="review_queue")
    op.drop_table("review_queue")
    op.execute("DELETE FROM reviews WHERE flag IS NOT NULL")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_constraint(op.f("ck_reviews_flag"), type_="check")
        batch.drop_column("flag")
        batch.drop_column("part")
