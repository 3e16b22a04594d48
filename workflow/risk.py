"""Customer risk assessment: the scored questionnaire, levels C1-C5, validity and suitability."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from workflow.errors import FlowDefinitionError, InvalidAnswers
from workflow.flow import Text

RISK_LEVELS: Final = ("C1", "C2", "C3", "C4", "C5")
PRODUCT_RISKS: Final = ("R1", "R2", "R3", "R4", "R5")
# Starts with "_" so that load_flows() does not take it for a flow.
QUESTIONNAIRE_PATH: Final = Path(__file__).resolve().parent / "flows" / "_risk_questionnaire.toml"


@dataclass(frozen=True)
class Option:
    """One answer to a question, its score, and the highest level it allows (if capped)."""

    id: str
    text: Text
    score: int
    max_level: str | None = None


@dataclass(frozen=True)
class Question:
    """One question of the questionnaire with its options."""

    id: str
    text: Text
    options: tuple[Option, ...]

    def option(self, option_id: str) -> Option | None:
        """Return the option called `option_id`, or None."""
        return next((option for option in self.options if option.id == option_id), None)


@dataclass(frozen=True)
class Level:
    """A customer risk level and the highest total score that falls in it."""

    level: str
    max_score: int
    title: Text


@dataclass(frozen=True)
class Questionnaire:
    """The risk-tolerance questionnaire: questions in order and the score bands of each level."""

    name: str
    title: Text
    questions: tuple[Question, ...]
    levels: tuple[Level, ...]

    @property
    def question_ids(self) -> tuple[str, ...]:
        """The ids of every question, in order."""
        return tuple(question.id for question in self.questions)

    def question(self, question_id: str) -> Question | None:
        """Return the question called `question_id`, or None."""
        return next((q for q in self.questions if q.id == question_id), None)

    def check(self, answers: Mapping[str, object]) -> None:
        """Raise InvalidAnswers if an answer names an unknown question or option."""
        for question_id, option_id in answers.items():
            question = self.question(question_id)
            if question is None:
                raise InvalidAnswers(f'unknown question "{question_id}"')
            if not isinstance(option_id, str) or question.option(option_id) is None:
                raise InvalidAnswers(f'question "{question_id}" has no option {option_id!r}')

    def missing(self, answers: Mapping[str, object]) -> tuple[str, ...]:
        """The ids of the questions not answered yet, in order."""
        return tuple(q for q in self.question_ids if q not in answers)

    def level_for(self, total: int) -> str:
        """The level whose score band holds `total`."""
        for level in self.levels:
            if total <= level.max_score:
                return level.level
        return self.levels[-1].level

    def score(self, answers: Mapping[str, object]) -> tuple[int, str]:
        """Score complete answers: (total, level "C1".."C5"), capped by any capping option."""
        self.check(answers)
        missing = self.missing(answers)
        if missing:
            raise InvalidAnswers(f"unanswered questions: {', '.join(missing)}")
        chosen = [q.option(str(answers[q.id])) for q in self.questions]
        options = [option for option in chosen if option is not None]
        total = sum(option.score for option in options)
        level = self.level_for(total)
        caps = [option.max_level for option in options if option.max_level is not None]
        return total, min([level, *caps], key=RISK_LEVELS.index)


def load_questionnaire(path: Path | None = None) -> Questionnaire:
    """Read and validate a questionnaire file, raising FlowDefinitionError on any problem."""
    path = QUESTIONNAIRE_PATH if path is None else Path(path)
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
        return _parse(document)
    except tomllib.TOMLDecodeError as exc:
        raise FlowDefinitionError(path, f"TOML syntax error: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise FlowDefinitionError(path, problem) from None


@cache
def default_questionnaire() -> Questionnaire:
    """The packaged risk questionnaire, read once."""
    return load_questionnaire()


def score(
    answers: Mapping[str, object], questionnaire: Questionnaire | None = None
) -> tuple[int, str]:
    """Score complete answers to the (default) questionnaire: (total, level "C1".."C5")."""
    return (questionnaire or default_questionnaire()).score(answers)


def assessment_expiry(assessed_on: date) -> date:
    """The first day on which an assessment made on `assessed_on` is no longer valid."""
    try:
        return assessed_on.replace(year=assessed_on.year + 1)
    except ValueError:  # 29 February: valid up to 28 February of the next year
        return date(assessed_on.year + 1, 3, 1)


def assessment_valid(assessed_on: date, now: datetime | date) -> bool:
    """Whether an assessment made on `assessed_on` is still valid (one year) at `now`."""
    today = now.date() if isinstance(now, datetime) else now
    if isinstance(assessed_on, datetime):
        assessed_on = assessed_on.date()
    return assessed_on <= today < assessment_expiry(assessed_on)


def suitable(customer_level: str, product_risk: str) -> bool:
    """Whether a customer of level Cn may buy a product of risk Rm (iff m <= n)."""
    if customer_level not in RISK_LEVELS:
        raise ValueError(f'unknown customer risk level "{customer_level}"')
    if product_risk not in PRODUCT_RISKS:
        raise ValueError(f'unknown product risk rating "{product_risk}"')
    return PRODUCT_RISKS.index(product_risk) <= RISK_LEVELS.index(customer_level)


def _parse(document: dict[str, Any]) -> Questionnaire:
    unknown = sorted(document.keys() - {"name", "title", "questions", "levels"})
    if unknown:
        raise ValueError(f'unknown key "{unknown[0]}"')
    questions = tuple(_question(table, i) for i, table in enumerate(document["questions"], 1))
    ids = [question.id for question in questions]
    if not questions or len(set(ids)) != len(ids):
        raise ValueError("questions must be a non-empty list with distinct ids")
    levels = tuple(_level(table) for table in document["levels"])
    if tuple(level.level for level in levels) != RISK_LEVELS:
        raise ValueError(f"levels must be {', '.join(RISK_LEVELS)} in that order")
    bounds = [level.max_score for level in levels]
    if bounds != sorted(set(bounds)):
        raise ValueError("level max_score values must increase")
    highest = sum(max(option.score for option in question.options) for question in questions)
    if bounds[-1] < highest:
        raise ValueError(f"the top level must reach the highest total score {highest}")
    name = document["name"]
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    return Questionnaire(
        name=name, title=Text.parse(document["title"], "title"), questions=questions, levels=levels
    )


def _question(table: Any, number: int) -> Question:
    where = f"question {number}"
    if not isinstance(table, dict) or sorted(table) != ["id", "options", "text"]:
        raise ValueError(f"{where}: must be a table of id, text and options")
    options = tuple(_option(item, f"{where} option") for item in table["options"])
    if len(options) < 2 or len({option.id for option in options}) != len(options):
        raise ValueError(f"{where}: needs at least two options with distinct ids")
    return Question(id=str(table["id"]), text=Text.parse(table["text"], where), options=options)


def _option(table: Any, where: str) -> Option:
    if not isinstance(table, dict) or not {"id", "text", "score"} <= table.keys():
        raise ValueError(f"{where}: must be a table of id, text and score")
    if table.keys() - {"id", "text", "score", "max_level"}:
        raise ValueError(f"{where}: unknown key")
    score_ = table["score"]
    if isinstance(score_, bool) or not isinstance(score_, int) or score_ < 0:
        raise ValueError(f"{where}: score must be a whole number >= 0")
    max_level = table.get("max_level")
    if max_level is not None and max_level not in RISK_LEVELS:
        raise ValueError(f"{where}: max_level must be one of {', '.join(RISK_LEVELS)}")
    return Option(
        id=str(table["id"]),
        text=Text.parse(table["text"], where),
        score=score_,
        max_level=max_level,
    )


def _level(table: Any) -> Level:
    if not isinstance(table, dict) or sorted(table) != ["level", "max_score", "title"]:
        raise ValueError("each level must be a table of level, max_score and title")
    bound = table["max_score"]
    if isinstance(bound, bool) or not isinstance(bound, int):
        raise ValueError("level max_score must be a whole number")
    return Level(level=table["level"], max_score=bound, title=Text.parse(table["title"], "level"))
