"""The data model of a business flow: texts, steps and the flow itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from workflow.errors import UnknownStep

LANGUAGES: Final = ("zh-CN", "en")
EVIDENCE_TYPES: Final = frozenset(
    {
        "spoken_confirmation",
        "tick_confirmation",
        "signature_image",
        "questionnaire_answers",
        "id_photo",
        "document_acknowledged",
        "consent",
    }
)
ABORT_EVENT: Final = "abort"
ABORTED_STEP: Final = "aborted"


def _frozen_mapping() -> Mapping[str, str]:
    return MappingProxyType({})


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

    def __post_init__(self) -> None:
        # Copy into read-only containers so a Step shared between sessions cannot be mutated.
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "transitions", MappingProxyType(dict(self.transitions)))
        unknown = [kind for kind in self.evidence if kind not in EVIDENCE_TYPES]
        if unknown:
            raise ValueError(f'unknown evidence type "{unknown[0]}"')
        if self.terminal and self.transitions:
            raise ValueError(f'terminal step "{self.name}" must have no transitions')


@dataclass(frozen=True)
class Flow:
    """A validated business flow: its steps, in file order, and its initial step."""

    name: str
    title: Text
    description: Text
    initial: str
    steps: Mapping[str, Step]

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
