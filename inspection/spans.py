"""Runs of sampled moments turned into time ranges, and the samples of one step."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .verdicts import Span


def runs(mask: NDArray[np.bool_], times_ms: NDArray[np.int64], interval_ms: int) -> list[Span]:
    """The time ranges where ``mask`` holds, each sample standing for ``interval_ms``."""
    spans: list[Span] = []
    start: int | None = None
    for on, at in zip(mask.tolist(), times_ms.tolist(), strict=True):
        if on and start is None:
            start = int(at)
        elif not on and start is not None:
            spans.append(Span(start, int(at)))
            start = None
    if start is not None:
        spans.append(Span(start, int(times_ms[-1]) + interval_ms))
    return spans


def within(times_ms: NDArray[np.int64], start_ms: int, end_ms: int) -> NDArray[np.bool_]:
    """Which samples fall in ``[start_ms, end_ms)``."""
    selected: NDArray[np.bool_] = (times_ms >= start_ms) & (times_ms < end_ms)
    return selected


def longer_than(spans: list[Span], min_ms: int) -> list[Span]:
    """The spans lasting at least ``min_ms``."""
    return [span for span in spans if span.length_ms >= min_ms]
