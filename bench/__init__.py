"""Benchmarks: dualrec against the plain aiortc build (``python -m bench.recording``)."""
