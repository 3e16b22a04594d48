"""Constructed recording parts for the inspection tests and benchmark: real WebM files,
chained and signed.

The customer's and agent's pictures are a real face (the astronaut photograph that
scikit-image ships, public domain) on a live background (noise, so the picture is never
frozen), composed with PyAV into VP8 the way the recorder writes it (ms time base); the
sound is espeak-ng speaking the flow's disclosure and the customer's confirmation. What
each test changes (the face leaving, a second face, a black picture, a disclosure read
too fast, a blank signature, a missing tick, a silent customer) is a field of ``Script``.

With an ID photo (``Script.id_photo``) the part opens as a real call does, with the
identity check in which the still is taken (then consent, the assessment on record and
the product), ``LEAD_MS`` before the risk disclosure: every time of the part after it,
``Script``'s ranges aside, is ``LEAD_MS`` later. The other person's photograph is one of
the LFW faces scikit-image ships (``lfw_subset.npy``), enlarged.
"""

from __future__ import annotations

import fractions
import hashlib
import importlib.resources
import io
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from numpy.typing import NDArray

from common import Language
from media import ChainLog, sign_manifest, write_signed_manifest
from media.evidence import record
from media.speech import VOICES
from workflow import load_flows

SESSION = "0f4c2d7e9a8b4c3d9e1f2a3b4c5d6e7f"
WIDTH, HEIGHT, FPS, RATE = 320, 240, 10, 48000
MS = fractions.Fraction(1, 1000)
# The steps of the part (wealth_purchase from its risk disclosure on): name, from ms, and
# the event that left it.
STEPS = [
    ("risk_disclosure", 0, "risk_confirmed"),
    ("cooling_off", 29_000, "cooling_off_acknowledged"),
    ("signature", 32_000, "signature_captured"),
    ("purchase_confirmed", 35_000, None),
]
END_MS = 37_000
# The steps a part with an ID photo opens with (wealth_purchase's first), before STEPS.
LEAD_STEPS = [
    ("identity_check", 0, "identity_verified"),
    ("consent", 4_000, "consent_given"),
    ("assessment_check", 6_000, "assessment_valid"),
    ("product_selection", 7_000, "product_suitable"),
]
LEAD_MS = 8_000
#: The LFW face (of scikit-image's 100) shown as another person's ID photo: one that
#: dlib finds once enlarged, far from the astronaut (distance 0.9).
OTHER_FACE = 71
#: How much faster than the English the Mandarin disclosure is spoken (see _disclosure).
ZH_SPEED = 205 / 175


@dataclass
class Script:
    """What happens in a constructed part: by default everything an inspector wants."""

    #: Ranges (ms) with no face in the customer's picture / a second face in it.
    customer_away: list[tuple[int, int]] = field(default_factory=list)
    second_face: list[tuple[int, int]] = field(default_factory=list)
    kiosk_black: list[tuple[int, int]] = field(default_factory=list)
    #: espeak-ng's speed (words a minute) for the disclosure.
    disclosure_wpm: int = 175
    customer_speaks: bool = True
    #: What the customer says in the confirmation (None: the step's phrase, in English)
    #: and espeak-ng's voice for it ("cmn-latn-pinyin" for Mandarin written in pinyin,
    #: "cmn" for characters). US English by default: the recogniser's model is US
    #: English, and takes espeak-ng's British "en" phrase for "I don't agree".
    customer_says: str | None = None
    customer_voice: str = "en-us"
    #: The call's language: the disclosure's text and voice, and the confirmation's
    #: phrase ("en" or "zh-CN").
    language: str = "en"
    blank_signature: bool = False
    withhold: frozenset[str] = frozenset()
    #: The ID-photo still taken in the identity check: None, no identity check in the
    #: part; "same", of the customer (the astronaut); "other", of another person.
    id_photo: str | None = None

    def __post_init__(self) -> None:
        if self.id_photo not in (None, "same", "other"):
            raise ValueError(f"id_photo {self.id_photo!r} is not None, 'same' or 'other'")
        if self.language not in (Language.EN, Language.ZH_CN):
            raise ValueError(f"language {self.language!r} is not 'en' or 'zh-CN'")


def steps_of(script: Script) -> list[tuple[str, int, str | None]]:
    """The part's steps (name, from ms, event that left it) as ``script`` has them run."""
    if script.id_photo is None:
        return list(STEPS)
    return LEAD_STEPS + [(name, at + LEAD_MS, event) for name, at, event in STEPS]


def end_of(script: Script) -> int:
    """Where the part ends (ms)."""
    return END_MS + (0 if script.id_photo is None else LEAD_MS)


def astronaut_face() -> NDArray[np.uint8]:
    """The astronaut's head (scikit-image's photograph), 119 x 140."""
    source = importlib.resources.files("skimage") / "data" / "astronaut.png"
    image = cv2.imread(str(source))
    assert image is not None, "scikit-image's astronaut.png is missing"
    head = image[20:220, 140:310]  # her head (the face at 177-270 x 67-160)
    face: NDArray[np.uint8] = cv2.resize(head, (119, 140)).astype(np.uint8)
    return face


