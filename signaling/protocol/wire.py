"""The wire format: the ``Message`` base class, field validation and ``parse_message``."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from ..errors import MessageTooLarge, ProtocolError

#: Largest text frame accepted; larger ones are answered with an error.
MAX_MESSAGE_BYTES = 256 * 1024

#: Every message class by its ``type``, filled as the classes are defined.
MESSAGE_TYPES: dict[str, type[Message]] = {}


def _check_type(name: str, value: Any, annotation: Any, message_type: str) -> None:
    """Raise ProtocolError unless ``value`` fits the field's annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return
        annotation = next(a for a in options if a is not type(None))
        origin = get_origin(annotation)
    expected = origin or annotation
    if expected is Any:
        return
    if expected is int and isinstance(value, bool):
        ok = False
    elif expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected in (dict, Mapping):
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ProtocolError(
            f'field "{name}" of "{message_type}" must be {type_name(expected)}, '
            f"not {type_name(type(value))}",
            message_type=message_type,
        )


def type_name(t: Any) -> str:
    """How error messages name a JSON type ("a string", "an object"...)."""
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        dict: "an object",
        Mapping: "an object",
        bool: "a boolean",
        list: "a list",
        type(None): "null",
    }
    return names.get(t, getattr(t, "__name__", str(t)))


@dataclass(frozen=True)
class Message:
    """Base of all wire messages; subclasses set ``type``."""

    type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            MESSAGE_TYPES[cls.type] = cls

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Build the message from decoded JSON, validating every field."""
        hints = get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"type"})
        if unknown:
            raise ProtocolError(
                f'unknown field "{unknown[0]}" in "{cls.type}"', message_type=cls.type
            )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING
                )
                if not has_default:
                    raise ProtocolError(
                        f'missing field "{f.name}" in "{cls.type}"', message_type=cls.type
                    )
                continue
            _check_type(f.name, data[f.name], hints[f.name], cls.type)
            values[f.name] = data[f.name]
        try:
            return cls(**values)
        except ValueError as exc:
            raise ProtocolError(f'invalid "{cls.type}": {exc}', message_type=cls.type) from exc

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-ready dict, ``type`` first."""
        return {"type": self.type, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """The message as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def require_text(name: str, value: str, max_len: int) -> None:
    """Raise ValueError unless ``value`` is non-blank text of at most ``max_len`` characters."""
    if not value.strip():
        raise ValueError(f'"{name}" must not be empty')
    if len(value) > max_len:
        raise ValueError(f'"{name}" is longer than {max_len} characters')


def parse_message(text: str | bytes) -> Message:
    """Decode one wire message, raising ProtocolError that names what is wrong."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"message of {len(text)} bytes is larger than the limit of {MAX_MESSAGE_BYTES}"
        )
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('message has no "type" string')
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f'unknown message type "{kind[:50]}"', message_type=kind[:50])
    return cls.parse(data)
