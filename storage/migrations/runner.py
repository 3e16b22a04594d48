"""Bring the audit database to the newest schema revision, on a connection of our engine.

A database made by the released version has the tables but no ``alembic_version``: it is
brought to the released schema (revision 0001) in place, stamped 0001, then upgraded.
Everything happens in one transaction, so a failed upgrade leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import (
    CheckConstraint,
    Connection,
    Constraint,
    Table,
    UniqueConstraint,
    inspect,
    text,
)

from ..errors import StorageError
from .baseline import baseline_metadata

if TYPE_CHECKING:
    from ..personal import PersonalData

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
#: The revision of the schema as released before migrations existed.
BASELINE = "0001"
# One PostgreSQL advisory lock serialises upgrades started at once (server and CLI).
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dualrec.migrations").digest()[:8], signed=True)
# Columns the released version added to older databases in place, with the value the rows
# written before them get (None: nullable, no default).
_RELEASED_COLUMNS = {
    ("sessions", "workflow_context"): "'{}'",
    ("sessions", "recording_parts"): "1",
    ("recording_files", "part"): "1",
    ("workflow_events", "context"): "'{}'",
    ("workflow_events", "part"): None,
}
# The unique key of recording_files in the first version, before recording parts.
_OLD_FILES_KEY = ["session_id", "party", "kind", "seq"]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """A database's schema revision (None if it has none) and this code's newest one."""

    revision: str | None
    head: str
    #: The tables exist but carry no revision: made by the released version.
    unversioned: bool = False

    def describe(self) -> str:
        """E.g. ``0002 (up to date)`` or ``0001 (behind 0002: run dualrec db upgrade)``."""
        if self.revision == self.head:
            return f"{self.revision} (up to date)"
        behind = _label(self.revision, self.unversioned)
        return f"{behind} (behind {self.head}: run dualrec db upgrade)"


@dataclass(frozen=True, slots=True)
class SchemaUpgrade:
    """What an upgrade did: the revision before (None if there was none) and after."""

    before: str | None
    after: str
    #: The database was made by the released version and brought to revision 0001 first.
    adopted: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything was migrated."""
        return self.before != self.after

    def describe(self) -> str:
        """E.g. ``database upgraded: 0001 -> 0002`` or ``database is up to date (0002)``."""
        if not self.changed:
            return f"database is up to date ({self.after})"
        return f"database upgraded: {_label(self.before, self.adopted)} -> {self.after}"


def _label(revision: str | None, unversioned: bool) -> str:
    if revision is not None:
        return revision
    return "unversioned (released schema)" if unversioned else "empty"


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _script().get_current_head()
    if head is None:
        raise StorageError(f"no schema revisions found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> SchemaState:
    """The database's revision, without changing anything."""
    with connection.begin():
        revision = MigrationContext.configure(connection).get_current_revision()
        unversioned = revision is None and inspect(connection).has_table("sessions")
    return SchemaState(revision, head_revision(), unversioned)


def upgrade(connection: Connection, personal: PersonalData | None = None) -> SchemaUpgrade:
    """Migrate the database on ``connection`` (not in a transaction) to the newest revision.

    Idempotent, and fast when the database is there already. ``personal`` seals the ID
    numbers rows stored in clear before revision 0003.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it and dropping the old one; with foreign keys
        # on, that drop would cascade to the rows that refer to it.
        _sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            result = _upgrade(connection, personal)
            if sqlite and result.changed:
                _check_foreign_keys(connection)
    finally:
        if sqlite:
            try:
                _sqlite_foreign_keys(connection, on=True)
            except BaseException:
                # Never hand a connection without foreign keys back to the pool.
                connection.invalidate()
                raise
    return result


def _upgrade(connection: Connection, personal: PersonalData | None) -> SchemaUpgrade:
    before = MigrationContext.configure(connection).get_current_revision()
    head = head_revision()
    if before == head:
        return SchemaUpgrade(before, head)
    script = _script()
    try:
        if before is not None:
            script.get_revision(before)
    except (CommandError, RevisionError) as exc:
        raise StorageError(
            f"the database is at schema revision {before!r}, which this version of dualrec "
            f"does not know (newest: {head}); was it upgraded by a newer version?"
        ) from exc
    config = _config(connection)
    config.attributes["personal"] = personal
    adopted = before is None and inspect(connection).has_table("sessions")
    try:
        if adopted:
            logger.warning("database has no schema revision: bringing it to %s", BASELINE)
            _adopt_released(connection)
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    except (CommandError, RevisionError) as exc:
        raise StorageError(f"schema upgrade to {head} failed: {exc}") from exc
    result = SchemaUpgrade(before, head, adopted)
    # Creating the tables of a new install is routine; changing a database in use is not.
    logger.log(
        logging.INFO if before is None and not adopted else logging.WARNING, "%s", result.describe()
    )
    return result


def _config(connection: Connection) -> Config:
    config = Config()
    # "%" would start a configparser interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _adopt_released(connection: Connection) -> None:
    """Bring a database made by the released version (or the one before) to revision 0001."""
    metadata = baseline_metadata()
    # Tables added in the release (a database made before it lacks them).
    metadata.create_all(connection, checkfirst=True)
    inspector = inspect(connection)
    for (table, column), default in _RELEASED_COLUMNS.items():
        if column in {c["name"] for c in inspector.get_columns(table)}:
            continue
        kind = metadata.tables[table].c[column].type.compile(dialect=connection.dialect)
        tail = "" if default is None else f" NOT NULL DEFAULT {default}"
        connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}{tail}")
        logger.warning("database upgraded: %s.%s added", table, column)
    # The release added columns in place but left two constraints of the first version:
    # the unique key of recording files without part (it refuses the segments of a
    # resumed call) and the status check of sessions without "interrupted".
    sessions, files = metadata.tables["sessions"], metadata.tables["recording_files"]
    operations = Operations(MigrationContext.configure(connection))
    if connection.dialect.name == "sqlite":
        # SQLite cannot alter a constraint: copy the rows into tables of the released shape.
        for released in (sessions, files):
            with operations.batch_alter_table(released.name, copy_from=released, recreate="always"):
                pass
    else:
        status = _constraint(sessions, CheckConstraint)
        operations.drop_constraint(str(status.name), sessions.name, type_="check")
        operations.create_check_constraint(str(status.name), sessions.name, status.sqltext)
        old_key = next(
            (
                key
                for key in inspector.get_unique_constraints(files.name)
                if key["column_names"] == _OLD_FILES_KEY
            ),
            None,
        )
        if old_key is not None:
            key = _constraint(files, UniqueConstraint)
            # PostgreSQL reflects every constraint with its name.
            operations.drop_constraint(str(old_key["name"]), files.name, type_="unique")
            operations.create_unique_constraint(
                str(key.name), files.name, [c.name for c in key.columns]
            )
    logger.warning("database upgraded: constraints of sessions and recording_files renewed")


_C = TypeVar("_C", bound=Constraint)


def _constraint(table: Table, kind: type[_C]) -> _C:
    """The one constraint of ``kind`` on ``table``."""
    (found,) = (c for c in table.constraints if isinstance(c, kind))
    return found


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # The pragma is a no-op inside a transaction, and the engine begins one on every
    # statement, so it goes to the driver directly.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(
            f"schema upgrade rolled back: {len(broken)} rows would refer to missing rows "
            f"(first in table {broken[0][0]!r})"
        )
