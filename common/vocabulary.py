"""dualrec's words, defined once: parties, roles, languages, presence, evidence, media kinds.

Each is a ``StrEnum``, so a member compares equal to its wire and database spelling. The
browser pages receive what they need of these from the server (``browser_vocabulary``)
rather than keeping copies.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final


class Party(StrEnum):
    """Which end of a call: the customer's kiosk or the remote agent."""

    KIOSK = "kiosk"
    AGENT = "agent"


class Role(StrEnum):
    """Who a credential or a signed-in page belongs to."""

    KIOSK = "kiosk"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"

    @classmethod
    def staff(cls) -> frozenset[Role]:
        """The roles that sign in with a name and password."""
        return frozenset({cls.AGENT, cls.SUPERVISOR, cls.AUDITOR, cls.ADMIN})

    @classmethod
    def callers(cls) -> frozenset[Role]:
        """The roles that join the signalling socket: the two ends of a call."""
        return frozenset({cls.KIOSK, cls.AGENT})

    @property
    def article(self) -> str:
        """The role with its indefinite article, for messages ("an agent", "a kiosk")."""
        return f"{'an' if self.value[0] in 'aeiou' else 'a'} {self.value}"


class Language(StrEnum):
    """The languages every text both parties see is written in."""

    ZH_CN = "zh-CN"
    EN = "en"


class Presence(StrEnum):
    """An agent's presence; ``busy`` is set by the server only, while in a call."""

    AVAILABLE = "available"
    BUSY = "busy"
    AFTER_CALL = "after_call"
    AWAY = "away"


class EvidenceKind(StrEnum):
    """The kinds of evidence a workflow step can require."""

    SPOKEN_CONFIRMATION = "spoken_confirmation"
    TICK_CONFIRMATION = "tick_confirmation"
    SIGNATURE_IMAGE = "signature_image"
    QUESTIONNAIRE_ANSWERS = "questionnaire_answers"
    ID_PHOTO = "id_photo"
    DOCUMENT_ACKNOWLEDGED = "document_acknowledged"
    CONSENT = "consent"

    @property
    def supplied_by(self) -> Party:
        """Which party supplies this evidence (the agent captures photos and speech)."""
        if self in (EvidenceKind.ID_PHOTO, EvidenceKind.SPOKEN_CONFIRMATION):
            return Party.AGENT
        return Party.KIOSK


#: The record the server adds to a step's evidence once its announcement has played; shown
#: in a step's ``missing`` list until then. Not a kind a flow may require.
TTS_PLAYED: Final = "tts_played"


class MediaKind(StrEnum):
    """Audio or video track of a recording file."""

    AUDIO = "audio"
    VIDEO = "video"


def browser_vocabulary() -> dict[str, Any]:
    """What the pages' JavaScript needs of the vocabulary, as JSON-ready data."""
    return {
        "parties": [p.value for p in Party],
        "roles": [r.value for r in Role],
        "languages": [lang.value for lang in Language],
        "presence": [p.value for p in Presence],
        "evidence": {kind.value: kind.supplied_by.value for kind in EvidenceKind},
        "media_kinds": [k.value for k in MediaKind],
    }
