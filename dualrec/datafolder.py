"""The data folder: made once by ``dualrec init``, recognised by its marker file.

A mistyped ``--data-dir`` used to give a server an empty database and a new signing key
without a word. Now ``dualrec serve`` and ``dualrec worker`` start only on a folder that
``dualrec init`` made (or ``serve --init``, or ``init = true``), and otherwise say how to
make one. A folder of an earlier version (its signing key is there) is taken as it is and
given its marker.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from .config import CONFIG_FILE
from .config_docs import config_template
from .settings import Settings, SettingsError

#: The marker that makes a folder a dualrec data folder.
MARKER = "dualrec-data.toml"
#: The layout version the marker records; a newer one is refused.
FORMAT = 1


class NotADataFolder(SettingsError):
    """The data folder was not made by ``dualrec init`` (or is of a newer format)."""


def check_data_folder(settings: Settings, *, command: str = "serve") -> None:
    """Refuse a folder without the marker; mark a folder of an earlier version."""
    folder, marker = settings.data_dir, settings.data_dir / MARKER
    if marker.is_file():
        _check_format(marker)
        return
    if settings.signing_key_path.is_file():  # made before the marker existed
        _write_marker(settings)
        return
    missing = ["no signing key" if settings.signing_key_path.parent.exists() else "no keys"]
    if settings.database_url is None and not (folder / "dualrec.db").exists():
        missing.append("no database")
    hint = "" if command != "serve" else ", or start with --init"
    raise NotADataFolder(
        f"{folder} is not a dualrec data folder ({', '.join(missing)}): run "
        f"`dualrec init --data-dir {folder}` to create one{hint}",
        "data_dir",
    )


async def initialise(settings: Settings, *, schema: bool = True) -> list[str]:
    """Make the data folder, its keys, the database's schema and the marker; say what."""
    from media import key_id, load_or_create_signing_key
    from storage import Database, PersonalData

    folder = settings.data_dir
    said = [f"data folder   {folder.resolve()}" + ("" if folder.is_dir() else " (made)")]
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    existed = settings.signing_key_path.is_file()
    key = await asyncio.to_thread(load_or_create_signing_key, settings.signing_key_path)
    state = "kept" if existed else "made"
    said.append(
        f"signing key   {settings.signing_key_path} ({state}; key id {key_id(key.public_key())})"
    )
    existed = settings.personal_key_path.is_file()
    personal = await asyncio.to_thread(PersonalData.load_or_create, settings.personal_key_path)
    said.append(f"personal key  {settings.personal_key_path} ({'kept' if existed else 'made'})")
    if schema:
        db = Database(settings.database, personal=personal)
        try:
            upgrade = await db.upgrade_schema()
        finally:
            await db.close()
        where = "SQLite file in the data folder" if settings.database_url is None else "database"
        said.append(f"database      {where}: {upgrade.describe()}")
    settings.recordings_dir.mkdir(mode=0o700, exist_ok=True)
    config = folder / CONFIG_FILE
    if _write_new(config, config_template()):
        said.append(f"settings      {config} (made: every setting, commented out)")
    if not (folder / MARKER).is_file():
        _write_marker(settings)
        said.append(f"marker        {folder / MARKER} (format {FORMAT})")
    return said


def _write_new(path: Path, text: str) -> bool:
    """Write a file whole, unless it exists (nodes started at once may race to make it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text, "utf-8")
    try:
        os.link(temporary, path)  # fails if it exists: never half a file, never overwritten
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


def _write_marker(settings: Settings) -> None:
    made = datetime.now(UTC).isoformat(timespec="seconds")
    text = (
        "# This folder is a dualrec data folder: keys, recordings, the SQLite database.\n"
        "# Made by `dualrec init`; `dualrec serve` starts only on a folder that has it.\n"
        f"format = {FORMAT}\nmade = {made!r}\n"
    ).replace("'", '"')
    path = settings.data_dir / MARKER
    temporary = path.with_name(f".{MARKER}.{os.getpid()}")
    temporary.write_text(text, "utf-8")
    temporary.replace(path)


def _check_format(marker: Path) -> None:
    try:
        found = tomllib.loads(marker.read_text("utf-8")).get("format")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NotADataFolder(f"cannot read the data folder's marker {marker}: {exc}") from None
    if not isinstance(found, int) or found > FORMAT:
        raise NotADataFolder(
            f"the data folder {marker.parent} is of format {found!r}, newer than this "
            f"dualrec's ({FORMAT}): upgrade dualrec"
        )
