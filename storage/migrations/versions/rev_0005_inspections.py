"""Inspection summaries of recording parts, searchable by verdict and by failed check.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_VERDICTS = "verdict IN ('pass', 'needs_review', 'fail')"


def upgrade() -> None:
    """Create the inspections and their findings (empty: nothing was inspected before)."""
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("file", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_VERDICTS, name=op.f("ck_inspections_verdict")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_inspections_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("session_id", "part", name=op.f("uq_inspections_session_id_part")),
    )
    op.create_index(op.f("ix_inspections_session_id"), "inspections", ["session_id"])
    op.create_index(op.f("ix_inspections_verdict"), "inspections", ["verdict"])
    op.create_table(
        "inspection_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=50), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.CheckConstraint(_VERDICTS, name=op.f("ck_inspection_findings_verdict")),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_findings_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_findings")),
        sa.UniqueConstraint(
            "inspection_id",
            "check",
            "verdict",
            name=op.f("uq_inspection_findings_inspection_id_check_verdict"),
        ),
    )
    op.create_index(
        op.f("ix_inspection_findings_inspection_id"), "inspection_findings", ["inspection_id"]
    )
    op.create_index(op.f("ix_inspection_findings_check"), "inspection_findings", ["check"])


def downgrade() -> None:
    """Drop both tables: the reports stay in the recordings."""
    op.drop_index(op.f("ix_inspection_findings_check"), table_name="inspection_findings")
    op.drop_index(op.f("ix_inspection_findings_inspection_id"), table_name="inspection_findings")
    op.drop_table("inspection_findings")
    op.drop_index(op.f("ix_inspections_verdict"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_session_id"), table_name="inspections")
    op.drop_table("inspections")
