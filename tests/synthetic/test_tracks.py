"""The synthetic tracks: format, colour, pacing, tone, and flash/beep alignment."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from numpy.typing import NDArray

from common import rgb_to_yuv
from media.analysis import dominant_frequency
from synthetic import (
    AGENT_LOOK,
    KIOSK_LOOK,
    TONE_AMPLITUDE,
    PartyLook,
    PulseClock,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    synthetic_tracks,
)

LOOKS = [pytest.param(KIOSK_LOOK, id="kiosk"), pytest.param(AGENT_LOOK, id="agent")]


def plane_means(frame: av.VideoFrame) -> tuple[float, float, float]:
    """Mean Y, U, V of a yuv420p frame."""
    array = frame.to_ndarray()
    h = frame.height
    y = array[:h]
    u = array[h : h * 5 // 4]
    v = array[h * 5 // 4 :]
    return float(y.mean()), float(u.mean()), float(v.mean())


def is_flash(frame: av.VideoFrame) -> bool:
    """Whether a frame is entirely the flash white."""
    array = frame.to_ndarray()
    h = frame.height
    return bool((array[:h] == 235).all() and (array[h:] == 128).all())


def pts(frame: av.VideoFrame | av.AudioFrame) -> int:
    """A frame's pts, which the tracks always set."""
    assert frame.pts is not None
    return frame.pts


def pcm(frames: list[av.AudioFrame]) -> NDArray[np.int16]:
    """Samples of consecutive s16 mono frames."""
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def beep_onsets(samples: NDArray[np.int16]) -> list[int]:
    """Indices where the beep (louder than the tone) starts, a few samples late."""
    # The tone stays under -14 dBFS; the beep's -6 dBFS sine passes 0.3 of full scale
    # within 5 samples of its start and again every half cycle.
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 0.3 * 32767)
    return [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > 480]


@pytest.mark.parametrize("look", LOOKS)
async def test_video_frames_are_paced_yuv420p_in_the_party_colour(look: PartyLook) -> None:
    track = SyntheticVideoTrack(label=look.label, colour=look.colour)
    began = time.time()
    frames = [await track.recv() for _ in range(4)]
    elapsed = time.time() - began
    track.stop()

    assert elapsed >= 3 / 15 - 0.005
    assert track.kind == "video"
    for frame in frames:
        assert (frame.format.name, frame.width, frame.height) == ("yuv420p", 640, 480)
        assert frame.time_base == fractions.Fraction(1, 90000)
    assert [pts(f) for f in frames] == [0, 6000, 12000, 18000]
    expected_y, expected_u, expected_v = rgb_to_yuv(look.colour)
    for frame in frames:
        y, u, v = plane_means(frame)
        assert abs(u - expected_u) < 1.0
        assert abs(v - expected_v) < 1.0
        assert abs(y - expected_y) < 15.0  # the bar and the text move luma only


async def test_audio_frames_are_paced_s16_mono_20ms() -> None:
    track = SyntheticAudioTrack(tone_hz=440.0)
    began = time.time()
    frames = [await track.recv() for _ in range(4)]
    elapsed = time.time() - began
    track.stop()

    assert elapsed >= 3 * 0.020 - 0.005
    assert track.kind == "audio"
    for frame in frames:
        assert (frame.format.name, frame.layout.name) == ("s16", "mono")
        assert (frame.samples, frame.sample_rate) == (960, 48000)
        assert frame.time_base == fractions.Fraction(1, 48000)
    assert [pts(f) for f in frames] == [0, 960, 1920, 2880]


@pytest.mark.parametrize("look", LOOKS)
def test_audio_tone_is_the_party_frequency_at_minus_14_dbfs(look: PartyLook) -> None:
    track = SyntheticAudioTrack(tone_hz=look.tone_hz)
    samples = pcm([track.make_frame(n) for n in range(25)])

    assert dominant_frequency(samples.astype(np.float64), 48000) == pytest.approx(
        look.tone_hz, abs=1.0
    )
    assert np.abs(samples).max() == pytest.approx(TONE_AMPLITUDE * 32767, rel=0.01)


