"""Reading real WebM files back: flash/beep offsets, party colour and tone, file joins."""

from __future__ import annotations

import fractions
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from common import rgb_to_yuv
from media.analysis import (
    AudioTrace,
    VideoTrace,
    av_offsets,
    closest_look,
    dominant_frequency,
    find_beeps,
    find_flashes,
    read_audio,
    read_video,
)
from media.errors import RecordingError
from synthetic import (
    AGENT_LOOK,
    KIOSK_LOOK,
    PartyLook,
    PulseClock,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
)

OFFSET_S = 5.0  # container time of the first video frame
AUDIO_LAG_S = 0.030  # audio written this much later than the video it belongs with
PERIOD_S = 1.0
LOOKS = [pytest.param(KIOSK_LOOK, id="kiosk"), pytest.param(AGENT_LOOK, id="agent")]


@dataclass
class Party:
    """A party's synthetic tracks, and where their media lands in the files."""

    clock: PulseClock
    video: SyntheticVideoTrack
    audio: SyntheticAudioTrack

    def container_time(self, capture_time: float, lag: float = 0.0) -> float:
        """Container time of media captured at `capture_time`."""
        return OFFSET_S + lag + capture_time - self.video.capture_time(0)

    def pulses(self, seconds: float) -> list[float]:
        """Container times of the video's pulses in its first `seconds`."""
        t0 = self.video.capture_time(0)
        first = self.clock.next_pulse(t0)
        count = int((t0 + seconds - first) // PERIOD_S) + 1
        return [self.container_time(first + k * PERIOD_S) for k in range(count)]


def make_party(look: PartyLook) -> Party:
    """Tracks on a clock whose next pulse is half a period after they start."""
    clock = PulseClock(period_s=PERIOD_S, epoch=time.time() - PERIOD_S / 2)
    video = SyntheticVideoTrack(label=look.label, colour=look.colour, pulse=clock)
    audio = SyntheticAudioTrack(tone_hz=look.tone_hz, pulse=clock)
    return Party(clock, video, audio)


def write_webm(path: Path, party: Party, video_range: range, audio_range: range) -> None:
    """Encode frames of the party's timeline to VP8 + Opus WebM, audio lagging by 30 ms."""
    container = av.open(str(path), "w", format="webm")
    video = container.add_stream("libvpx", rate=15, options={"deadline": "realtime"})
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    video.bit_rate = 1_000_000
    video.codec_context.time_base = fractions.Fraction(1, 90000)
    audio = container.add_stream("libopus", rate=48000, layout="mono")
    video_shift = round(party.container_time(party.video.capture_time(0)) * 90000)
    audio_shift = round(party.container_time(party.audio.capture_time(0), AUDIO_LAG_S) * 48000)

    frames: list[tuple[float, av.VideoFrame | av.AudioFrame]] = []
    for n in video_range:
        frame = party.video.make_frame(n)
        assert frame.pts is not None
        frame.pts += video_shift
        frames.append((party.video.capture_time(n), frame))
    for n in audio_range:
        sound = party.audio.make_frame(n)
        assert sound.pts is not None
        sound.pts += audio_shift
        frames.append((party.audio.capture_time(n * 960), sound))
    frames.sort(key=lambda item: item[0])
    for _, media in frames:
        packets = video.encode(media) if isinstance(media, av.VideoFrame) else audio.encode(media)
        container.mux(packets)
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
    container.close()


def steady_mean_yuv(trace: VideoTrace, flashes: list[float]) -> tuple[float, float, float]:
    """Mean Y, U, V over the frames that are not flashes."""
    keep = ~np.isin(trace.times, flashes)
    return (
        float(trace.mean_y[keep].mean()),
        float(trace.mean_u[keep].mean()),
        float(trace.mean_v[keep].mean()),
    )


def tone_between_beeps(trace: AudioTrace, beeps: list[float]) -> float:
    """Dominant frequency of 0.3 s of audio starting 0.2 s after the first beep."""
    return dominant_frequency(trace.between(beeps[0] + 0.2, beeps[0] + 0.5), trace.sample_rate)


@pytest.mark.parametrize("look", LOOKS)
def test_offsets_colour_and_tone_are_recovered_from_webm(look: PartyLook, tmp_path: Path) -> None:
    party = make_party(look)
    path = tmp_path / "call.webm"
    write_webm(path, party, range(4 * 15), range(4 * 50))

    video = read_video([path])
    audio = read_audio([path])

    assert (len(video), video.width, video.height) == (60, 640, 480)
    assert video.times[0] == pytest.approx(OFFSET_S, abs=0.001)  # not re-based to 0
    assert audio.sample_rate == 48000
    audio_start = party.container_time(party.audio.capture_time(0), AUDIO_LAG_S)
    assert audio.start == pytest.approx(audio_start, abs=0.001)
    assert audio.end - audio.start == pytest.approx(4.0, abs=0.025)

    pulses = party.pulses(4.0)
    flashes = find_flashes(video)
    beeps = find_beeps(audio)
    assert len(pulses) == 4
    assert flashes == pytest.approx(pulses, abs=0.001)
    assert beeps == pytest.approx([p + AUDIO_LAG_S for p in pulses], abs=0.005)
    offsets = av_offsets(flashes, beeps)
    assert len(offsets) == 4
    assert offsets == pytest.approx([AUDIO_LAG_S] * 4, abs=0.010)

    mean_yuv = steady_mean_yuv(video, flashes)
    assert closest_look(mean_yuv, [KIOSK_LOOK, AGENT_LOOK]) is look
    assert mean_yuv[1:] == pytest.approx(rgb_to_yuv(look.colour)[1:], abs=3.0)
    assert tone_between_beeps(audio, beeps) == pytest.approx(look.tone_hz, abs=2.0)


def test_consecutive_files_join_on_their_timestamps(tmp_path: Path) -> None:
    party = make_party(KIOSK_LOOK)
    first, second = tmp_path / "part-0.webm", tmp_path / "part-1.webm"
    write_webm(first, party, range(30), range(100))  # 2 s
    write_webm(second, party, range(33, 60), range(110, 200))  # after a 0.2 s gap

    video = read_video([first, second])
    audio = read_audio([first, second])

    assert len(video) == 57
    assert video.times[30] - video.times[29] == pytest.approx(4 / 15, abs=0.002)
    assert audio.end - audio.start == pytest.approx(4.0, abs=0.025)
    gap_start = party.container_time(party.audio.capture_time(100 * 960), AUDIO_LAG_S)
    gap = audio.between(gap_start + 0.005, gap_start + 0.195)
    assert gap.size > 0 and not gap.any()
    offsets = av_offsets(find_flashes(video), find_beeps(audio))
    assert len(offsets) == 4
    assert offsets == pytest.approx([AUDIO_LAG_S] * 4, abs=0.010)


def test_find_flashes_ignores_a_change_of_scene() -> None:
    times = np.arange(60) / 15
    luma = np.where(np.arange(60) < 30, 90.0, 136.0)
    luma[[10, 45]] = 235.0
    chroma = np.full(60, 128.0)
    trace = VideoTrace(times, luma, chroma, chroma, 640, 480)

    assert find_flashes(trace) == pytest.approx([10 / 15, 45 / 15])


def test_find_beeps_refines_the_onset_to_a_millisecond() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    samples = 0.2 * np.sin(2 * np.pi * 440 * t)
    onset = 12345
    burst = slice(onset, onset + 4800)
    samples[burst] = 0.5 * np.sin(2 * np.pi * 1000 * (t[burst] - t[onset]))
    trace = AudioTrace(samples.astype(np.float32), rate, 7.0)

    assert find_beeps(trace) == pytest.approx([7.0 + onset / rate], abs=0.001)
    assert find_beeps(trace, freq=1500.0) == []


def test_av_offsets_pair_each_flash_with_the_nearest_beep() -> None:
    assert av_offsets([1.0, 3.0, 5.0], [1.02, 2.9, 3.05, 7.0]) == pytest.approx([0.02, 0.05])


def test_rgb_to_yuv_is_bt601_limited_range() -> None:
    assert rgb_to_yuv((255, 255, 255)) == pytest.approx((235.0, 128.0, 128.0))
    assert rgb_to_yuv((0, 0, 0)) == pytest.approx((16.0, 128.0, 128.0))


def test_unreadable_file_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.webm"
    path.write_bytes(b"not a webm file")

    with pytest.raises(RecordingError):
        read_video([path])
    with pytest.raises(RecordingError):
        read_audio([tmp_path / "missing.webm"])
