"""Coverage-guided fuzzing of the signalling parser with atheris (libFuzzer).

Run by ``tests/fuzz/test_parser_fuzz.py`` with a fixed ``-seed`` and a bounded ``-runs``,
from the repository root, over a corpus of the golden messages::

    python tests/fuzz/parser_atheris.py -runs=50000 -seed=1 CORPUS_FOLDER

Every input is given to ``parse_message`` as bytes and as the text atheris makes of them;
the only failure allowed is a ``ProtocolError`` (``bad_message``, ``message_too_large``)
whose ``error`` reply can be encoded (``tests.fuzz.hostile.check_parse``). Anything else
(a RecursionError, a ValueError from int parsing, a reply echoing a lone surrogate) is a
crash: libFuzzer saves the input and the process exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The parser is imported instrumented, so that libFuzzer sees which branches an input takes.
with atheris.instrument_imports(include=["signaling"]):
    import signaling.protocol  # noqa: F401

from tests.fuzz.hostile import check_parse


def one_input(data: bytes) -> None:
    """libFuzzer's entry point."""
    check_parse(data)
    check_parse(atheris.FuzzedDataProvider(data).ConsumeUnicode(len(data)))


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
