"""PRC resident ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

from datetime import date

import pytest

from workflow import (
    InvalidCreditCode,
    InvalidIdNumber,
    WorkflowError,
    mask_id,
    validate_credit_code,
    validate_resident_id,
)
from workflow.identity import credit_check_char, id_check_digit

# The example printed in GB 11643-1999, two more, and real companies' codes (public registry).
VALID_IDS = ["11010519491231002X", "440524198001010013", "310115198706302414", "11010519491231002x"]
VALID_CODES = ["91440300708461136T", "91330100716105852F", "9144030071526726XG"]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_id(number: str) -> None:
    parsed = validate_resident_id(f"  {number} ")
    assert parsed.number == number.upper()
    assert parsed.region_code == number[:6]
    assert parsed.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert parsed.masked == "**************" + number[-4:].upper()


def test_resident_id_fields() -> None:
    parsed = validate_resident_id("11010519491231002X")
    assert (parsed.sequence, parsed.sex) == ("002", "female")
    assert validate_resident_id("440524198001010013").sex == "male"
    assert parsed.age_on(date(2025, 12, 30)) == 75
    assert parsed.age_on(date(2025, 12, 31)) == 76


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("", "must be 18 characters, not 0"),
        ("11010519491231002", "must be 18 characters, not 17"),
        ("11010519491231002X1", "must be 18 characters, not 19"),
        ("1101051949123100ZX", "the first 17 characters must be digits"),
        ("１１010519491231002X", "the first 17 characters must be digits"),
        ("11010519491231002Y", "the last character must be a digit or X"),
        ("000105194912310021", "unknown region code"),
        ("110105194913310021", "the birth date is not a calendar date"),
        ("110105190002290021", "the birth date is not a calendar date"),  # 1900: no 29 Feb
        ("110105189912310021", "the birth date is out of range"),
        ("110105194912310021", "wrong check digit"),
        ("440524198001010014", "wrong check digit"),
        ("440524188001010014", "the birth date is out of range"),  # GB's example, born 1880
    ],
)
def test_invalid_resident_id(number: str, problem: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        validate_resident_id(number)
    assert caught.value.problem == problem
    assert isinstance(caught.value, WorkflowError) and isinstance(caught.value, ValueError)
    if len(number) > 4:
        assert number[:6] not in str(caught.value)  # never the whole number in a message


def test_birth_date_after_today_is_refused() -> None:
    number = "11010520300101002"
    number += id_check_digit(number)
    assert validate_resident_id(number).birth_date == date(2030, 1, 1)
    with pytest.raises(InvalidIdNumber, match="out of range"):
        validate_resident_id(number, today=date(2029, 12, 31))


def test_every_check_digit_position() -> None:
    # Changing any one digit of a valid number breaks its check digit (or its date).
    base = "11010519491231002X"
    for index in range(17):
        digit = str((int(base[index]) + 1) % 10)
        changed = base[:index] + digit + base[index + 1 :]
        with pytest.raises(InvalidIdNumber):
            validate_resident_id(changed)


def test_check_digit_needs_17_digits() -> None:
    assert id_check_digit("11010519491231002") == "X"
    with pytest.raises(ValueError, match="exactly 17 digits"):
        id_check_digit("1101051949123100")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "**************002X"),
        (" 440524188001010014 ", "**************0014"),
        ("1234", "****"),
        ("12345", "*2345"),
        ("", ""),
    ],
)
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_credit_code(code: str) -> None:
    assert validate_credit_code(code.lower()) == code
    assert credit_check_char(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("9144030070846113", "must be 18 characters, not 16"),
        ("91440300708461136I", 'character "I" is not allowed'),
        ("914403O0708461136T", 'character "O" is not allowed'),
        ("91A40300708461136T", "characters 3 to 8 must be the region code digits"),
        ("91440300708461136A", "wrong check character"),
    ],
)
def test_invalid_credit_code(code: str, problem: str) -> None:
    with pytest.raises(InvalidCreditCode) as caught:
        validate_credit_code(code)
    assert caught.value.problem == problem
