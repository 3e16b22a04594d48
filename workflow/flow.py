"""The data model of a business flow: texts, steps and the flow itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from common import EvidenceKind, Language
from workflow.errors import UnknownStep

if TYPE_CHECKING:
    from workflow.risk import Questionnaire

#: The languages every text of a flow is written in (common's vocabulary, as strings).
LANGUAGES: Final = tuple(language.value for language in Language)
#: The evidence a step may require (common's vocabulary, as strings).
EVIDENCE_TYPES: Final = frozenset(kind.value for kind in EvidenceKind)
ABORT_EVENT: Final = "abort"
ABORTED_STEP: Final = "aborted"


def _frozen_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Document:
    """A document shown to the customer in a step, who must acknowledge having read it."""

    id: str
    title: Text
    #: The text shown when the agent pushes the document to the kiosk.
    body: Text | None = None


@dataclass(frozen=True)
class Text(Mapping[str, str]):
    """A text in every supported language, read as a mapping of language -> string."""

    zh_cn: str
    en: str

    def __post_init__(self) -> None:
        for language, value in (("zh-CN", self.zh_cn), ("en", self.en)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f'"{language}" text must be a non-empty string')

    def __getitem__(self, language: str) -> str:
        if language == "zh-CN":
            return self.zh_cn
        if language == "en":
            return self.en
        raise KeyError(language)

    def __iter__(self) -> Iterator[str]:
        return iter(LANGUAGES)

    def __len__(self) -> int:
        return len(LANGUAGES)

    @classmethod
    def parse(cls, value: object, where: str) -> Text:
        """Build a Text from a table of texts by language, raising ValueError naming `where`."""
        if not isinstance(value, dict):
            languages = ", ".join(LANGUAGES)
            raise ValueError(f"{where}: must be a table of texts by language ({languages})")
        for language in LANGUAGES:
            if language not in value:
                raise ValueError(f'{where}: missing "{language}" text')
        unknown = sorted(value.keys() - set(LANGUAGES))
        if unknown:
            raise ValueError(f'{where}: unknown language "{unknown[0]}"')
        try:
            return cls(zh_cn=value["zh-CN"], en=value["en"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Step:
    """One step of a flow: what is said, shown and captured, and where each event leads."""

    name: str
    title: Text
    script: Text
    prompt: Text
    evidence: tuple[str, ...] = ()
    transitions: Mapping[str, str] = field(default_factory=_frozen_mapping)
    timeout_s: int | None = None
    terminal: bool = False
    # event -> guard name / effect name, for the events that have one.
    guards: Mapping[str, str] = field(default_factory=_frozen_mapping)
    effects: Mapping[str, str] = field(default_factory=_frozen_mapping)
    # Facts the forward event needs (in its data or already in the context), and may carry.
    collects: tuple[str, ...] = ()
    may_collect: tuple[str, ...] = ()
    # Questionnaire questions answered in this step (data "answers": question id -> option id).
    questions: tuple[str, ...] = ()
    documents: tuple[Document, ...] = ()
    # Text spoken into the call and the recording by text-to-speech, and the phrase the
    # customer must say back (its utterance is the step's spoken_confirmation evidence).
    tts: Text | None = None
    confirmation_phrase: Text | None = None

    def __post_init__(self) -> None:
        # Copy into read-only containers so a Step shared between sessions cannot be mutated.
        for name in ("evidence", "collects", "may_collect", "questions", "documents"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("transitions", "guards", "effects"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        unknown = [kind for kind in self.evidence if kind not in EVIDENCE_TYPES]
        if unknown:
            raise ValueError(f'unknown evidence type "{unknown[0]}"')
        if self.terminal and self.transitions:
            raise ValueError(f'terminal step "{self.name}" must have no transitions')
        stray = sorted((self.guards.keys() | self.effects.keys()) - self.transitions.keys())
        if stray:
            raise ValueError(f'step "{self.name}": guard or effect on unknown event "{stray[0]}"')


@dataclass(frozen=True)
class Flow:
    """A validated business flow: its steps, in file order, and its initial step."""

    name: str
    title: Text
    description: Text
    initial: str
    steps: Mapping[str, Step]
    # The risk questionnaire, for flows with questionnaire steps.
    questionnaire: Questionnaire | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", MappingProxyType(dict(self.steps)))
        if self.initial not in self.steps:
            raise ValueError(f'initial step "{self.initial}" is not a step of the flow')

    def step(self, name: str) -> Step:
        """Return the step called `name`, raising UnknownStep if there is none."""
        try:
            return self.steps[name]
        except KeyError:
            raise UnknownStep(self.name, name) from None

    def events_from(self, state: str) -> tuple[str, ...]:
        """Return the events accepted in step `state`, in declaration order."""
        return tuple(self.step(state).transitions)

    def forward_event(self, state: str) -> str | None:
        """Return the single non-abort event leading on from `state`, or None if not exactly one."""
        forward = [event for event in self.events_from(state) if event != ABORT_EVENT]
        return forward[0] if len(forward) == 1 else None
