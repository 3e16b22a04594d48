"""A finished recording part read back for inspection: its steps, pictures and sound.

The part's folder is read as ``dualrec verify`` reads it (``media.verify``'s segment
names, ``media.analysis``'s audio reader); the steps and evidence come from its signed
manifest, which carries the session's workflow log with each transition's offset into
the part's recording. Video is sampled (a few grey pictures a second, made small): the
checks need who is in the picture, not every frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from common import MANIFEST_FILE, MediaKind, Party
from media.analysis import AudioTrace, read_audio
from media.verify import SEGMENT_RE

from .errors import NotInspectable

#: Pictures kept per second of video, and their width (height follows the aspect).
SAMPLE_FPS = 4.0
SAMPLE_WIDTH = 320


@dataclass(frozen=True, slots=True)
class StepSpan:
    """One workflow step as it ran in the part: from when to when (ms)."""

    name: str
    start_ms: int
    end_ms: int
    #: The event that left the step (None: the part ended in it).
    left_by: str | None = None


@dataclass(frozen=True, eq=False)
class Pictures:
    """A party's video sampled: times (ms) and small grey pictures."""

    times_ms: NDArray[np.int64]
    frames: tuple[NDArray[np.uint8], ...]
    #: The last frame's time plus one frame: where the video ends.
    end_ms: int

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def interval_ms(self) -> int:
        """The time one sample stands for."""
        return round(1000 / SAMPLE_FPS)


@dataclass(frozen=True, eq=False)
class RecordedPart:
    """What inspection needs of one closed recording part."""

    folder: Path
    manifest: dict[str, Any]
    steps: tuple[StepSpan, ...]
    pictures: dict[Party, Pictures]
    sound: dict[Party, AudioTrace]
    end_ms: int

    @property
    def session_id(self) -> str:
        """The session the part belongs to."""
        return str(self.manifest["session_id"])

    @property
    def part(self) -> int:
        """The part's number (1 for an uninterrupted call)."""
        return int(self.manifest.get("part") or 1)

    @property
    def flow(self) -> str:
        """The name of the session's business flow."""
        return str(self.manifest["flow"])

    def evidence(self) -> list[dict[str, Any]]:
        """This part's evidence rows as the manifest lists them, in order."""
        return sorted(self.manifest.get("evidence", []), key=lambda e: e["seq"])

    def evidence_record(self, name: str) -> dict[str, Any] | None:
        """A JSON evidence record of this part, read; None if absent or not JSON."""
        path = self.folder / name
        if path.suffix != ".json" or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The part's signed manifest as data; NotInspectable if the part is not closed."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise NotInspectable(folder, f"no {MANIFEST_FILE}: the part is not closed") from None
    except (OSError, ValueError) as exc:
        raise NotInspectable(folder, f"{MANIFEST_FILE} unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or "session_id" not in manifest or "flow" not in manifest:
        raise NotInspectable(folder, f"{MANIFEST_FILE} names no session and flow")
    return manifest


def step_spans(manifest: dict[str, Any], initial: str, end_ms: int) -> tuple[StepSpan, ...]:
    """The part's steps from its workflow log: each from its transition to the next."""
    part = int(manifest.get("part") or 1)
    log = sorted(manifest.get("workflow", []), key=lambda e: e["seq"])
    before = [e for e in log if (e.get("part") or 1) < part]
    here = [e for e in log if (e.get("part") or 1) == part and e.get("offset_ms") is not None]
    first = str(here[0]["from"]) if here else str(before[-1]["to"]) if before else initial
    marks = [(0, first)] + [(max(0, int(e["offset_ms"])), str(e["to"])) for e in here]
    leaving: list[str | None] = [str(e["event"]) for e in here] + [None]
    ends = [start for start, _ in marks[1:]] + [end_ms]
    return tuple(
        StepSpan(name, start, max(start, end), left)
        for (start, name), end, left in zip(marks, ends, leaving, strict=True)
    )


def segments(folder: Path, party: Party, kind: MediaKind) -> list[Path]:
    """A track's segment files, in order."""
    found = []
    for path in folder.iterdir():
        match = SEGMENT_RE.match(path.name)
        if match and match[1] == party.value and match[2] == kind.value:
            found.append(path)
    return sorted(found)


def sample_pictures(paths: list[Path]) -> Pictures:
    """Decode a party's video, keeping ``SAMPLE_FPS`` small grey pictures a second."""
    times: list[int] = []
    frames: list[NDArray[np.uint8]] = []
    end_ms, next_ms = 0, 0
    for path in paths:
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    continue
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    at = round(frame.time * 1000)
                    end_ms = max(end_ms, at + 33)
                    if at < next_ms:
                        continue
                    next_ms = at + round(1000 / SAMPLE_FPS)
                    height = max(2, round(frame.height * SAMPLE_WIDTH / max(frame.width, 1)))
                    small = frame.reformat(width=SAMPLE_WIDTH, height=height, format="gray")
                    times.append(at)
                    frames.append(small.to_ndarray().astype(np.uint8))
        except av.FFmpegError:
            continue  # a damaged segment: what it lacks shows as missing picture
    return Pictures(np.array(times, dtype=np.int64), tuple(frames), end_ms)


def read_part(folder: Path, initial_step: str) -> RecordedPart:
    """Read a closed part's manifest, steps, sampled video and audio (blocking)."""
    manifest = read_manifest(folder)
    pictures = {p: sample_pictures(segments(folder, p, MediaKind.VIDEO)) for p in Party}
    sound = {p: read_audio(segments(folder, p, MediaKind.AUDIO)) for p in Party}
    ends = [pictures[p].end_ms for p in Party] + [round(sound[p].end * 1000) for p in Party]
    end_ms = max(ends)
    return RecordedPart(
        folder=folder,
        manifest=manifest,
        steps=step_spans(manifest, initial_step, end_ms),
        pictures=pictures,
        sound=sound,
        end_ms=end_ms,
    )
