"""Measuring the recorded files: frames dropped against what was sent, and A/V offsets.

Frames are counted per track over a window both builds share: from the track's first
recorded frame to ``GUARD_S`` before the hang-up; the sender sent every frame of the
epoch's grid in it. dualrec stores the frames as received, so each recorded frame is
identified exactly by its bytes (its place in the 2 s loop) and its approximate time:
the count does not depend on where the timeline put it, and how far the timeline moved
it is measured too. The plain build re-encodes into per-track MP4s starting at 0, so
its frames are placed by the file's first flash (video) or beep (audio), which the
sender emitted at a loop start, and its AAC audio is counted in 20 ms equivalents.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import av

from common import Party
from media.analysis import av_offsets, find_beeps, find_flashes, read_audio, read_video
from media.errors import RecordingError

from .loop_tracks import FRAME_RATES, LOOP_S, SAMPLE_RATE, SAMPLES, PartyLoop

#: Frames sent this close to the hang-up may be legitimately in flight: not counted.
GUARD_S = 0.3
#: Flash/beep pairing window: half the pulse period, so offsets are modulo 2 s.
PAIR_S = LOOP_S / 2
#: A/V offsets beyond this are listed with where they happened.
OUTLIER_MS = 40.0
READ_ERRORS = (RecordingError, OSError, av.FFmpegError)


@dataclass
class RunFigures:
    """Frames, A/V offsets and timeline figures of one run (one build, one N)."""

    sent: int = 0
    recorded: int = 0
    offsets_ms: list[float] = field(default_factory=list)
    unmatched_parties: int = 0
    #: dualrec only: how far the timeline moved a track's frames during a call, and how
    #: many frames it squeezed against the previous one (less than a quarter frame apart).
    timeline_spread_ms: float = 0.0
    squeezed: int = 0
    #: dualrec only: recorded frames whose bytes match no frame the sender sent.
    damaged: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        """Frames sent in the window but not in the recording."""
        return max(0, self.sent - self.recorded)

    def add(self, sent: int, recorded: int) -> None:
        """Add one track's counts."""
        self.sent += sent
        self.recorded += recorded


@dataclass
class PartyMedia:
    """One party's recorded tracks, read back: frame times and pulses."""

    video_times: list[float] = field(default_factory=list)
    flashes: list[float] = field(default_factory=list)
    beeps: list[float] = field(default_factory=list)


def read_party(
    figures: RunFigures, label: str, video_paths: list[Path], audio_paths: list[Path]
) -> PartyMedia:
    """Decode a party's tracks and add its A/V offsets; an unreadable track stays empty."""
    media = PartyMedia()
    try:
        video = read_video(video_paths)
        media.video_times, media.flashes = [float(t) for t in video.times], find_flashes(video)
    except READ_ERRORS as exc:
        figures.problems.append(f"{label} video: {exc}")
    try:
        media.beeps = find_beeps(read_audio(audio_paths))
    except READ_ERRORS as exc:
        figures.problems.append(f"{label} audio: {exc}")
    paired = 0
    outliers: list[tuple[float, float]] = []
    for flash in media.flashes:
        for offset in av_offsets([flash], media.beeps, max_pair_s=PAIR_S):
            paired += 1
            figures.offsets_ms.append(offset * 1000)
            if abs(offset) * 1000 > OUTLIER_MS:
                outliers.append((offset * 1000, flash))
    if outliers:
        worst, at = max(outliers, key=lambda o: abs(o[0]))
        figures.problems.append(
            f"{label}: A/V beyond {OUTLIER_MS:g} ms at {len(outliers)} of {paired} pulses, "
            f"worst {worst:+.0f} ms at {at:.2f} s into the file"
        )
    if not paired:
        figures.unmatched_parties += 1
        figures.problems.append(
            f"{label}: no flash/beep pair ({len(media.flashes)} flashes, {len(media.beeps)} beeps)"
        )
    return media


def _packets(paths: list[Path]) -> list[tuple[float, float, bytes]]:
    """(time, duration, data) of every packet of the files' first stream, undecoded."""
    packets = []
    for path in paths:
        with av.open(str(path)) as container:
            for packet in container.demux(container.streams[0]):
                # Negative times are the AAC encoder's priming, not media.
                if packet.pts is None or packet.time_base is None or packet.pts < 0:
                    continue
                duration = float((packet.duration or 0) * packet.time_base)
                packets.append((float(packet.pts * packet.time_base), duration, bytes(packet)))
    return sorted(packets, key=lambda p: p[0])


