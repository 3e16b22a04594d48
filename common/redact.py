"""Free text made safe to keep: ID numbers typed into it masked, its length bounded.

Reasons (a hang-up's, a workflow event's, a review's, a legal hold's) are typed by people
and may quote the customer's ID number: plain (``110105198506151236``), with separators
(``1101 0519 8506 1512 36``, ``110105-19850615-1236``) or in full-width digits
(``１１０１０５…``). Each character is NFKC-normalised before matching, so full-width digits,
spaces and dashes count as their ASCII forms, and every run of 15 or more digits (a
resident ID, 15 or 18 characters with a final ``X``; a bank card number too) is replaced by
stars and its last four characters. The rest of the text is kept as typed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: The most characters a free-text reason may have.
MAX_REASON_CHARS: Final = 500

# 15 or more digits, each optionally after up to three separators (" - "), and a final X.
_ID_LIKE = re.compile(r"(?<!\d)\d(?:[\s\-.]{0,3}\d){14,}(?:[\s\-]?[Xx](?![A-Za-z]))?(?!\d)")
_SEPARATORS = re.compile(r"[\s\-.]")


class ReasonTooLong(ValueError):
    """A free-text field longer than its limit."""

    def __init__(self, name: str, length: int, limit: int) -> None:
        super().__init__(f'"{name}" is longer than {limit} characters ({length})')
        self.name, self.length, self.limit = name, length, limit


def check_length(name: str, text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Return ``text`` if it has at most ``limit`` characters; raise ReasonTooLong otherwise."""
    if len(text) > limit:
        raise ReasonTooLong(name, len(text), limit)
    return text


def _folded(text: str) -> str:
    """``text`` with each character NFKC-normalised where that keeps it one character.

    One character for one keeps the positions of a match valid in the original text.
    """
    out = []
    for char in text:
        normal = unicodedata.normalize("NFKC", char)
        out.append(normal if len(normal) == 1 else char)
    return "".join(out)


def _mask(number: str) -> str:
    compact = _SEPARATORS.sub("", number).upper()
    return "*" * (len(compact) - 4) + compact[-4:]


def redact(text: str) -> str:
    """``text`` with every ID-like number masked to stars and its last four characters."""
    folded = _folded(text)
    pieces, last = [], 0
    for match in _ID_LIKE.finditer(folded):
        pieces.append(text[last : match.start()])
        pieces.append(_mask(match.group()))
        last = match.end()
    if last == 0:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def checked_reason(name: str, text: str, limit: int = MAX_REASON_CHARS) -> str:
    """A reason as it may be kept: within ``limit`` (else ReasonTooLong), ID numbers masked."""
    return redact(check_length(name, text, limit))