async def test_stopped_tracks_raise_media_stream_error() -> None:
    audio, video = synthetic_tracks("KIOSK", KIOSK_LOOK.colour, 440.0, pulse=False)
    audio.stop()
    video.stop()
    with pytest.raises(MediaStreamError):
        await audio.recv()
    with pytest.raises(MediaStreamError):
        await video.recv()


async def test_flash_and_beep_start_at_the_same_capture_instant_in_real_time() -> None:
    # The next pulse 0.1 s ahead: the tracks start between beeps, and see about three pulses.
    clock = PulseClock(period_s=0.4, epoch=time.time() + 0.1)
    audio = SyntheticAudioTrack(tone_hz=660.0, pulse=clock)
    video = SyntheticVideoTrack(label="AGENT", colour=AGENT_LOOK.colour, pulse=clock)

    async def take_video() -> list[av.VideoFrame]:
        return [await video.recv() for _ in range(16)]

    async def take_audio() -> list[av.AudioFrame]:
        return [await audio.recv() for _ in range(55)]

    video_frames, audio_frames = await asyncio.gather(take_video(), take_audio())
    audio.stop()
    video.stop()

    flashes = [video.capture_time(pts(f) // 6000) for f in video_frames if is_flash(f)]
    first, last = video.capture_time(0), video.capture_time(15)
    pulses = [clock.epoch + k * clock.period_s for k in range(-3, 4)]
    assert flashes == pytest.approx(
        [p for p in pulses if first - 1e-6 <= p <= last + 1e-6], abs=1e-6
    )
    assert len(flashes) >= 2
    beeps = [audio.capture_time(i) for i in beep_onsets(pcm(audio_frames))]
    for flash in flashes:
        nearest = min(beeps, key=lambda beep: abs(beep - flash))
        assert 0 <= nearest - flash < 0.001


def test_pulses_repeat_every_two_seconds_by_default() -> None:
    audio, video = synthetic_tracks(
        "KIOSK", KIOSK_LOOK.colour, 440.0, pulse=True, fps=15, size=(320, 240)
    )
    assert audio.pulse is not None and audio.pulse is video.pulse
    assert audio.pulse.period_s == 2.0

    video_frames = [video.make_frame(n) for n in range(5 * 15)]
    audio_frames = [audio.make_frame(n) for n in range(5 * 50)]

    assert (video_frames[0].width, video_frames[0].height) == (320, 240)
    flash_indices = [n for n, f in enumerate(video_frames) if is_flash(f)]
    assert np.diff(flash_indices).tolist() == [30] * (len(flash_indices) - 1)
    assert len(flash_indices) >= 2
    flashes = [video.capture_time(n) for n in flash_indices]
    beeps = [audio.capture_time(i) for i in beep_onsets(pcm(audio_frames))]
    # A beep cut by the start of the audio would not be an onset: pair from the flashes.
    for flash in flashes:
        nearest = min(beeps, key=lambda beep: abs(beep - flash))
        assert 0 <= nearest - flash < 0.001


def test_pulse_clock_schedule() -> None:
    clock = PulseClock(period_s=0.5, epoch=1000.0)

    assert clock.next_pulse(1000.2) == pytest.approx(1000.5)
    assert clock.next_pulse(1000.5) == pytest.approx(1000.5)
    assert clock.in_flash(1001.0, 1 / 15)
    assert clock.in_flash(1001.05, 1 / 15)
    assert not clock.in_flash(1001.07, 1 / 15)
    assert not clock.in_flash(1000.99, 1 / 15)
    mask, wave = clock.beep_samples(1000.5 - 10 / 48000, 960, 48000)
    assert not mask[:10].any() and mask[10:].all()
    assert wave[10] == pytest.approx(0.0, abs=1e-3)
    assert np.abs(wave).max() > 0.45
    with pytest.raises(ValueError, match="period"):
        PulseClock(period_s=0.05)
