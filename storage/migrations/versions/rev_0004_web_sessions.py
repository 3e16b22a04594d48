"""Web sessions kept in the database, so that a restart signs nobody out.

Staff sign-ins and enrolled kiosk pages were held in the server's memory and lost with
it; each is now a row, keyed by the SHA-256 of its cookie value, with a sliding expiry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the web sessions table (empty: the sign-ins of the old memory are gone)."""
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cookie_sha256", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("kiosk", sa.Boolean(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_web_sessions_credential_id_credentials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(
        op.f("ix_web_sessions_cookie_sha256"), "web_sessions", ["cookie_sha256"], unique=True
    )
    op.create_index(op.f("ix_web_sessions_credential_id"), "web_sessions", ["credential_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop the table: everyone signed in is signed out."""
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_credential_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_cookie_sha256"), table_name="web_sessions")
    op.drop_table("web_sessions")
