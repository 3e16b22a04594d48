"""The wire format: the ``Message`` base class, field validation and ``parse_message``."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from ..errors import MessageTooLarge, ProtocolError

#: Largest text frame accepted; larger ones are answered with an error.
MAX_MESSAGE_BYTES = 256 * 1024

#: Deepest nesting of objects and lists accepted (real messages need 4).
MAX_DEPTH = 32
#: Most digits in a JSON integer (2**53, the largest integer JavaScript keeps exact, has 16).
MAX_INT_DIGITS = 16

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
    data = decode_json(text)
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('message has no "type" string')
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f'unknown message type "{kind[:50]}"', message_type=kind[:50])
    return cls.parse(data)


#: A JSON string (escapes included), and any character that does not open or close nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def decode_json(text: str | bytes) -> Any:
    """Decode untrusted JSON within the protocol's bounds, or raise ProtocolError.

    Nesting is measured before decoding (the decoder recurses, and fails with a
    RecursionError some thousands of levels down); integers are bounded while decoding
    (Python refuses over 4,300 digits with a ValueError); lone UTF-16 surrogates
    (``"\\ud800"``), which no UTF-8 text can hold and so no reply could echo, are
    looked for in every string once decoded.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"message is not valid UTF-8: {exc.reason}") from None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH:
        raise ProtocolError(f"message is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(
            text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from None
    _refuse_surrogates(data)
    return data


def _bounded_int(digits: str) -> int:
    count = len(digits.lstrip("-"))
    if count > MAX_INT_DIGITS:
        raise ProtocolError(
            f"message has an integer of {count} digits; at most {MAX_INT_DIGITS} are accepted"
        )
    return int(digits)


def _finite_float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise ProtocolError("message has a number too large to be held (over 1.8e308)")
    return value


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"message is not valid JSON: {name} is not a JSON value")


def _refuse_surrogates(data: Any) -> None:
    """Raise ProtocolError naming the first field whose text holds a lone surrogate."""
    todo: list[tuple[str, Any]] = [("", data)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else key
                if not _encodable(key):
                    raise ProtocolError(
                        f"a field name in {where or 'the message'} holds a lone UTF-16 "
                        "surrogate (not text)"
                    )
                todo.append((name, item))
        elif isinstance(value, list):
            todo.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and not _encodable(value):
            # The value itself is never echoed: it cannot be encoded in a reply.
            raise ProtocolError(
                f'field "{where}" holds a lone UTF-16 surrogate (not text)',
                message_type=_type_of(data),
            )


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _type_of(data: Any) -> str | None:
    kind = data.get("type") if isinstance(data, dict) else None
    return kind[:50] if isinstance(kind, str) and _encodable(kind) else None
