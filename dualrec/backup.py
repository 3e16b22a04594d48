"""``dualrec backup`` and ``dualrec restore``: a data folder and its database in one file.

A backup is one tar file, written 0600, holding everything needed to bring a server back
with the same identity: the database (a consistent copy of the embedded SQLite file made
with sqlite3's online backup API, or ``pg_dump --format=custom`` of PostgreSQL), the keys
folder (the recording-signing key and the personal-data key: secrets), ``dualrec.toml``,
the data folder's marker, and the recordings folder unless ``--no-recordings`` (with S3
the bucket under Object Lock is the recordings' own copy; the local folder then holds only
what is not yet shipped). ``backup.toml`` in it says what it holds.

``dualrec restore`` unpacks one into a new data folder (it refuses one that is not empty),
the database into the folder's SQLite file or into an empty PostgreSQL database named with
``--database-url``. Both can run while the server runs.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .config import CONFIG_FILE
from .datafolder import MARKER, check_data_folder
from .settings import Settings, SettingsError

#: The file inside a backup that says what it holds.
INDEX = "backup.toml"
#: The version of the backup's layout; a newer one is refused.
FORMAT = 1
SQLITE_NAME, PG_NAME = "database/dualrec.db", "database/dualrec.pgdump"
#: Files of the recordings folder that are not recordings (media.space's reserve, temporaries).
_SKIPPED = (".space-reserve",)


class BackupError(SettingsError):
    """A backup could not be made or restored; the message says why (never a password)."""


def _sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for any other database."""
    scheme, _, rest = url.partition(":///")
    return Path(rest) if scheme.split("+")[0] == "sqlite" and rest else None


def _pg_environment(url: str) -> dict[str, str]:
    """libpq's variables for ``url``: the password never goes on a command line (``ps``)."""
    from sqlalchemy.engine import make_url

    from storage import normalise_url

    parts = make_url(normalise_url(url))
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", parts.host),
        ("PGPORT", parts.port),
        ("PGUSER", parts.username),
        ("PGPASSWORD", parts.password),
        ("PGDATABASE", parts.database),
        ("PGSSLMODE", parts.query.get("sslmode") or parts.query.get("ssl")),
    ):
        if value:
            env[name] = str(value)
    if not parts.database:  # pg_restore without a database would print the SQL instead
        raise BackupError("the PostgreSQL URL names no database", "database_url")
    return env


def _run(command: list[str], env: Mapping[str, str], what: str) -> None:
    try:
        result = subprocess.run(command, env=dict(env), capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)") from None
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-600:]}")


def _dump_database(settings: Settings, work: Path) -> tuple[str, Path]:
    """A consistent copy of the database in ``work``: its kind and its file."""
    sqlite = _sqlite_file(settings.database)
    if sqlite is not None:
        if not sqlite.is_file():
            raise BackupError(f"no database at {sqlite}")
        copy = work / "dualrec.db"
        source, target = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True), sqlite3.connect(copy)
        try:
            source.backup(target)  # a snapshot even while the server writes (WAL)
        finally:
            source.close()
            target.close()
        return "sqlite", copy
    dump = work / "dualrec.pgdump"
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"]
    _run(command, _pg_environment(settings.database), "pg_dump")
    return "postgresql", dump


def _recording_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in _SKIPPED and not path.name.startswith(".tmp"):
            yield path


def make_backup(settings: Settings, out: Path, *, recordings: bool = True) -> list[str]:
    """Write the backup of ``settings``' data folder and database to ``out``; say what."""
    from media import key_id, load_or_create_signing_key

    check_data_folder(settings, command="backup")  # never a backup of a mistyped folder
    if out.exists():
        raise BackupError(f"{out} exists: a backup never overwrites a file")
    if not out.parent.is_dir():
        raise BackupError(f"no folder {out.parent} to write the backup in")
    if not settings.signing_key_path.is_file():  # never a new key made by a backup
        raise BackupError(f"no signing key at {settings.signing_key_path}")
    folder = settings.data_dir
    key = key_id(load_or_create_signing_key(settings.signing_key_path).public_key())
    said = [f"backup        {out.resolve()} (mode 0600: it holds the keys)"]
    with tempfile.TemporaryDirectory(prefix=".dualrec-backup-", dir=out.parent) as work:
        kind, dump = _dump_database(settings, Path(work))
        made = datetime.now(UTC).isoformat(timespec="seconds")
        index = (
            f'format = {FORMAT}\nmade = "{made}"\ndatabase = "{kind}"\n'
            f'recordings = {str(recordings).lower()}\nsigning_key_id = "{key}"\n'
        )
        partial = Path(work) / "backup.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(INDEX)
            info.size, info.mtime, info.mode = (
                len(index.encode()),
                int(datetime.now().timestamp()),
                0o600,
            )
            tar.addfile(info, io.BytesIO(index.encode()))
            tar.add(dump, SQLITE_NAME if kind == "sqlite" else PG_NAME)
            said.append(f"database      {kind} ({dump.stat().st_size} bytes)")
            for path in (folder / MARKER, folder / CONFIG_FILE):
                if path.is_file():
                    tar.add(path, path.name)
            tar.add(settings.signing_key_path.parent, "keys")
            said.append(f"keys          {settings.signing_key_path.parent} (signing key id {key})")
            count = 0
            if recordings and settings.recordings_dir.is_dir():
                for path in _recording_files(settings.recordings_dir):
                    tar.add(path, f"recordings/{path.relative_to(settings.recordings_dir)}")
                    count += 1
            said.append(f"recordings    {count} files" if recordings else "recordings    left out")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, out)
    return said


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"cannot read the backup {archive}: {exc}") from None


