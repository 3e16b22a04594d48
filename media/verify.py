"""Reading a recording back with PyAV: streams, durations, frames, holes and damage."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
from av.video.stream import VideoStream
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common import CHAIN_FILE, MANIFEST_FILE, MediaKind, Party

from .chain import ChainLog
from .holes import Hole, audio_holes, opus_duration, video_holes
from .integrity import check_integrity

#: Holes listed on one line of the report for people.
HOLES_A_LINE = 6
SEGMENT_RE = re.compile(r"^(kiosk|agent)-(audio|video)-(\d{4})\.webm$")


@dataclass
class TrackReport:
    """One track (a party's audio or video) across its segments."""

    party: str
    kind: str
    codec: str = ""
    segments: int = 0
    frames: int = 0
    start_s: float | None = None
    end_s: float | None = None
    #: Every stretch without a frame (media.holes): a lost 20 ms audio frame is one.
    holes: list[Hole] = field(default_factory=list)
    #: The holes' total length (seconds), and its share of the track's duration.
    missing_s: float = 0.0
    missing_share: float = 0.0
    width: int | None = None
    height: int | None = None

    @property
    def duration_s(self) -> float:
        """From the first frame to the end of the last."""
        if self.start_s is None or self.end_s is None:
            return 0.0
        return self.end_s - self.start_s

    def find_holes(self, frames: list[tuple[float, float]]) -> None:
        """Find the holes among ``frames`` (start, duration; all segments, in order)."""
        times = [at for at, _ in frames]
        if self.kind == "audio":
            self.holes = audio_holes(times, [duration for _, duration in frames])
        else:
            self.holes = video_holes(times)
        self.missing_s = round(sum(hole.length for hole in self.holes), 3)
        duration = self.duration_s
        self.missing_share = round(self.missing_s / duration, 4) if duration > 0 else 0.0


@dataclass
class VerifyReport:
    """What ``dualrec verify`` found."""

    path: str
    session_id: str | None = None
    closed: bool = False
    signed_by: str | None = None
    tracks: list[TrackReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A complete recording with no problem."""
        return self.closed and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        data = asdict(self)
        for track, t in zip(data["tracks"], self.tracks, strict=True):
            track["duration_s"] = round(t.duration_s, 3)
        data["ok"] = self.ok
        return data

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=2)


def _read_segment(
    path: Path, track: TrackReport, problems: list[str], times: list[tuple[float, float]]
) -> int:
    """Decode one segment into ``track`` and each frame's start and duration into
    ``times``; returns its frame count."""
    frames = 0
    undecodable: list[float] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams:
                problems.append(f"{path.name}: no stream")
                return 0
            stream = container.streams[0]
            track.codec = stream.codec_context.name
            if isinstance(stream, VideoStream):
                track.width, track.height = stream.codec_context.width, stream.codec_context.height
            step = 0.0
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                at = float(packet.pts * packet.time_base)
                try:
                    packet.decode()
                except av.FFmpegError:
                    # A damaged frame: say so, and go on to see how much is affected.
                    undecodable.append(at)
                if track.kind == "audio":
                    step = opus_duration(bytes(packet)) or step
                else:
                    step = float((packet.duration or 0) * packet.time_base) or step
                if track.start_s is None:
                    track.start_s = at
                times.append((at, step))
                track.end_s = at + step
                frames += 1
    except (av.FFmpegError, OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable after {frames} frames ({exc})")
    if undecodable:
        problems.append(
            f"{path.name}: {len(undecodable)} frames could not be decoded "
            f"(first at {undecodable[0]:.2f} s)"
        )
    if frames == 0:
        problems.append(f"{path.name}: no frame")
    track.frames += frames
    track.segments += 1
    return frames


def verify_recording(path: Path, trusted_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Check a session's recording folder (or one segment file) and report on it.

    With ``trusted_key`` the manifest must be signed by that key (the server's), not
    merely by the key embedded in it.
    """
    report = VerifyReport(path=str(path))
    if path.is_file():
        match = SEGMENT_RE.match(path.name)
        party, kind = match.groups()[:2] if match else ("?", "video")
        track = TrackReport(party, kind)
        times: list[tuple[float, float]] = []
        _read_segment(path, track, report.problems, times)
        track.find_holes(times)
        report.tracks.append(track)
        report.closed = True
        return report
    if not path.is_dir():
        report.problems.append(f"no recording at {path}")
        return report
    report.session_id = path.name
    files = sorted(p for p in path.iterdir() if SEGMENT_RE.match(p.name))
    # Tamper evidence: the signed manifest and the hash chain (media.integrity).
    integrity = check_integrity(path, trusted_public_key=trusted_key)
    report.session_id = integrity.session_id or report.session_id
    report.closed = integrity.signed
    report.signed_by = integrity.key_id
    report.problems.extend(integrity.problems)
    expected: dict[str, dict[str, Any]] = {}
    chained = (
        {e.file for e in ChainLog.load(path / CHAIN_FILE).entries}
        if (path / CHAIN_FILE).is_file()
        else set()
    )
    if integrity.signed:
        manifest = json.loads((path / MANIFEST_FILE).read_text("utf-8"))
        expected = {s["file"]: s for s in manifest.get("segments", [])}
    tracks: dict[tuple[str, str], TrackReport] = {
        (p, k): TrackReport(p, k) for p in Party for k in MediaKind
    }
    frames_at: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in tracks}
    for file in files:
        match = SEGMENT_RE.match(file.name)
        assert match is not None
        found: list[str] = []
        key = (match[1], match[2])
        frames = _read_segment(file, tracks[key], found, frames_at[key])
        if frames == 0 and not report.closed and file.name not in chained:
            # Opened just as the server stopped: nothing was lost in it, and that it
            # is not chained needs no second word.
            found = [f"{file.name}: empty (opened as the recording stopped)"]
            report.problems = [
                p for p in report.problems if not p.startswith(f"added: {file.name} ")
            ]
        report.problems.extend(found)
        entry = expected.get(file.name)
        if entry is not None and frames < entry["frames"]:
            report.problems.append(f"{file.name}: truncated ({frames} of {entry['frames']} frames)")
    for key, track in tracks.items():
        track.find_holes(frames_at[key])
        if track.segments == 0:
            report.problems.append(f"{track.party} {track.kind}: no recording")
        report.tracks.append(track)
    return report


def format_report(report: VerifyReport) -> str:
    """The report as a table for people, every hole of every track listed after it."""
    lines = [f"recording {report.session_id or report.path}"]
    lines.append(
        f"  {'track':<13}{'codec':<7}{'segments':>9}{'frames':>8}{'from s':>9}"
        f"{'to s':>9}{'length s':>10}{'holes':>7}{'missing':>9}"
    )
    for t in report.tracks:
        lines.append(
            f"  {t.party + ' ' + t.kind:<13}{t.codec:<7}{t.segments:>9}{t.frames:>8}"
            f"{t.start_s or 0:>9.2f}{t.end_s or 0:>9.2f}{t.duration_s:>10.2f}"
            f"{len(t.holes):>7}{t.missing_share:>9.1%}"
        )
        if t.holes:
            lines.append(
                f"      {t.party} {t.kind}: {len(t.holes)} holes, {t.missing_s:.3f} s missing "
                "(start s +length s):"
            )
        # Every hole, a few a line: a lost packet must not hide in a summary.
        texts = [f"{hole.at:.3f} +{hole.length:.3f}" for hole in t.holes]
        for i in range(0, len(texts), HOLES_A_LINE):
            lines.append("        " + ", ".join(texts[i : i + HOLES_A_LINE]))
    for problem in report.problems:
        lines.append(f"  PROBLEM: {problem}")
    if report.signed_by and report.ok:
        lines.append(f"  signed by key {report.signed_by}; hash chain intact")
    lines.append("  OK: complete and readable" if report.ok else "  NOT OK")
    return "\n".join(lines)
