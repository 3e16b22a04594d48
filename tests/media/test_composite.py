"""The session composite decoded back: layout, colours, voices, overlay, chapters, crash safety."""

from __future__ import annotations

import fractions
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from common import rgb_to_yuv
from media.analysis import closest_look, dominant_frequency
from media.composite import CompositeInfo, CompositeResult, compose_session
from synthetic import AGENT_LOOK, KIOSK_LOOK, PartyLook

FPS = 15
RATE = 48000
MS = fractions.Fraction(1, 1000)
SESSION_MS = 6000
AGENT_VIDEO_MS = 1000  # the agent's camera starts a second late
AGENT_SIZE = (480, 270)  # 16:9, shown as 640x360 between black bars
AGENT_AUDIO_MS = 500
STEPS = (
    (0, "identity_check", "身份核验"),
    (2000, "consent", "客户同意"),
    (4000, "terms_disclosure", "Terms"),
)
INFO = CompositeInfo(
    session_id="4cf81fa934cc4409a3f374e0a44bf5cc",
    branch="SH-Pudong-001",
    agent_id="agent-7",
    started_at=datetime(2024, 5, 1, 2, 0, 0, tzinfo=UTC),
    steps=STEPS,
)
LOOKS = [KIOSK_LOOK, AGENT_LOOK]


@dataclass
class Composed:
    """A composed recording and the frames and sound decoded back from it."""

    result: CompositeResult
    progress: list[float]
    times: list[float]
    pictures: list[NDArray[np.uint8]]  # (3, height, width) Y, U, V per frame
    sound: NDArray[np.float32]