def _read_index(tar: tarfile.TarFile, archive: Path) -> dict[str, object]:
    """The backup's ``backup.toml``; refused when missing or of a newer format."""
    try:
        member = tar.extractfile(INDEX)
        index = tomllib.loads(member.read().decode() if member else "")
    except (KeyError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        index = {}
    found = index.get("format")
    if not isinstance(found, int):
        raise BackupError(f"{archive} is not a dualrec backup (no {INDEX})")
    if found > FORMAT:
        raise BackupError(f"{archive} is of backup format {found}, newer: upgrade dualrec")
    return index


def restore_backup(archive: Path, settings: Settings) -> list[str]:
    """Unpack ``archive`` into ``settings``' data folder (new or empty); say what."""
    folder = settings.data_dir
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: restore into a new data folder")
    with _open(archive) as tar:
        index = _read_index(tar, archive)
        kind = index.get("database")
        target_sqlite = _sqlite_file(settings.database)
        if (kind == "sqlite") != (target_sqlite is not None):
            raise BackupError(
                f"this backup holds a {kind} database: restore it into "
                + ("the data folder's SQLite file (no --database-url)" if kind == "sqlite"
                   else "a new, empty PostgreSQL database (--database-url postgresql://...)"),
                "database_url",
            )  # fmt: skip
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".dualrec-restore-", dir=folder) as work:
            tar.extractall(work, filter="data")
            unpacked = Path(work)
            dump = unpacked / (SQLITE_NAME if kind == "sqlite" else PG_NAME)
            if target_sqlite is not None:
                target_sqlite.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.copyfile(dump, target_sqlite)
                os.chmod(target_sqlite, 0o600)
                said = [f"database      SQLite file {target_sqlite}"]
            else:
                command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
                env = _pg_environment(settings.database)
                what = "pg_restore (the database may be partly restored: make it anew)"
                _run([*command, f"--dbname={env['PGDATABASE']}", str(dump)], env, what)
                said = ["database      PostgreSQL (pg_restore into the given database)"]
            shutil.rmtree(unpacked / "database")
            (unpacked / INDEX).unlink()
            for path in sorted(unpacked.iterdir()):
                path.replace(folder / path.name)
    said.insert(0, f"data folder   {folder.resolve()} (from a backup made {index.get('made')})")
    said.append(f"keys          signing key id {index.get('signing_key_id')}")
    if not index.get("recordings"):
        said.append("recordings    not in this backup: copy them back (or they are in S3)")
    config = folder / CONFIG_FILE
    if config.is_file() and "database_url" in tomllib.loads(config.read_text("utf-8")):
        said.append(f"check         {config} sets database_url: make it name this database")
    return said


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a backup of the data folder and the database."""
    from .config import load_settings

    settings = load_settings(vars(args), os.environ)
    print("\n".join(make_backup(settings, args.out, recordings=args.recordings)))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup into a new data folder (and database)."""
    from .config import load_settings

    settings = load_settings(vars(args), os.environ)
    print("\n".join(restore_backup(args.archive, settings)))
    return 0


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    data_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``backup`` and ``restore`` to the command line (``dualrec.arguments``)."""
    backup = sub.add_parser("backup", help="write the data folder and the database to one file")
    backup.add_argument("out", type=Path, help="the backup file to write (mode 0600)")
    data_options(backup)
    backup.add_argument(
        "--no-recordings",
        dest="recordings",
        action="store_false",
        help="leave the recordings folder out (copied otherwise, or kept in S3)",
    )
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore a backup into a new data folder")
    restore.add_argument("archive", type=Path, help="a file made by dualrec backup")
    data_options(restore)
    restore.set_defaults(func=cmd_restore)
