"""Identity numbers: PRC resident ID (GB 11643-1999) and unified social credit code (GB 32100)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from workflow.errors import InvalidCreditCode, InvalidIdNumber

# GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits.
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"
# Province-level codes (GB/T 2260), plus 71/81/82/83 used by Taiwan, Hong Kong and Macau
# residents' residence permits.
_PROVINCES: Final = frozenset(
    {
        *("11", "12", "13", "14", "15", "21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65", "71", "81", "82", "83"),
    }
)
# GB 32100-2015: 31 characters (no I, O, S, V, Z), MOD 31 check character.
_CODE_CHARS: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class ResidentId:
    """A valid 18-character PRC resident ID number and what it encodes."""

    number: str
    region_code: str
    birth_date: date
    sequence: str
    sex: str  # "male" or "female", from the parity of the 17th digit

    @property
    def masked(self) -> str:
        """The number with all but its last four characters hidden."""
        return mask_id(self.number)

    def age_on(self, day: date) -> int:
        """Age in whole years on `day`."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


def mask_id(number: str) -> str:
    """Hide all but the last four characters of an identity number ("**************123X")."""
    number = number.strip()
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 4) + number[-4:]


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of a resident ID."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the check digit is computed over exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Parse an 18-character resident ID number, raising InvalidIdNumber if it is not valid."""
    number = value.strip().upper() if isinstance(value, str) else ""
    masked = mask_id(number)
    if len(number) != 18:
        raise InvalidIdNumber(masked, f"must be 18 characters, not {len(number)}")
    if not number[:17].isascii() or not number[:17].isdigit():
        raise InvalidIdNumber(masked, "the first 17 characters must be digits")
    if not (number[17].isascii() and number[17].isdigit()) and number[17] != "X":
        raise InvalidIdNumber(masked, "the last character must be a digit or X")
    if number[:2] not in _PROVINCES:
        raise InvalidIdNumber(masked, "unknown region code")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(masked, "the birth date is not a calendar date") from None
    if birth.year < 1900 or (today is not None and birth > today):
        raise InvalidIdNumber(masked, "the birth date is out of range")
    expected = id_check_digit(number[:17])
    if number[17] != expected:
        raise InvalidIdNumber(masked, "wrong check digit")
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=birth,
        sequence=number[14:17],
        sex="male" if int(number[16]) % 2 else "female",
    )


def credit_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    if len(first17) != 17 or any(char not in _CODE_CHARS for char in first17):
        raise ValueError("the check character is computed over 17 code characters")
    total = sum(
        _CODE_CHARS.index(char) * weight
        for char, weight in zip(first17, _CODE_WEIGHTS, strict=True)
    )
    return _CODE_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    """Normalise a unified social credit code, raising InvalidCreditCode if it is not valid."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 18:
        raise InvalidCreditCode(code, f"must be 18 characters, not {len(code)}")
    bad = [char for char in code if char not in _CODE_CHARS]
    if bad:
        raise InvalidCreditCode(code, f'character "{bad[0]}" is not allowed')
    if not code[2:8].isdigit():
        raise InvalidCreditCode(code, "characters 3 to 8 must be the region code digits")
    if code[17] != credit_check_char(code[:17]):
        raise InvalidCreditCode(code, "wrong check character")
    return code
