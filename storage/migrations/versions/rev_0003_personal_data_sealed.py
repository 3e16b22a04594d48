"""ID numbers sealed at rest, searched by a keyed HMAC; reasons bounded and masked.

The unkeyed ``customer_id_sha256`` column is dropped (an 18-character ID with a known last
four is found from it by brute force in seconds) for ``customer_id_hmac``, keyed by the
personal-data key of the data folder. The rows already stored are converted in the same
transaction: every clear ID number in a session's context and in its workflow events'
data and context is sealed, the session gets its search token back from its context, and
the ID numbers typed into end, event and review reasons are masked. Sealing needs the key,
which the server passes in (``Database(personal=...)``); a database holding clear ID
numbers is refused without it, and changes nothing, so the server's next start converts it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op

from common import redact
from storage.errors import StorageError
from storage.personal import SEALED_KEYS, is_sealed, normalise_id_number

if TYPE_CHECKING:
    from storage.personal import PersonalData

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SESSIONS = sa.table(
    "sessions",
    sa.column("id", sa.String),
    sa.column("workflow_context", sa.JSON),
    sa.column("end_reason", sa.String),
    sa.column("customer_id_hmac", sa.String),
    sa.column("customer_id_last4", sa.String),
)
_EVENTS = sa.table(
    "workflow_events",
    sa.column("id", sa.Integer),
    sa.column("data", sa.JSON),
    sa.column("context", sa.JSON),
    sa.column("reason", sa.String),
)
_REVIEWS = sa.table("reviews", sa.column("id", sa.Integer), sa.column("reasons", sa.Text))


def upgrade() -> None:
    """Swap the search column, widen the end reason, seal and mask the rows stored."""
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index(op.f("ix_sessions_customer_id_sha256"))
        batch.drop_column("customer_id_sha256")
        batch.add_column(sa.Column("customer_id_hmac", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_sessions_customer_id_hmac"), ["customer_id_hmac"])
        batch.alter_column(
            "end_reason", existing_type=sa.String(length=200), type_=sa.String(length=500)
        )
    config = op.get_context().config
    personal = None if config is None else config.attributes.get("personal")
    connection = op.get_bind()
    for row in connection.execute(sa.select(_SESSIONS)).mappings().all():
        context = row["workflow_context"] or {}
        changes: dict[str, Any] = {}
        if _holds_clear(context):
            changes["workflow_context"] = _sealer(personal).seal_context(context)
            for key in SEALED_KEYS:
                number = context.get(key)
                if isinstance(number, str) and number.strip():
                    changes["customer_id_hmac"] = _sealer(personal).search_token(number)
                    changes["customer_id_last4"] = normalise_id_number(number)[-4:]
        if row["end_reason"] and redact(row["end_reason"]) != row["end_reason"]:
            changes["end_reason"] = redact(row["end_reason"])
        if changes:
            connection.execute(
                sa.update(_SESSIONS).where(_SESSIONS.c.id == row["id"]).values(**changes)
            )
    for row in connection.execute(sa.select(_EVENTS)).mappings().all():
        changes = {}
        for column in ("data", "context"):
            if _holds_clear(row[column] or {}):
                changes[column] = _sealer(personal).seal_context(row[column])
        if row["reason"] and redact(row["reason"]) != row["reason"]:
            changes["reason"] = redact(row["reason"])
        if changes:
            connection.execute(
                sa.update(_EVENTS).where(_EVENTS.c.id == row["id"]).values(**changes)
            )
    for row in connection.execute(sa.select(_REVIEWS)).mappings().all():
        if redact(row["reasons"]) != row["reasons"]:
            connection.execute(
                sa.update(_REVIEWS)
                .where(_REVIEWS.c.id == row["id"])
                .values(reasons=redact(row["reasons"]))
            )


def downgrade() -> None:
    """Bring the unkeyed column back, empty: the sealed values stay sealed."""
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column(
            "end_reason", existing_type=sa.String(length=500), type_=sa.String(length=200)
        )
        batch.drop_index(op.f("ix_sessions_customer_id_hmac"))
        batch.drop_column("customer_id_hmac")
        batch.add_column(sa.Column("customer_id_sha256", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_sessions_customer_id_sha256"), ["customer_id_sha256"])


def _holds_clear(value: Any) -> bool:
    """Whether ``value`` (a context or event data) holds a personal value not yet sealed."""
    if isinstance(value, dict):
        return any(
            (k in SEALED_KEYS and isinstance(v, str)) or (not is_sealed(v) and _holds_clear(v))
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_holds_clear(v) for v in value)
    return False


def _sealer(personal: PersonalData | None) -> PersonalData:
    if personal is None:
        raise StorageError(
            "schema revision 0003 seals the ID numbers stored in clear and needs the "
            "personal-data key of the data folder: start the server (dualrec serve) once"
        )
    return personal
