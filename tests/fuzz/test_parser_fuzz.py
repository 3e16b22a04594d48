"""The parser fuzzed: hypothesis (property-based) and atheris (coverage-guided), seeded.

Each input either parses to a message that round-trips and can be sent, or is refused
with a ``ProtocolError`` whose ``error`` reply names the problem and can be encoded. Both
runs are bounded and seeded, so a failure is the same failure on every machine.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.hostile import TEMPLATES, check_parse, hostile, run_atheris

#: Examples per hypothesis test; runs of the atheris fuzzer.
EXAMPLES = 2500
ATHERIS_RUNS = 50_000
SEEDED = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)

#: Any character, lone surrogates included (hypothesis leaves them out unless asked).
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHARACTER, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(ANY_CHARACTER, max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@SEEDED
@given(st.randoms(use_true_random=False), st.sampled_from(["none", "kiosk", "agent"]))
def test_generated_hostile_messages(rng: random.Random, role: str) -> None:
    check_parse(hostile(rng, role))


#: Every field name of the golden messages, and one no message has.
FIELDS = sorted({field for message in TEMPLATES for field in message} | {"unknown"})


@settings(SEEDED, max_examples=EXAMPLES // 5)
@given(
    st.sampled_from(TEMPLATES), st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=3)
)
def test_golden_messages_with_fields_replaced(
    template: dict[str, Any], replaced: dict[str, Any]
) -> None:
    check_parse(json.dumps(template | replaced))  # ensure_ascii: surrogates go as \\u escapes


@SEEDED
@given(st.text(ANY_CHARACTER) | st.binary())
def test_any_text_or_bytes(data: str | bytes) -> None:
    check_parse(data)


def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    """libFuzzer from the golden messages, with a dictionary of JSON and protocol words."""
    run_atheris("parser_atheris.py", ATHERIS_RUNS, tmp_path)