def _last_index(sent: dict[str, Any], epoch: float, end_abs: float) -> int:
    rate = FRAME_RATES[str(sent["kind"])]
    return min(math.floor((end_abs - epoch) * rate), int(sent["last_index"]))


def _sent_by_track(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Sender figures per (session, party, kind)."""
    found = {}
    for record in records:
        for sent in record.get("sent", []):
            if record.get("session_id") and sent["first_index"] is not None:
                found[(record["session_id"], sent["party"], sent["kind"])] = sent
    return found


def _lost(
    figures: RunFigures, label: str, sent: dict[str, Any] | None, result: dict[str, Any]
) -> None:
    """A track with no readable recording: what it sent while all calls ran is lost."""
    figures.problems.append(f"{label}: no readable recording")
    start, hangup = result["gate"]["released_at"], result.get("hangup_at")
    if sent is None or start is None or hangup is None:
        return
    rate, epoch = FRAME_RATES[str(sent["kind"])], float(result["epoch"])
    lo = max(round((start - epoch) * rate), int(sent["first_index"]))
    figures.sent += max(0, _last_index(sent, epoch, hangup - GUARD_S) - lo + 1)


def count_identified(
    figures: RunFigures,
    packets: list[tuple[float, float, bytes]],
    loop: list[bytes],
    sent: dict[str, Any],
    started: float,
    epoch: float,
    end_abs: float,
) -> bool:
    """Count a dualrec track's frames, each identified by its bytes and rough time."""
    rate = FRAME_RATES[str(sent["kind"])]
    position = {data: i for i, data in enumerate(loop)}
    placed: list[tuple[int, float]] = []
    for t, _, data in packets:
        pos = position.get(data)
        if pos is None:
            figures.damaged += 1  # not a frame the sender sent: not counted as recorded
            continue
        estimate = (started + t - epoch) * rate
        index = round((estimate - pos) / len(loop)) * len(loop) + pos
        placed.append((index, started + t))
    if not placed:
        return False
    lo = max(placed[0][0], int(sent["first_index"]))
    hi = _last_index(sent, epoch, end_abs)
    figures.add(max(0, hi - lo + 1), len({i for i, _ in placed if lo <= i <= hi}))
    errors = [at - (epoch + i / rate) for i, at in placed]
    figures.timeline_spread_ms = max(figures.timeline_spread_ms, 1000 * (max(errors) - min(errors)))
    times = [at for _, at in placed]
    figures.squeezed += sum(1 for a, b in itertools.pairwise(times) if b - a < 0.25 / rate)
    return True


def analyse_dualrec(
    result: dict[str, Any], data_dir: Path, loops: dict[str, PartyLoop]
) -> RunFigures:
    """Frames and A/V offsets of a dualrec run, from the WebM segments."""
    figures = RunFigures()
    epoch = float(result["epoch"])
    sent_by = _sent_by_track(result["records"])
    for record in result["records"]:
        sid, hangup = record.get("session_id"), record.get("hangup_at")
        if record["role"] != "agent" or not sid or hangup is None:
            continue
        folder = data_dir / "recordings" / sid
        try:
            manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
            started = datetime.fromisoformat(manifest["started_at"]).timestamp()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            figures.problems.append(f"{sid[:8]}: no session start in the manifest ({exc})")
            continue
        for party in Party:
            label = f"{sid[:8]} {party}"
            paths = {k: sorted(folder.glob(f"{party}-{k}-*.webm")) for k in ("video", "audio")}
            read_party(figures, label, paths["video"], paths["audio"])
            for kind in ("video", "audio"):
                sent = sent_by.get((sid, party, kind))
                try:
                    packets = _packets(paths[kind])
                except READ_ERRORS as exc:
                    figures.problems.append(f"{label} {kind}: {exc}")
                    packets = []
                loop = loops[party].video if kind == "video" else loops[party].audio
                if sent is None or not count_identified(
                    figures, packets, loop, sent, started, epoch, hangup - GUARD_S
                ):
                    _lost(figures, f"{label} {kind}", sent, {**result, "hangup_at": hangup})
    return figures


def analyse_plain(result: dict[str, Any], data_dir: Path) -> RunFigures:
    """Frames and A/V offsets of a plain run, from the per-track MP4 files."""
    figures = RunFigures()
    epoch = float(result["epoch"])
    sent_by = _sent_by_track(result["records"])
    for record in result["records"]:
        sid, hangup = record["session_id"], record.get("hangup_at")
        if hangup is None:
            continue
        folder = data_dir / "recordings" / sid
        for party in Party:
            label = f"{sid[:9]} {party}"
            audio_path = folder / f"{party}-audio.mp4"
            media = read_party(figures, label, [folder / f"{party}-video.mp4"], [audio_path])
            try:
                audio = [(t, d) for t, d, _ in _packets([audio_path])]
            except READ_ERRORS:
                audio = []
            for kind, times, marks in (
                ("video", media.video_times, media.flashes),
                ("audio", [t for t, _ in audio], media.beeps),
            ):
                sent = sent_by.get((sid, party, kind))
                if sent is None or not times or not marks:
                    _lost(figures, f"{label} {kind}", sent, {**result, "hangup_at": hangup})
                    continue
                first_abs = _placed_by_mark(times[0], marks[0], sent, epoch)
                end_abs = hangup - GUARD_S
                if kind == "video":
                    figures.add(*_count_grid(times, sent, epoch, first_abs, end_abs))
                else:
                    figures.add(*_count_aac(audio, sent, epoch, first_abs, end_abs))
    return figures


def _count_grid(
    times: list[float], sent: dict[str, Any], epoch: float, first_abs: float, end_abs: float
) -> tuple[int, int]:
    """(sent, recorded) of a track whose file times are exact (RTP-derived) frame times."""
    rate = FRAME_RATES[str(sent["kind"])]
    origin = round((first_abs - epoch) * rate)
    lo, hi = max(origin, int(sent["first_index"])), _last_index(sent, epoch, end_abs)
    indices = {origin + round((t - times[0]) * rate) for t in times}
    return max(0, hi - lo + 1), sum(1 for i in indices if lo <= i <= hi)


def _count_aac(
    packets: list[tuple[float, float]],
    sent: dict[str, Any],
    epoch: float,
    first_abs: float,
    end_abs: float,
) -> tuple[int, int]:
    """AAC frames are 1024 samples: recorded audio is counted in 20 ms equivalents."""
    rate = FRAME_RATES["audio"]
    lo = max(round((first_abs - epoch) * rate), int(sent["first_index"]))
    hi = _last_index(sent, epoch, end_abs)
    if hi < lo:
        return 0, 0
    start, begin, limit = packets[0][0], epoch + lo / rate, epoch + (hi + 1) / rate
    seconds = 0.0
    for t, duration in packets:
        at = first_abs + (t - start)
        seconds += max(0.0, min(at + duration, limit) - max(at, begin))
    return hi - lo + 1, round(seconds * SAMPLE_RATE / SAMPLES)


def _placed_by_mark(first: float, mark: float, sent: dict[str, Any], epoch: float) -> float:
    """Wall-clock time of a file's first frame, from its first flash or beep (a loop start)."""
    rate = FRAME_RATES[str(sent["kind"])]
    began = epoch + int(sent["first_index"]) / rate
    # The earliest loop start that puts the file's first frame after the sender began.
    k = math.ceil((began - 0.1 - epoch + mark - first) / LOOP_S)
    return epoch + k * LOOP_S - (mark - first)


def analyse(build: str, result: dict[str, Any], data_dir: str, loops_path: str) -> RunFigures:
    """Analyse one run's recordings (runs in a worker process)."""
    if build == "dualrec":
        loops: dict[str, PartyLoop] = pickle.loads(Path(loops_path).read_bytes())
        return analyse_dualrec(result, Path(data_dir), loops)
    return analyse_plain(result, Path(data_dir))


class Analysed(Protocol):
    """A run (or a node of one) whose recordings are analysed: its figures, or why not."""

    figures: RunFigures | None
    notes: list[str]


def analyse_in_pool(
    jobs: Sequence[tuple[Analysed, str, dict[str, Any], str]], loops: Path, timeout_s: float
) -> None:
    """``analyse`` each (target, build, senders, data_dir), two at a time in worker
    processes, setting each target's figures; a failure is noted on it, not fatal."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        futures = {
            pool.submit(analyse, build, senders, data_dir, str(loops)): target
            for target, build, senders, data_dir in jobs
        }
        for future in concurrent.futures.as_completed(futures, timeout=timeout_s):
            target = futures[future]
            try:
                target.figures = future.result()
            except Exception as exc:  # an analysis failure is reported, not fatal
                target.notes.append(f"analysis failed: {type(exc).__name__}: {exc}")