def other_face() -> NDArray[np.uint8]:
    """Another person's face (an LFW face scikit-image ships, 25 x 25 grey), enlarged."""
    source = importlib.resources.files("skimage") / "data" / "lfw_subset.npy"
    with source.open("rb") as file:
        faces = np.load(file)
    grey = (faces[OTHER_FACE] * 255).astype(np.uint8)
    big = cv2.resize(grey, (200, 236), interpolation=cv2.INTER_CUBIC)
    face: NDArray[np.uint8] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    return face


def id_still(who: str) -> bytes:
    """The ID-photo still as the server keeps it: a 640 x 480 JPEG of the kiosk camera,
    showing the customer (the astronaut, framed otherwise than in the video) or another."""
    if who == "same":
        source = importlib.resources.files("skimage") / "data" / "astronaut.png"
        image = cv2.imread(str(source))
        assert image is not None, "scikit-image's astronaut.png is missing"
        face = cv2.resize(image[10:240, 130:320], (200, 236)).astype(np.uint8)
    else:
        face = other_face()
    still = cv2.resize(_WALL, (640, 480))
    still[100:336, 220:420] = face
    ok, jpeg = cv2.imencode(".jpg", still, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return jpeg.tobytes()


def _speech(text: str, wpm: int, voice: str = "en") -> NDArray[np.int16]:
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text],
        capture_output=True,
        check=True,
    )
    with wave.open(io.BytesIO(done.stdout)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        rate = wav.getframerate()
    resampled = np.interp(
        np.arange(0, len(samples) * RATE // rate) * rate / RATE, np.arange(len(samples)), samples
    )
    speech: NDArray[np.int16] = resampled.astype(np.int16)
    return speech


_WALL = np.dstack([np.tile(np.linspace(90, 150, WIDTH), (HEIGHT, 1))] * 3).astype(np.uint8)


def _inside(ranges: list[tuple[int, int]], at: int) -> bool:
    return any(a <= at < b for a, b in ranges)


def _picture(face: NDArray[np.uint8], at: int, rng: np.random.Generator, **flags: bool) -> Any:
    # A wall with a little sensor noise: a live camera's picture never stands still.
    frame = (_WALL + rng.integers(0, 4, (HEIGHT, WIDTH, 3), dtype=np.uint8)).astype(np.uint8)
    if flags.get("black"):
        return rng.integers(0, 3, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sway = int(6 * np.sin(at / 700))
    h, w = face.shape[:2]
    if flags.get("second"):
        frame[60 : 60 + h, 10 + sway : 10 + sway + w] = face
        frame[60 : 60 + h, 190 - sway : 190 - sway + w] = face[:, ::-1]
    elif not flags.get("away"):
        frame[60 : 60 + h, 100 + sway : 100 + sway + w] = face
    return frame


def _write_video(path: Path, pictures: list[tuple[int, Any]]) -> int:
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = MS
        stream.codec_context.time_base = MS
        stream.options = {"deadline": "realtime", "cpu-used": "8", "b": "400k"}
        packets = 0
        for at, image in pictures:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = at, MS
            for packet in stream.encode(frame):
                out.mux(packet)
                packets += 1
        for packet in stream.encode(None):
            out.mux(packet)
            packets += 1
    return packets


def _write_audio(path: Path, samples: NDArray[np.int16]) -> int:
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=RATE)
        stream.layout = "mono"
        stream.time_base = MS
        packets = 0
        for start in range(0, len(samples) - 960 + 1, 960):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 960].reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, fractions.Fraction(1, RATE)
            for packet in stream.encode(frame):
                out.mux(packet)
                packets += 1
        for packet in stream.encode(None):
            out.mux(packet)
            packets += 1
    return packets


def _signature(blank: bool) -> bytes:
    pad = np.full((150, 400), 255, np.uint8)
    if not blank:
        points = np.array([[30 + 12 * i, 75 + int(30 * np.sin(i / 2))] for i in range(28)])
        cv2.polylines(pad, [points.astype(np.int32)], False, 0, 3, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", pad)
    assert ok
    return png.tobytes()


def _evidence(script: Script, disclosure_end_ms: int) -> list[tuple[str, str, int, bytes, str]]:
    """(step, kind, offset_ms, data, ext) of every evidence item, in the order given."""
    lead = (
        []
        if script.id_photo is None
        else [
            ("identity_check", "id_photo", 2_000, id_still(script.id_photo), "jpg"),
            ("consent", "consent", 5_000, b"{}", "json"),
            ("consent", "tick_confirmation", 5_500, b"{}", "json"),
        ]
    )
    shift = 0 if script.id_photo is None else LEAD_MS
    items = [
        (
            "risk_disclosure",
            "tts_played",
            disclosure_end_ms,
            record(
                SESSION,
                "risk_disclosure",
                "tts_played",
                language=script.language,
                engine="espeak-ng",
            ),
            "json",
        ),
        ("risk_disclosure", "document_acknowledged", 26_000, b"{}", "json"),
        ("risk_disclosure", "spoken_confirmation", 28_000, b"{}", "json"),
        ("cooling_off", "tick_confirmation", 31_000, b"{}", "json"),
        ("signature", "signature_image", 34_000, _signature(script.blank_signature), "png"),
    ]
    items = lead + [(step, kind, at + shift, data, ext) for step, kind, at, data, ext in items]
    return [item for item in items if item[1] not in script.withhold]


def _disclosure(text: str, script: Script) -> tuple[str, int, str]:
    """The disclosure's text, espeak-ng speed and voice in the call's language. Mandarin's
    (111 characters, 32 s at 175) is read a sixth faster, about 240 characters a minute,
    to end (at 28.4 s) inside its step, a normal reading rate for Chinese."""
    if script.language == Language.ZH_CN:
        return text, round(script.disclosure_wpm * ZH_SPEED), VOICES[Language.ZH_CN]
    return text, script.disclosure_wpm, "en"


def build(folder: Path, key: Ed25519PrivateKey, script: Script) -> Path:
    """Write a closed, signed wealth_purchase part into ``folder`` as ``script`` says."""
    folder.mkdir(parents=True)
    flow = load_flows()["wealth_purchase"]
    tts = flow.step("risk_disclosure").tts
    confirmation = flow.step("risk_disclosure").confirmation_phrase
    assert tts is not None and confirmation is not None
    rng = np.random.default_rng(7)
    face = astronaut_face()
    steps, end_ms = steps_of(script), end_of(script)
    lead = end_ms - END_MS
    times = list(range(0, end_ms, 1000 // FPS))
    kiosk = [
        (
            at,
            _picture(
                face,
                at,
                rng,
                away=_inside(script.customer_away, at),
                second=_inside(script.second_face, at),
                black=_inside(script.kiosk_black, at),
            ),
        )
        for at in times
    ]
    agent = [(at, _picture(face[:, ::-1].copy(), at + 300, rng)) for at in times]
    agent_sound = np.zeros(end_ms * RATE // 1000, np.int16)
    disclosure = _speech(*_disclosure(tts[script.language], script))
    begins = lead * RATE // 1000 + RATE
    agent_sound[begins : begins + len(disclosure)] = disclosure
    kiosk_sound = np.zeros_like(agent_sound)
    if script.customer_speaks:
        words = script.customer_says or confirmation[script.language]
        said = _speech(words, 175, script.customer_voice)
        begins = (lead + 26_000) * RATE // 1000
        kiosk_sound[begins : begins + len(said)] = said
    chain = ChainLog(folder, SESSION)
    segments = []
    written: dict[tuple[str, str], Callable[[Path], int]] = {
        ("kiosk", "video"): lambda path: _write_video(path, kiosk),
        ("kiosk", "audio"): lambda path: _write_audio(path, kiosk_sound),
        ("agent", "video"): lambda path: _write_video(path, agent),
        ("agent", "audio"): lambda path: _write_audio(path, agent_sound),
    }
    for (party, kind), write in written.items():
        name = f"{party}-{kind}-0000.webm"
        frames = write(folder / name)
        data = (folder / name).read_bytes()
        chain.add(name, hashlib.sha256(data).hexdigest(), len(data))
        segments.append(
            {
                "party": party,
                "kind": kind,
                "seq": 0,
                "file": name,
                "codec": "vp8",
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "frames": frames,
                "start_ms": 0,
                "end_ms": end_ms,
            }
        )
    rows = []
    ends = 1000 + len(disclosure) * 1000 // RATE
    for seq, (step, kind, at, data, ext) in enumerate(_evidence(script, ends), start=1):
        name = f"evidence-{step}-{seq:03d}.{ext}"
        (folder / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        chain.add(name, digest, len(data))
        rows.append(
            {
                "seq": seq,
                "step": step,
                "kind": kind,
                "file": name,
                "sha256": digest,
                "offset_ms": at,
                "at": "2026-12-02T09:00:00+00:00",
                "provided_by": "kiosk",
            }
        )
    events = [
        {
            "seq": seq,
            "event": event,
            "from": step,
            "to": steps[seq][0],
            "actor": "agent-7",
            "at": "2026-12-02T09:00:00+00:00",
            "offset_ms": steps[seq][1],
            "part": 1,
            "reason": None,
        }
        for seq, (step, _, event) in enumerate(steps[:-1], start=1)
    ]
    manifest = {
        "session_id": SESSION,
        "service": "wealth_purchase",
        "flow": "wealth_purchase",
        "branch": "BJ-001",
        "kiosk": "kiosk-1",
        "agent": "agent-7",
        "status": "ended",
        "started_at": "2026-12-02T09:00:00+00:00",
        "ended_at": f"2026-12-02T09:00:{end_ms // 1000:02d}+00:00",
        "end_reason": "completed",
        "part": 1,
        "segments": segments,
        "evidence": rows,
        "workflow": events,
    }
    write_signed_manifest(folder, sign_manifest(manifest, chain.chain, key))
    chain.close()
    return folder
