"""The retention policy: the packaged defaults, the rules and the validation of policy files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import StorageError
from storage.retention import DEFAULT_POLICY_PATH, PolicyError, RetentionPolicy, add_months

RECORDED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
VALID = """
[rules]
min_years = 5
after_contract_months = 6

[years]
default = 5
wealth_purchase = 10
"""


def write(tmp_path: Path, content: str) -> Path:
    """A policy file holding ``content``."""
    path = tmp_path / "retention.toml"
    path.write_text(content, encoding="utf-8")
    return path


def test_packaged_defaults() -> None:
    policy = RetentionPolicy.load()

    assert policy.source == str(DEFAULT_POLICY_PATH)
    assert (policy.min_years, policy.after_contract_months) == (5, 6)
    assert policy.business_types == {
        "card_opening",
        "risk_assessment",
        "wealth_purchase",
        "loan_review",
        "corporate_account_verification",
    }
    assert policy.years_for("wealth_purchase") == 10
    assert policy.years_for("card_opening") == 5
    assert policy.years_for("never_heard_of") == 5  # the default


@pytest.mark.parametrize(
    ("business_type", "until"),
    [
        ("card_opening", datetime(2031, 3, 1, 9, 30, tzinfo=UTC)),
        ("loan_review", datetime(2031, 3, 1, 9, 30, tzinfo=UTC)),
        ("wealth_purchase", datetime(2036, 3, 1, 9, 30, tzinfo=UTC)),
        ("something_new", datetime(2031, 3, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_years_from_the_recording(business_type: str, until: datetime) -> None:
    assert RetentionPolicy.load().retain_until(business_type, RECORDED) == until


def test_contract_end_plus_six_months_wins_when_later() -> None:
    policy = RetentionPolicy.load()
    ends = datetime(2034, 5, 20, 0, 0, tzinfo=UTC)
    assert policy.retain_until("loan_review", RECORDED, ends) == datetime(2034, 11, 20, tzinfo=UTC)
    # Ending early never shortens the five years.
    early = datetime(2027, 1, 1, tzinfo=UTC)
    assert policy.retain_until("loan_review", RECORDED, early) == datetime(
        2031, 3, 1, 9, 30, tzinfo=UTC
    )
    # Nor the ten of a wealth product.
    later = datetime(2035, 1, 1, tzinfo=UTC)
    assert policy.retain_until("wealth_purchase", RECORDED, later) == datetime(
        2036, 3, 1, 9, 30, tzinfo=UTC
    )


def test_result_is_aware_utc_whatever_the_input_zone() -> None:
    recorded = datetime(2026, 3, 1, 17, 30, tzinfo=SHANGHAI)
    until = RetentionPolicy.load().retain_until("card_opening", recorded)
    assert until == datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
    assert until.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    policy = RetentionPolicy.load()
    with pytest.raises(ValueError, match="recorded_at"):
        policy.retain_until("card_opening", datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="contract_ends_at"):
        policy.retain_until("card_opening", RECORDED, datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 8, 31, tzinfo=UTC), 6, datetime(2027, 3, 1, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 60, datetime(2033, 3, 1, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 48, datetime(2032, 2, 29, tzinfo=UTC)),
        (datetime(2026, 7, 31, 23, 59, tzinfo=UTC), 5, datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        (
            datetime(2026, 11, 30, tzinfo=UTC),
            3,
            datetime(2027, 3, 1, tzinfo=UTC),
        ),
        (datetime(2026, 12, 31, tzinfo=UTC), 2, datetime(2027, 3, 1, tzinfo=UTC)),
    ],
)
def test_month_arithmetic_never_comes_out_short(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months) == expected


def test_a_valid_file_loads(tmp_path: Path) -> None:
    policy = RetentionPolicy.load(write(tmp_path, VALID))
    assert policy.years_for("wealth_purchase") == 10
    assert policy.years_for("card_opening") == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[years\ndefault = 5", "invalid TOML"),
        ("[rules]\nmin_years = 5\n", r"missing \[years\] table"),
        ("[years]\ncard_opening = 5\n", "no 'default' entry"),
        ("[years]\ndefault = 3\n", "years.default = 3 is below the minimum of 5"),
        ("[rules]\nmin_years = 3\n[years]\ndefault = 5\n", "min_years = 3 is below the minimum"),
        (
            "[rules]\nafter_contract_months = 1\n[years]\ndefault = 5\n",
            "after_contract_months = 1 is below the minimum of 6",
        ),
        (
            "[rules]\nmin_years = 7\n[years]\ndefault = 5\n",
            "years.default = 5 is below the minimum of 7",
        ),
        ('[years]\ndefault = "five"\n', "years.default must be a whole number, got 'five'"),
        ("[years]\ndefault = 5.5\n", "must be a whole number"),
        ("[years]\ndefault = true\n", "must be a whole number, got True"),
        ("[years]\ndefault = 500\n", "above the maximum of 100"),
        ("[years]\ndefault = 5\nCard-Opening = 5\n", "invalid business type 'Card-Opening'"),
        ("[years]\ndefault = 5\n[retention]\nx = 1\n", "unknown table.*retention"),
        ("[rules]\nmin_yeras = 5\n[years]\ndefault = 5\n", "unknown key.*min_yeras"),
        ("rules = 5\n[years]\ndefault = 5\n", "'rules' must be a table"),
        ("years = 5\n", r"missing \[years\] table"),
    ],
)
def test_invalid_files_are_refused_naming_file_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(PolicyError, match=message) as caught:
        RetentionPolicy.load(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, StorageError) and isinstance(caught.value, ValueError)


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=f"retention policy {missing}: cannot read"):
        RetentionPolicy.load(missing)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="cannot read"):
        RetentionPolicy.load(binary)


def test_policy_is_immutable() -> None:
    policy = RetentionPolicy.load()
    with pytest.raises(TypeError):
        policy.years["card_opening"] = 1  # type: ignore[index]
