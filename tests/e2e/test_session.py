"""A complete session over loopback: real aiortc peers, real recording, decoded back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from media.analysis import (
    av_offsets,
    closest_look,
    dominant_frequency,
    find_beeps,
    find_flashes,
    read_audio,
    read_video,
)
from media.verify import verify_recording
from storage import access_log
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer, run_session

#: A/V offsets are measured: alone, not beside other tests (./dev test).
pytestmark = pytest.mark.serial

LOOKS = {"kiosk": KIOSK_LOOK, "agent": AGENT_LOOK}
STEP_S = 1.2


def segments(directory: Path, party: str, kind: str) -> list[Path]:
    """A track's segment files in order."""
    return sorted(directory.glob(f"{party}-{kind}-*.webm"))


async def test_complete_session_is_recorded_and_verifies(server: RunningServer) -> None:
    """Both parties' audio and video are in the recording for the whole call."""
    session_id = await run_session(server, step_s=STEP_S)
    detail = await server.db.get_session(session_id)
    assert str(detail.session.status) == "ended"
    assert detail.session.workflow_state == "completed"

    # Workflow: every transition stored, in order, with increasing offsets.
    events = [(e.source, e.event, e.target) for e in detail.events]
    assert events == [
        ("identity_check", "identity_verified", "consent"),
        ("consent", "consent_given", "terms_disclosure"),
        ("terms_disclosure", "terms_disclosed", "confirmation"),
        ("confirmation", "customer_confirmed", "signature"),
        ("signature", "signature_captured", "completed"),
    ]
    offsets = [e.offset_ms for e in detail.events if e.offset_ms is not None]
    assert len(offsets) == len(detail.events)
    assert offsets == sorted(offsets)

    directory = server.settings.recordings_dir / session_id
    report = await asyncio.to_thread(verify_recording, directory)
    assert report.ok, report.problems
    call_end_s = max(f.end_ms for f in detail.files) / 1000
    # 5 steps of STEP_S plus a final pause: the recording spans at least that.
    assert call_end_s > 5 * STEP_S

    # Segment rows in the database match the files.
    on_disk = sorted(p.name for p in directory.glob("*.webm"))
    assert sorted(Path(f.path).name for f in detail.files) == on_disk
    assert len(on_disk) >= 8  # 3 s segments over a call of > 6 s: >= 2 per track

    for party, look in LOOKS.items():
        other = AGENT_LOOK if look is KIOSK_LOOK else KIOSK_LOOK
        video = await asyncio.to_thread(read_video, segments(directory, party, "video"))
        audio = await asyncio.to_thread(read_audio, segments(directory, party, "audio"))
        # Present from the start to the end of the call (within a second).
        assert video.times[0] < 1.0 and video.times[-1] > call_end_s - 1.0
        assert audio.start < 1.0 and audio.end > call_end_s - 1.0
        # The right party's picture: the colour of every non-flash frame.
        ordinary = video.mean_y < 200
        for i in np.flatnonzero(ordinary)[::10]:
            assert closest_look(video.mean_yuv(int(i)), [look, other]) is look
        # 15 fps for the whole span, within a small margin.
        expected_frames = (video.times[-1] - video.times[0]) * 15 + 1
        assert abs(len(video) - expected_frames) <= 0.03 * expected_frames + 2
        # Each party's tone (between beeps: take the first 0.5 s after a beep ends).
        beeps = find_beeps(audio)
        assert len(beeps) >= 2
        start = int((beeps[0] + 0.3 - audio.start) * audio.sample_rate)
        tone = audio.samples[start : start + audio.sample_rate // 2]
        assert abs(dominant_frequency(tone, audio.sample_rate) - look.tone_hz) < 10
        # Audio and video of each party in sync: flash and beep were made together.
        offsets_s = av_offsets(find_flashes(video), beeps)
        assert len(offsets_s) >= 2
        assert max(abs(o) for o in offsets_s) < 0.060, offsets_s


async def test_console_shows_the_session(server: RunningServer) -> None:
    """A supervisor signs in and sees the recorded session with its timeline."""
    import aiohttp

    session_id = await run_session(server, step_s=STEP_S)
    await server.db.add_credential("supervisor", "sup-1")
    await server.db.set_password("supervisor", "sup-1", "supervisor password")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/console", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/login"
        wrong = {"name": "sup-1", "password": "not the password"}
        async with http.post(f"{server.url}/console/login", data=wrong) as r:
            assert r.status == 401
        right = {"name": "sup-1", "password": "supervisor password"}
        async with http.post(f"{server.url}/console/login", data=right) as r:
            assert r.status == 200
            page = await r.text()
            assert session_id[:8] in page
        async with http.get(f"{server.url}/console/sessions/{session_id}") as r:
            page = await r.text()
            assert r.status == 200
            texts = ("signature_captured", "kiosk video", "agent audio", "completed", "id_photo")
            for text in texts:
                assert text in page
    # Every sign-in and every session viewed is in the hash-chained access log.
    logged = [(e.actor, e.action, e.target) for e in await access_log.entries(server.db)]
    assert logged == [
        ("sup-1", "login_failed", "console"),
        ("sup-1", "login", "console"),
        ("sup-1", "view", session_id),
    ]
    assert (await access_log.verify(server.db)).ok


async def test_composite_shows_both_parties_with_chapters(server: RunningServer) -> None:
    """After hang-up the composite is made, chained, signed and matches the workflow."""
    import av

    session_id = await run_session(server, step_s=STEP_S)
    job = server.centre.composite_jobs.get(session_id)
    if job is not None:
        await job
    directory = server.settings.recordings_dir / session_id
    trusted = server.centre.signing_key.public_key()
    report = await asyncio.to_thread(verify_recording, directory, trusted)
    assert report.ok, report.problems
    manifest = (directory / "manifest.json").read_text("utf-8")
    assert '"composite.mp4"' in manifest and '"composite.vtt"' in manifest

    detail = await server.db.get_session(session_id)
    expected = [0] + [e.offset_ms for e in detail.events]
    with av.open(str(directory / "composite.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        chapters = container.chapters()
        assert [c["start"] for c in chapters] == expected
        titles = [str(c["metadata"]["title"]) for c in chapters]
        assert titles[0].startswith("identity_check") and titles[-1].startswith("completed")
        frame = None
        for i, decoded in enumerate(container.decode(video=0)):
            if i == 45:
                frame = decoded.to_ndarray(format="yuv420p")
                break
    assert frame is not None
    # Mid-height rows of each half: kiosk on the left, agent on the right.
    height, width = 480, 1280
    u = frame[height : height + height // 4].reshape(height // 2, width // 2)
    v = frame[height + height // 4 :].reshape(height // 2, width // 2)
    left = (80.0, float(u[60:180, 50:150].mean()), float(v[60:180, 50:150].mean()))
    right = (80.0, float(u[60:180, 370:470].mean()), float(v[60:180, 370:470].mean()))
    assert closest_look(left, [KIOSK_LOOK, AGENT_LOOK]) is KIOSK_LOOK
    assert closest_look(right, [KIOSK_LOOK, AGENT_LOOK]) is AGENT_LOOK
    vtt = (directory / "composite.vtt").read_text("utf-8")
    assert vtt.startswith("WEBVTT") and vtt.count("-->") == len(expected)
