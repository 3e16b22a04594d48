"""Hostile signalling messages from a seeded generator, and what counts as a proper answer.

``hostile(rng, role)`` makes one message a fuzzer sends: malformed (truncated, not JSON,
not an object, a binary frame), oversize, deeply nested, with huge numbers or lone
surrogates, fields missing, unknown or of the wrong type, and well-formed messages sent
out of order or by the wrong role (the golden fixtures as templates). The same generator
feeds the live-socket fuzzer (``random.Random(seed)``) and hypothesis (``st.randoms()``),
so a failure found by one is a failure of the other.
"""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from signaling import MAX_MESSAGE_BYTES, ProtocolError, parse_message
from signaling.protocol import MESSAGE_TYPES
from signaling.server import error_message

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "signaling" / "fixtures" / "messages.json").read_text("utf-8")
)
#: The error codes docs/protocol.md documents (its "Error codes" table).
_DOCS = (ROOT / "docs" / "protocol.md").read_text("utf-8")
DOCUMENTED_CODES = frozenset(
    re.findall(r"`([a-z_]+)`", _DOCS[_DOCS.index("## Error codes") :].split("\n## ")[0])
)
#: Codes that mean the server failed, never a proper answer to bad input.
FAILURES = frozenset({"internal_error", "storage_error"})
#: Text that stands for a value ``json.dumps`` cannot write; replaced after dumping.
_RAW = "\x00raw:"

SURROGATES = ("\ud800", "\udfff", "a\udc00b", "\ud83d", "\ude00\ud83d")
ODD_TEXT = ("", " ", "\x00", "😀", "\u202e", "\ufeff", "ｋｉｏｓｋ", "x" * 300, "kiosk\n")


def _raw(text: str) -> str:
    return _RAW + text


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, hostile more often than not."""
    pick = rng.randrange(16)
    if pick == 0:
        return rng.choice(SURROGATES)
    if pick == 1:
        return rng.choice(ODD_TEXT)
    if pick == 2:
        return _raw("9" * rng.choice((17, 40, 4301, 5000)))
    if pick == 3:
        return _raw(rng.choice(("NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1.5e308")))
    if pick == 4:
        levels = rng.choice((31, 33, 100, 6000))
        return _raw("[" * levels + "]" * levels)
    if pick == 5:
        return rng.randint(-(2**63), 2**63)
    if pick == 6:
        return rng.random() * 10 ** rng.randint(-5, 300)
    if pick == 7:
        return rng.choice((True, False, None))
    if pick == 8 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 9 and depth < 3:
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if pick == 10:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(40)))
    if pick == 11:
        return rng.choice(sorted(MESSAGE_TYPES))
    return rng.choice(("kiosk", "agent", "admin", "available", "busy", "card_opening", "abort"))


def _key(rng: random.Random) -> str:
    return rng.choice(("type", "role", "token", "state", "reason", "session_id", "data", "zz")) + (
        rng.choice(SURROGATES) if rng.random() < 0.05 else ""
    )


def _dump(data: Any) -> str:
    text = json.dumps(data)  # ensure_ascii: a lone surrogate goes out as its \\u escape
    return re.sub(r'"\\u0000raw:([^"]*)"', r"\1", text)


def _template(rng: random.Random, role: str) -> dict[str, Any]:
    message = copy.deepcopy(rng.choice(TEMPLATES))
    if role == "agent" and message["type"] == "presence" and message.get("state") == "available":
        message["state"] = "away"  # a fuzzing agent must not take the real customer
    return message


def hostile(rng: random.Random, role: str) -> str | bytes:
    """One hostile message for a socket joined as ``role`` (``none`` if not joined)."""
    pick = rng.randrange(20)
    message = _template(rng, role)
    if pick == 0:
        return rng.randbytes(rng.randrange(1, 64))  # a binary frame
    if pick == 1:
        text = _dump(message)
        return text[: rng.randrange(len(text))]  # truncated
    if pick == 2:
        return "".join(chr(rng.randrange(1, 0x800)) for _ in range(rng.randrange(1, 80)))
    if pick == 3:
        return _dump(_value(rng))  # a value that is not an object, or one of the wrong shape
    if pick == 4 and rng.random() < 0.05:
        return _dump({"type": "hangup", "reason": "x" * (MAX_MESSAGE_BYTES + 1)})  # oversize
    if pick == 5:
        message.pop(rng.choice(sorted(message)), None)  # a field (maybe the type) missing
    elif pick == 6:
        message[_key(rng)] = _value(rng)  # an unknown field, or a known one made hostile
    elif pick in (7, 8, 9, 10):
        field = rng.choice(sorted(message))
        message[field] = _value(rng)  # a field of the wrong type or value
    elif pick == 11:
        message["type"] = rng.choice((*SURROGATES, *ODD_TEXT, "JOIN", "join "))
    elif pick == 12:
        return _dump(message) + rng.choice(("x", "}", ",", " ]"))  # trailing garbage
    # Otherwise well-formed: sent out of order or by the wrong role.
    return _dump(message)


def check_answer(frame: str) -> dict[str, Any]:
    """Raise AssertionError unless ``frame`` is an error naming a problem or a documented reply."""
    answer: dict[str, Any] = json.loads(frame)
    assert answer["type"] in MESSAGE_TYPES, answer
    if answer["type"] == "error":
        assert answer["code"] in DOCUMENTED_CODES, answer
        assert answer["code"] not in FAILURES, answer
        assert isinstance(answer["message"], str) and len(answer["message"]) > 5, answer
    return answer


def check_parse(data: bytes | str) -> None:
    """Parse ``data``: a message that round-trips, or a ProtocolError whose reply can be sent."""
    try:
        message = parse_message(data)
    except ProtocolError as exc:
        reply = error_message(exc, exc.message_type)
        assert reply.code in ("bad_message", "message_too_large"), reply
        assert len(reply.message) > 5, reply
        reply.to_json().encode("utf-8")
        return
    # What was accepted can be echoed (a hang-up reason is, in ``session_ended``).
    assert parse_message(message.to_json().encode("utf-8")) == message


def run_atheris(script: str, runs: int, folder: Path, prefixes: tuple[str, ...] = ("",)) -> str:
    """Run ``tests/fuzz/<script>`` for ``runs`` inputs from a fixed seed; its libFuzzer log.

    The corpus is the golden messages (each behind every one of ``prefixes``); the
    dictionary ``json.dict``; crashes are written into ``folder``, never the checkout.
    """
    corpus = folder / "corpus"
    corpus.mkdir()
    for i, message in enumerate(TEMPLATES):
        for j, prefix in enumerate(prefixes):
            (corpus / f"golden-{i}-{j}.json").write_text(prefix + json.dumps(message), "utf-8")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "fuzz" / script),
            f"-runs={runs}",
            "-seed=20261202",
            f"-dict={ROOT / 'tests' / 'fuzz' / 'json.dict'}",
            f"-artifact_prefix={folder}/",
            str(corpus),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Done {runs} runs" in done.stderr, done.stderr[-3000:]
    return done.stderr
