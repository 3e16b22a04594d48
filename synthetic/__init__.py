"""Synthetic cameras and microphones: each party's coloured picture and tone, with A/V pulses.

Used by the kiosk client, the scripted agent, the demo, the benchmarks and the tests; it
imports nothing of ours but ``common``.
"""

from .tracks import (
    AGENT_LOOK,
    AUDIO_PTIME,
    BEEP_AMPLITUDE,
    BEEP_HZ,
    BEEP_S,
    FLASH_YUV,
    KIOSK_LOOK,
    TONE_AMPLITUDE,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    PartyLook,
    PulseClock,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    synthetic_tracks,
)

__all__ = [
    "AGENT_LOOK",
    "AUDIO_PTIME",
    "BEEP_AMPLITUDE",
    "BEEP_HZ",
    "BEEP_S",
    "FLASH_YUV",
    "KIOSK_LOOK",
    "TONE_AMPLITUDE",
    "VIDEO_CLOCK_RATE",
    "VIDEO_TIME_BASE",
    "PartyLook",
    "PulseClock",
    "SyntheticAudioTrack",
    "SyntheticVideoTrack",
    "synthetic_tracks",
]
