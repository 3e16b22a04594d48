"""Staff passwords, the auditors' search columns of sessions, and compliance reviews.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_VERDICTS = "'unreviewed', 'pass', 'fail', 'follow_up'"


def upgrade() -> None:
    """Add the password hash, the session search and review columns and the reviews table."""
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))

    # Batch mode: SQLite can only add the CHECK constraint by copying the table.
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("product_code", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("customer_id_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("customer_id_last4", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=50), nullable=True))
        # Server defaults give the sessions recorded before this revision their values.
        batch.add_column(
            sa.Column(
                "review_status",
                sa.String(length=16),
                nullable=False,
                server_default="unreviewed",
            )
        )
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_sessions_review_status"), sa.text(f"review_status IN ({_VERDICTS})")
        )
        batch.create_index(op.f("ix_sessions_customer_id_sha256"), ["customer_id_sha256"])
        batch.create_index(op.f("ix_sessions_outcome"), ["outcome"])
        batch.create_index(op.f("ix_sessions_product_code"), ["product_code"])
        batch.create_index(op.f("ix_sessions_review_status"), ["review_status"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"verdict IN ({_VERDICTS})", name=op.f("ck_reviews_verdict")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_reviews_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_session_id"), "reviews", ["session_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` added (the reviews and the new session facts are lost)."""
    op.drop_index(op.f("ix_reviews_session_id"), table_name="reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index(op.f("ix_sessions_review_status"))
        batch.drop_index(op.f("ix_sessions_product_code"))
        batch.drop_index(op.f("ix_sessions_outcome"))
        batch.drop_index(op.f("ix_sessions_customer_id_sha256"))
        batch.drop_constraint(op.f("ck_sessions_review_status"), type_="check")
        for column in (
            "retain_until",
            "legal_hold",
            "review_status",
            "outcome",
            "customer_id_last4",
            "customer_id_sha256",
            "product_code",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("password_hash")