def write_video(
    path: Path, look: PartyLook, start_ms: int, end_ms: int, size: tuple[int, int] = (640, 480)
) -> None:
    """A VP8 WebM of the party's plain colour, timestamps in ms on the session timeline."""
    width, height = size
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=FPS, options={"deadline": "realtime"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = MS
        stream.bit_rate = 1_000_000
        y, u, v = (round(c) for c in rgb_to_yuv(look.colour))
        planes = np.empty(width * height * 3 // 2, dtype=np.uint8)  # Y, U, V one after another
        planes[: width * height], planes[width * height :] = y, u
        planes[width * height * 5 // 4 :] = v
        picture = planes.reshape(-1, width)
        k = 0
        while (pts := start_ms + round(k * 1000 / FPS)) < end_ms:
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = pts, MS
            container.mux(stream.encode(frame))
            k += 1
        container.mux(stream.encode(None))


def write_audio(path: Path, look: PartyLook, start_ms: int, end_ms: int) -> None:
    """An Opus WebM of the party's tone in 20 ms frames on the session timeline."""
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="mono")
        for first in range(start_ms * 48, end_ms * 48, 960):
            t = (first + np.arange(960)) / RATE
            tone = 0.2 * np.sin(2 * np.pi * look.tone_hz * t)
            frame = av.AudioFrame.from_ndarray(
                np.round(tone * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = RATE, first, fractions.Fraction(1, RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_session(folder: Path) -> None:
    """Four tracks as the recorder lays them out; the kiosk video in two segments."""
    folder.mkdir()
    write_video(folder / "kiosk-video-0000.webm", KIOSK_LOOK, 0, 3000)
    write_video(folder / "kiosk-video-0001.webm", KIOSK_LOOK, 3000, SESSION_MS)
    write_video(
        folder / "agent-video-0000.webm", AGENT_LOOK, AGENT_VIDEO_MS, SESSION_MS, AGENT_SIZE
    )
    write_audio(folder / "kiosk-audio-0000.webm", KIOSK_LOOK, 0, SESSION_MS)
    write_audio(folder / "agent-audio-0000.webm", AGENT_LOOK, AGENT_AUDIO_MS, SESSION_MS)
    (folder / "agent-audio-0001.webm").write_bytes(b"\x1a\x45\xdf\xa3 not a segment" * 10)


def decode(path: Path) -> tuple[list[float], list[NDArray[np.uint8]], NDArray[np.float32]]:
    """Frame times, Y/U/V pictures and mono sound of an MP4."""
    times: list[float] = []
    pictures: list[NDArray[np.uint8]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            times.append(float(frame.time or 0.0))
            pictures.append(np.asarray(frame.reformat(format="yuv444p").to_ndarray(), np.uint8))
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray()[0] for f in container.decode(container.streams.audio[0])]
    return times, pictures, np.concatenate(chunks).astype(np.float32)


def compose(folder: Path, out: Path, info: CompositeInfo = INFO) -> Composed:
    """Compose a folder and decode the result back."""
    progress: list[float] = []
    result = compose_session(folder, out, info, progress=progress.append)
    return Composed(result, progress, *decode(out))


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Composed:
    """The test session composed once for the module."""
    root = tmp_path_factory.mktemp("composite")
    write_session(root / "session")
    return compose(root / "session", root / "session.mp4")


def picture_at(composed: Composed, t: float) -> NDArray[np.uint8]:
    """The decoded picture on screen at time ``t``."""
    index = int(np.searchsorted(composed.times, t + 1e-3, side="right")) - 1
    return composed.pictures[index]


def half_mean(picture: NDArray[np.uint8], side: int) -> tuple[float, float, float]:
    """Mean Y, U, V of a half (0 left, 1 right) away from the overlay bands."""
    region = picture[:, 60:420, side * 640 : side * 640 + 640]
    y, u, v = (float(region[c].mean()) for c in range(3))
    return y, u, v


def tone_level(samples: NDArray[np.float32], hz: float) -> float:
    """Amplitude of a ``hz`` sine in ``samples``."""
    window = np.hanning(samples.size)
    phase = np.exp(-2j * np.pi * hz * np.arange(samples.size) / RATE)
    return float(2 * abs(np.sum(samples * window * phase)) / window.sum())


def test_one_h264_aac_file_of_the_whole_session(composed: Composed) -> None:
    result = composed.result
    with av.open(str(result.path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1280, 480)
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == RATE
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(6.0, abs=0.1)
    assert result.frames == len(composed.times) == 90
    assert composed.times[1] == pytest.approx(1 / FPS, abs=0.001)  # output starts at 0
    assert composed.sound.size / RATE == pytest.approx(6.0, abs=0.05)
    assert result.duration_s == pytest.approx(6.0)
    costs = (result.encode_ms_per_frame, result.compose_ms_per_frame, result.cpu_ms_per_frame)
    assert all(0 < cost < 100 for cost in costs) and 0 < result.wall_s < 30
    assert composed.progress == sorted(composed.progress) and composed.progress[-1] == 1.0
    assert [w.split(":")[0] for w in result.warnings] == ["agent-audio-0001.webm"]


@pytest.mark.parametrize("t", [0.5, 2.5, 5.5])
def test_kiosk_left_agent_right_black_before_the_agent_camera(composed: Composed, t: float) -> None:
    picture = picture_at(composed, t)
    left, right = half_mean(picture, 0), half_mean(picture, 1)
    assert closest_look(left, LOOKS) is KIOSK_LOOK
    assert left[1:] == pytest.approx(rgb_to_yuv(KIOSK_LOOK.colour)[1:], abs=3.0)
    bar = picture[:, 30:56, 640:].reshape(3, -1).mean(axis=1)  # under the band, above the picture
    assert bar == pytest.approx((16.0, 128.0, 128.0), abs=2.0)
    if t * 1000 < AGENT_VIDEO_MS:
        assert right == pytest.approx((16.0, 128.0, 128.0), abs=2.0)
    else:
        assert closest_look(right, LOOKS) is AGENT_LOOK
        assert right[1:] == pytest.approx(rgb_to_yuv(AGENT_LOOK.colour)[1:], abs=3.0)


def test_both_voices_are_mixed_where_each_speaks(composed: Composed) -> None:
    sound = composed.sound
    kiosk_only = sound[round(0.1 * RATE) : round(0.45 * RATE)]
    both = sound[2 * RATE : 5 * RATE]
    assert dominant_frequency(kiosk_only, RATE) == pytest.approx(440.0, abs=3.0)
    assert tone_level(kiosk_only, 660.0) < 0.01
    for hz in (440.0, 660.0):
        assert tone_level(both, hz) == pytest.approx(0.2 * 10 ** (-3 / 20), rel=0.15)
    assert tone_level(both, 1000.0) < 0.01
    # The agent's voice starts where its timestamps put it: AAC priming is not a delay.
    onset = round(AGENT_AUDIO_MS * RATE / 1000)
    before, after = sound[onset - 2400 : onset - 480], sound[onset + 960 : onset + 2880]
    assert tone_level(before, 660.0) < 0.01
    assert tone_level(after, 660.0) > 0.1


def test_workflow_steps_are_chapters_in_the_mp4_and_the_vtt(composed: Composed) -> None:
    result = composed.result
    expected = [(0.0, "identity_check: 身份核验"), (2.0, "consent: 客户同意")]
    expected.append((4.0, "terms_disclosure: Terms"))
    assert result.chapters == expected
    with av.open(str(result.path)) as container:
        chapters = container.chapters()
    assert [float(c["start"] * (c["time_base"] or 1)) for c in chapters] == [0.0, 2.0, 4.0]
    assert [c["metadata"]["title"] for c in chapters] == [title for _, title in expected]
    vtt = result.vtt_path.read_text("utf-8")
    assert result.vtt_path == result.path.with_suffix(".vtt")
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:00.000 --> 00:00:02.000\nidentity_check: 身份核验" in vtt
    assert "00:00:02.000 --> 00:00:04.000\nconsent: 客户同意" in vtt
    assert "00:00:04.000 --> 00:00:06.000\nterms_disclosure: Terms" in vtt


def test_overlay_text_is_burned_into_the_picture(composed: Composed) -> None:
    def bright(picture: NDArray[np.uint8], rows: slice) -> int:
        return int((picture[0, rows] > 150).sum())

    first, third = picture_at(composed, 1.5), picture_at(composed, 4.5)
    for picture in (first, third):
        assert bright(picture, slice(2, 22)) > 300  # date, time, session, branch, agent
        assert bright(picture, slice(458, 478)) > 100  # the workflow step
        assert bright(picture, slice(60, 420)) == 0
    assert not np.array_equal(first[0, 458:478], third[0, 458:478])  # another step
    assert not np.array_equal(first[0, 2:22], third[0, 2:22])  # another second


def test_a_copy_cut_at_60_percent_still_plays(composed: Composed, tmp_path: Path) -> None:
    data = composed.result.path.read_bytes()
    assert data.count(b"moof") >= 3  # a fragment per keyframe, every 2 s
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    frames = 0
    with av.open(str(cut)) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                frames += 1
        except av.FFmpegError:
            pass  # the cut fragment at the end
    assert frames >= 30


def test_a_missing_track_and_a_segment_cut_by_a_crash(tmp_path: Path) -> None:
    source = tmp_path / "session"
    write_session(source)
    (source / "agent-video-0000.webm").unlink()  # the agent's camera never came
    cut = source / "kiosk-video-0001.webm"  # from 3 s; the server died while writing it
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 4 // 10])
    composed = compose(source, tmp_path / "damaged.mp4", replace(INFO, steps=()))
    result = composed.result

    assert len(composed.times) == 90  # the sound still runs to 6 s
    for t, kiosk_shown in ((0.5, True), (3.5, True), (5.5, False)):
        picture = picture_at(composed, t)
        left = half_mean(picture, 0)
        if kiosk_shown:
            assert closest_look(left, LOOKS) is KIOSK_LOOK
        else:  # more than a second after the last frame before the cut
            assert left == pytest.approx((16.0, 128.0, 128.0), abs=2.0)
        assert half_mean(picture, 1) == pytest.approx((16.0, 128.0, 128.0), abs=2.0)
    assert result.chapters == []
    assert result.vtt_path.read_text("utf-8") == "WEBVTT\n"
    with av.open(str(result.path)) as container:
        assert container.chapters() == []


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="no readable segment"):
        compose_session(tmp_path, tmp_path / "out.mp4", INFO)


def test_info_needs_an_aware_start_and_a_known_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        CompositeInfo(session_id="s", branch="b", agent_id="a", started_at=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="Mars/X"):
        CompositeInfo(
            session_id="s", branch="b", agent_id="a", started_at=INFO.started_at, timezone="Mars/X"
        )
