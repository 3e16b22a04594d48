"""Settings read in one step from the configuration file, the environment and the flags.

Each source gives values under the names of ``dualrec.options``; a later source wins
(file < ``DUALREC_*`` variables < flags), and ``Settings`` is built once from the merged
values, so settings that are checked together (TURN servers and their secret, a
certificate and its key) may come from different sources. Every message names where the
value at fault came from; a secret's value is never shown.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .options import BY_NAME, Kind, Option
from .settings import Settings, SettingsError

#: The configuration file's name in the data folder, read when no other is given.
CONFIG_FILE = "dualrec.toml"
#: The variable that names the configuration file (the flag is ``--config``).
CONFIG_ENV = "DUALREC_CONFIG"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Loaded:
    """The settings, where each one that is not a default came from, and the file read."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    def describe(self) -> str:
        """Which file was read and where each setting that is not a default came from
        (names only: no value, so no secret)."""
        read = f"settings file {self.config_file}" if self.config_file else "no settings file"
        given = ", ".join(f"{name} ({where})" for name, where in self.sources.items())
        return f"{read}; set: {given or 'nothing, all defaults'}"


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    use_file: bool = True,
) -> Settings:
    """The settings from the file, ``environ`` and ``flags`` (the parsed command line)."""
    return load(flags, environ, use_file=use_file).settings


def load(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    use_file: bool = True,
) -> Loaded:
    """As ``load_settings``, telling where each value came from."""
    flags, environ = flags or {}, environ or {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    from_env = _from_environment(environ)
    from_flags = _from_flags(flags)
    path = _config_path(flags, environ, from_env, from_flags) if use_file else None
    if path is not None:
        for name, (value, where) in _from_file(path, default=_is_default(flags, environ)).items():
            values[name], sources[name] = value, where
    for found in (from_env, from_flags):
        for name, (value, where) in found.items():
            values[name], sources[name] = value, where
    try:
        settings = Settings(**values)
    except SettingsError as exc:
        named = [f"{name} from {sources[name]}" for name in exc.fields if name in sources]
        if not named:
            raise
        raise SettingsError(f"{exc} ({'; '.join(named)})", *exc.fields) from None
    return Loaded(settings, sources, path)


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """``DUALREC_<NAME>`` variables; an empty one counts as not set."""
    found: dict[str, tuple[Any, str]] = {}
    for option in BY_NAME.values():
        raw = environ.get(option.env, "").strip()
        if raw:
            found[option.name] = (_from_text(option, raw, option.env), option.env)
    return found


def _from_flags(flags: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """The flags given (argparse has typed them; a list's items may hold commas too)."""
    found: dict[str, tuple[Any, str]] = {}
    for option in BY_NAME.values():
        value = flags.get(option.name)
        if value is None:
            continue
        if option.kind is Kind.LIST:
            value = tuple(item.strip() for raw in value for item in raw.split(",") if item.strip())
        _check_choice(option, value, option.flag)
        found[option.name] = (value, option.flag)
    return found


def _from_text(option: Option, raw: str, where: str) -> Any:
    """A variable's text as the option's kind of value."""
    value: Any = raw
    try:
        if option.kind is Kind.INT:
            value = int(raw)
        elif option.kind is Kind.NUMBER:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
        elif option.kind is Kind.BOOL:
            lowered = raw.lower()
            if lowered not in _TRUE + _FALSE:
                raise ValueError(raw)
            value = lowered in _TRUE
        elif option.kind is Kind.PATH:
            value = Path(raw)
        elif option.kind is Kind.LIST:
            value = tuple(item.strip() for item in raw.split(",") if item.strip())
    except ValueError:
        raise _wrong(option, where, raw) from None
    _check_choice(option, value, where)
    return value


def _from_toml(option: Option, value: Any, where: str, folder: Path) -> Any:
    """A file's value (already TOML-typed) as the option's kind of value."""
    kind = option.kind
    if kind is Kind.TEXT and isinstance(value, str):
        converted: Any = value
    elif kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
        converted = value
    elif (
        kind is Kind.NUMBER
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ):
        converted = float(value)
    elif kind is Kind.BOOL and isinstance(value, bool):
        converted = value
    elif kind is Kind.PATH and isinstance(value, str) and value:
        converted = folder / Path(value).expanduser()  # relative to the file's folder
    elif kind is Kind.LIST and isinstance(value, list) and all(isinstance(v, str) for v in value):
        converted = tuple(value)
    else:
        raise _wrong(option, where, value)
    _check_choice(option, converted, where)
    return converted


def _wrong(option: Option, where: str, value: Any) -> SettingsError:
    expected = {
        Kind.TEXT: "text",
        Kind.INT: "a whole number",
        Kind.NUMBER: "a number",
        Kind.BOOL: "true or false (1/true/yes/on, 0/false/no/off)",
        Kind.PATH: "a path",
        Kind.LIST: "a list of text (a TOML array; comma separated in a variable)",
    }[option.kind]
    shown = "a hidden value" if option.secret else repr(value)
    return SettingsError(f"{where}: {option.name} must be {expected}, got {shown}", option.name)


def _check_choice(option: Option, value: Any, where: str) -> None:
    if option.choices and value not in option.choices:
        raise SettingsError(
            f"{where}: {option.name} must be {option.one_of()}, got {value!r}",
            option.name,
        )


def _config_path(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    from_env: Mapping[str, tuple[Any, str]],
    from_flags: Mapping[str, tuple[Any, str]],
) -> Path | None:
    """``--config``, else ``DUALREC_CONFIG``, else the data folder's ``dualrec.toml`` if any."""
    for given, where in ((flags.get("config"), "--config"), (environ.get(CONFIG_ENV), CONFIG_ENV)):
        if given is not None and str(given).strip():
            path = Path(str(given).strip())
            if not path.is_file():
                raise SettingsError(f"the configuration file {path} ({where}) does not exist")
            return path
    data_dir = (from_flags.get("data_dir") or from_env.get("data_dir") or (Settings.data_dir,))[0]
    path = Path(data_dir) / CONFIG_FILE
    return path if path.is_file() else None


def _is_default(flags: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    """Whether the file read is the data folder's own (nothing named another)."""
    return not (flags.get("config") or environ.get(CONFIG_ENV, "").strip())


def _from_file(path: Path, *, default: bool) -> dict[str, tuple[Any, str]]:
    """The settings of a TOML file: flat ``name = value`` lines, every name an option's."""
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the configuration file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"the configuration file {path} is not valid TOML: {exc}") from None
    found: dict[str, tuple[Any, str]] = {}
    for name, value in data.items():
        where = f"{path} line {_line_of(text, name)}"
        option = BY_NAME.get(name)
        if option is None:
            close = difflib.get_close_matches(name, BY_NAME, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            kind = "section" if isinstance(value, dict) else "setting"
            raise SettingsError(f"{where}: unknown {kind} {name!r}{hint}")
        if default and name == "data_dir":
            raise SettingsError(
                f"{where}: the data folder's own {CONFIG_FILE} cannot move the data folder "
                "(name it with --data-dir, or keep the file elsewhere and give --config)"
            )
        found[name] = (_from_toml(option, value, where, path.parent), where)
    return found


def _line_of(text: str, name: str) -> int | str:
    """The line a top-level key is set on (tomllib does not say), or ``?``."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return "?"
