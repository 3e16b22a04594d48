"""Shared fixtures: a real dualrec server on loopback with real SQLite and folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dualrec.demo import start_server
from dualrec.settings import Settings
from tests.support import RunningServer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults under a fresh folder; short segments so tests see several.

    Announcements are spoken fast (espeak-ng's sonic speed-up) to keep the flows short.
    """
    return Settings(data_dir=tmp_path / "var", segment_s=3.0, tts_speed_wpm=900)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real app on an ephemeral port of 127.0.0.1."""
    runner, url = await start_server(settings)
    try:
        yield RunningServer(runner, url, settings)
    finally:
        await runner.cleanup()
