"""Where a kiosk's camera and microphone come from: synthetic, a camera, or a file."""

from __future__ import annotations

from pathlib import Path

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack

from synthetic import PartyLook, synthetic_tracks


class SourceError(ValueError):
    """The media source cannot be opened or lacks audio or video."""


def open_source(source: str, look: PartyLook, *, pulse: bool = False) -> list[MediaStreamTrack]:
    """Audio and video tracks for ``synthetic``, ``camera`` or a media file path."""
    if source == "synthetic":
        audio, video = synthetic_tracks(look.label, look.colour, look.tone_hz, pulse=pulse)
        return [audio, video]
    if source == "camera":
        try:
            camera = MediaPlayer(
                "/dev/video0", format="v4l2", options={"video_size": "640x480", "framerate": "15"}
            )
            microphone = MediaPlayer("default", format="alsa")
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot open the camera or microphone: {exc}") from exc
        tracks = [microphone.audio, camera.video]
    else:
        if not Path(source).is_file():
            raise SourceError(f'"{source}" is neither synthetic, camera nor a media file')
        try:
            player = MediaPlayer(source, loop=True)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot open {source}: {exc}") from exc
        tracks = [player.audio, player.video]
    if any(t is None for t in tracks):
        raise SourceError(f'the source "{source}" must have both audio and video')
    return [t for t in tracks if t is not None]
