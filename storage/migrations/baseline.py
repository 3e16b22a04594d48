"""The schema as released before migrations existed: revision 0001, frozen.

Revision 0001 creates these tables, and a database made by the released version (which
has no ``alembic_version`` table) is brought to them before it is stamped 0001. Never
change this module: later schema changes are new revisions under ``versions/``.
"""

from __future__ import annotations

import sqlalchemy as sa

# The naming convention of storage.models.Base, copied so that this schema stays frozen.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def baseline_metadata() -> sa.MetaData:
    """A new MetaData holding the released tables (storage.models and storage.access_log)."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    sa.Table(
        "access_log",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    sa.Table(
        "credentials",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.CheckConstraint(
            "role IN ('kiosk', 'agent', 'supervisor', 'auditor', 'admin')", name="role"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("role", "name"),
        sa.Index(None, "token_sha256", unique=True),
    )
    sa.Table(
        "sessions",
        metadata,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("kiosk_name", sa.String(length=100), nullable=False),
        sa.Column("agent_name", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.Column("flow", sa.String(length=50), nullable=False),
        sa.Column("workflow_state", sa.String(length=50), nullable=False),
        sa.Column("recording_dir", sa.String(length=300), nullable=True),
        sa.Column("workflow_context", sa.JSON(), nullable=False),
        sa.Column("recording_parts", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('waiting', 'active', 'interrupted', 'ended', 'failed')", name="status"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.Index(None, "created_at"),
        sa.Index(None, "status"),
    )
    sa.Table(
        "evidence_items",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("file", sa.String(length=120), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("offset_ms", sa.Integer(), nullable=True),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("provided_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq"),
    )
    sa.Table(
        "recording_files",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.Integer(), nullable=False),
        sa.Column("end_ms", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('audio', 'video')", name="kind"),
        sa.CheckConstraint("party IN ('kiosk', 'agent')", name="party"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "part", "party", "kind", "seq"),
    )
    sa.Table(
        "workflow_events",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=50), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq"),
    )
    return metadata
