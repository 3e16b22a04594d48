"""The retention policy: how long each business type's recordings must be kept."""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import StorageError

DEFAULT_POLICY_PATH = Path(__file__).with_name("retention.toml")
# The regulations' floors: a policy file may raise them, never lower them.
REGULATORY_MIN_YEARS = 5
REGULATORY_AFTER_CONTRACT_MONTHS = 6
# Anything longer is surely a typo (months written as years, an extra digit).
_MAX_YEARS = 100
_DEFAULT = "default"
_BUSINESS_TYPE = re.compile(r"[a-z][a-z0-9_]{0,49}")
_TABLES = frozenset({"rules", "years"})
_RULES = frozenset({"min_years", "after_contract_months"})


class PolicyError(StorageError, ValueError):
    """The retention policy file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Minimum retention of recordings: regulatory floors plus years per business type."""

    min_years: int
    after_contract_months: int
    years: Mapping[str, int]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        """Check the values against the regulatory floors."""
        where = f"retention policy {self.source}"
        _check_int(self.min_years, f"{where}: rules.min_years", REGULATORY_MIN_YEARS)
        _check_int(
            self.after_contract_months,
            f"{where}: rules.after_contract_months",
            REGULATORY_AFTER_CONTRACT_MONTHS,
            maximum=_MAX_YEARS * 12,
        )
        if _DEFAULT not in self.years:
            raise PolicyError(f"{where}: [years] has no 'default' entry")
        for name, value in self.years.items():
            if not isinstance(name, str) or not _BUSINESS_TYPE.fullmatch(name):
                raise PolicyError(
                    f"{where}: invalid business type {name!r} in [years]; "
                    "expected lower-case letters, digits and underscores"
                )
            _check_int(value, f"{where}: years.{name}", self.min_years)
        object.__setattr__(self, "years", MappingProxyType(dict(self.years)))

    @classmethod
    def load(cls, path: Path | None = None) -> RetentionPolicy:
        """Read and validate a policy file (the packaged ``retention.toml`` by default)."""
        path = DEFAULT_POLICY_PATH if path is None else path
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"retention policy {path}: cannot read: {exc}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"retention policy {path}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<memory>") -> RetentionPolicy:
        """Build a policy from parsed TOML, naming ``source`` in every error."""
        where = f"retention policy {source}"
        unknown = sorted(set(data) - _TABLES)
        if unknown:
            raise PolicyError(
                f"{where}: unknown table(s) {', '.join(unknown)}; expected rules, years"
            )
        rules, years = data.get("rules", {}), data.get("years")
        if not isinstance(rules, Mapping):
            raise PolicyError(f"{where}: 'rules' must be a table")
        unknown = sorted(set(rules) - _RULES)
        if unknown:
            raise PolicyError(
                f"{where}: unknown key(s) in [rules]: {', '.join(unknown)}; "
                "expected min_years, after_contract_months"
            )
        if not isinstance(years, Mapping):
            raise PolicyError(f"{where}: missing [years] table (years per business type)")
        return cls(
            min_years=rules.get("min_years", REGULATORY_MIN_YEARS),
            after_contract_months=rules.get(
                "after_contract_months", REGULATORY_AFTER_CONTRACT_MONTHS
            ),
            years=dict(years),
            source=source,
        )

    @property
    def business_types(self) -> frozenset[str]:
        """The business types configured (besides ``default``)."""
        return frozenset(self.years) - {_DEFAULT}

    def years_for(self, business_type: str) -> int:
        """Years from the recording for ``business_type`` (``default`` when not listed)."""
        return self.years.get(business_type, self.years[_DEFAULT])

    def retain_until(
        self,
        business_type: str,
        recorded_at: datetime,
        contract_ends_at: datetime | None = None,
    ) -> datetime:
        """The earliest moment (aware UTC) the recording may be deleted."""
        recorded = _aware_utc(recorded_at, "recorded_at")
        years = max(self.min_years, self.years_for(business_type))
        until = add_months(recorded, 12 * years)
        if contract_ends_at is not None:
            ends = _aware_utc(contract_ends_at, "contract_ends_at")
            until = max(until, add_months(ends, self.after_contract_months))
        return until


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months; a day the month lacks rolls to the next 1st.

    Rolling forward (31 Aug + 6 months = 1 Mar) keeps a retention period from ever
    coming out shorter than the rule says.
    """
    year, month0 = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month = month0 + 1
    if moment.day <= calendar.monthrange(year, month)[1]:
        return moment.replace(year=year, month=month)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return moment.replace(year=year, month=month, day=1)


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} given as {name}; pass a tz-aware value"
        )
    return value.astimezone(UTC)


def _check_int(value: object, what: str, minimum: int, maximum: int = _MAX_YEARS) -> None:
    # bool is an int to Python but `true` in a policy file is a mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{what} = {value} is below the minimum of {minimum}")
    if value > maximum:
        raise PolicyError(f"{what} = {value} is above the maximum of {maximum}")
