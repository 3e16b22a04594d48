"""Alembic environment: migrations run on the connection the runner hands over.

There is no ``alembic.ini`` and no URL here: :mod:`storage.migrations.runner` builds the
Config in code and passes an open connection (inside its transaction) as
``config.attributes["connection"]``, so migrations share the async engine's settings
(SQLite pragmas, the PostgreSQL search_path schema).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import storage.access_log  # noqa: F401  (registers the access_log table on Base.metadata)
from storage.models import Base


def run_migrations() -> None:
    """Run the migrations on the connection in ``config.attributes``."""
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError("dualrec migrations run on a live connection: use `dualrec db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters most things only by copying the table ("move and copy").
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
