"""Headless Chromium (Debian's, driven by Playwright) for the page tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The system Chromium; skipped where it is missing, unless CI requires it."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("DUALREC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def chromium_with_media(
    video: Path | None = None, audio: Path | None = None
) -> AsyncIterator[Browser]:
    """The system Chromium with a fake camera and microphone, granted without asking.

    Chromium's own test pattern and beep, or the given ``.y4m`` / ``.wav`` files in a loop.
    """
    if not shutil.which(CHROMIUM):
        if os.environ.get("DUALREC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    media = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if video is not None:
        media.append(f"--use-file-for-fake-video-capture={video}")
    if audio is not None:
        media.append(f"--use-file-for-fake-audio-capture={audio}")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS + media)
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """Where a screenshot is kept after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


async def sign_in(page: Page, url: str, name: str, password: str) -> None:
    """Sign in through the console's real form."""
    await page.goto(f"{url}/console/login")
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
