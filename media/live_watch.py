"""Live checks of a call while it runs: the customer out of the picture, a second face in
it, no sound from the customer. They are raised to the agent as they happen.

The relay never decodes, so neither does this, but for one picture now and then: every
``CHECK_EVERY_S`` the newest keyframe of the customer's video is decoded on a worker
thread (a keyframe needs nothing before it), shrunk to ``PICTURE_WIDTH`` grey pixels and
searched for faces with OpenCV's bundled frontal-face Haar cascade (the one the post-call
inspection uses), and the next keyframe is asked for. Sound is judged from the Opus
packets' sizes alone, nothing decoded: a muted or dead microphone sends none, or only
packets of digital silence (a few bytes); a quiet customer with a live microphone is
not caught here (the post-call inspection measures the sound itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from .tap import EncodedFrame

logger = logging.getLogger(__name__)

#: How often the customer's picture is looked at (seconds).
CHECK_EVERY_S = 4.0
#: The width the picture is searched at, as the post-call inspection does: at 160 or 200
#: the cascade missed most faces in a real call's keyframes, at 240 a quarter (measured).
PICTURE_WIDTH = 320
#: Opus packets this small carry digital silence (a muted microphone; 3 bytes from libopus).
SILENT_PACKET_BYTES = 8
#: The customer is flagged unheard after this long without a packet of sound (seconds).
QUIET_S = 10.0
#: Pictures in a row without (with a second) face before the flag is raised: one missed
#: detection is not an absence.
CONFIRM = 2
CASCADE = "haarcascade_frontalface_default.xml"


class LiveFlag(enum.StrEnum):
    """What the agent is told while the call runs."""

    CUSTOMER_ABSENT = "customer_absent"
    SECOND_FACE = "second_face"
    CUSTOMER_NO_SOUND = "customer_no_sound"


@dataclass(frozen=True)
class FlagChange:
    """A flag raised or cleared, at a wall-clock time."""

    flag: LiveFlag
    raised: bool
    at: float


class FaceCounter:
    """Counts the faces in one VP8 keyframe (blocking: called on a worker thread)."""

    def __init__(self) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's {CASCADE} could not be loaded from {path}")
        #: CPU seconds spent in decoding and detection, for the cost of live checks.
        self.cpu_s = 0.0

    def count(self, keyframe: bytes) -> int | None:
        """The faces in the picture; None when the frame does not decode."""
        began = time.thread_time()
        try:
            decoder = av.CodecContext.create("libvpx", "r")
            pictures = [*decoder.decode(av.Packet(keyframe)), *decoder.decode(None)]
        except av.FFmpegError:
            return None
        finally:
            self.cpu_s += time.thread_time() - began
        if not pictures:
            return None
        began = time.thread_time()
        picture = pictures[-1]
        height = max(2, round(picture.height * PICTURE_WIDTH / max(picture.width, 1)))
        grey = picture.reformat(width=PICTURE_WIDTH, height=height, format="gray").to_ndarray()
        faces = self._cascade.detectMultiScale(
            cv2.equalizeHist(np.ascontiguousarray(grey)),
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(height // 6, height // 6),
        )
        self.cpu_s += time.thread_time() - began
        return len(faces)


class LiveWatch:
    """Watches one party's (the customer's) media during a call and reports flag changes."""

    def __init__(
        self,
        on_change: Callable[[FlagChange], object],
        request_keyframe: Callable[[], None],
        *,
        counter: FaceCounter | None = None,
        every_s: float = CHECK_EVERY_S,
        session_id: str = "-",
    ) -> None:
        self.session_id = session_id
        self.on_change = on_change
        self.request_keyframe = request_keyframe
        self.counter = FaceCounter() if counter is None else counter
        self.every_s = every_s
        self.raised: set[LiveFlag] = set()
        self.checks = 0
        self._keyframe: bytes | None = None
        self._began = time.time()
        self._sound_at: float | None = None
        self._absent = 0
        self._crowded = 0
        self._task: asyncio.Task[None] | None = None

    def observe(self, frame: EncodedFrame) -> None:
        """Take note of one of the party's frames (on the media path: no work but this)."""
        if frame.kind == "video":
            if frame.keyframe:
                self._keyframe = frame.data
        elif len(frame.data) > SILENT_PACKET_BYTES:
            self._sound_at = frame.arrival

    def start(self) -> None:
        """Start looking, from now."""
        self._began = time.time()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="live watch")

    async def stop(self) -> None:
        """Stop looking (the call is closing)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        self.request_keyframe()
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.check()
            except Exception:  # a live hint is never worth the call
                logger.exception("session %s: a live check failed", self.session_id)

    async def check(self) -> None:
        """One round: the newest picture, then the sound."""
        self.checks += 1
        keyframe, self._keyframe = self._keyframe, None
        now = time.time()
        if keyframe is not None:
            faces = await asyncio.to_thread(self.counter.count, keyframe)
            if faces is not None:
                self._absent = self._absent + 1 if faces == 0 else 0
                self._crowded = self._crowded + 1 if faces > 1 else 0
                self._set(LiveFlag.CUSTOMER_ABSENT, self._absent >= CONFIRM, now)
                self._set(LiveFlag.SECOND_FACE, self._crowded >= CONFIRM, now)
        self.request_keyframe()  # a fresh picture for the next round
        heard = self._sound_at if self._sound_at is not None else self._began
        self._set(LiveFlag.CUSTOMER_NO_SOUND, now - heard >= QUIET_S, now)

    def _set(self, flag: LiveFlag, on: bool, at: float) -> None:
        if on == (flag in self.raised):
            return
        if on:
            self.raised.add(flag)
        else:
            self.raised.discard(flag)
        self.on_change(FlagChange(flag, on, at))
