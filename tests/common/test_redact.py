"""ID numbers typed into free text are masked in every form they are typed in."""

from __future__ import annotations

import pytest

from common import MAX_REASON_CHARS, ReasonTooLong, checked_reason, redact

ID = "110105198506151236"
MASKED = "**************1236"


@pytest.mark.parametrize(
    "typed",
    [
        ID,
        "1101 0519 8506 1512 36",
        "110105-19850615-1236",
        "110105 - 19850615 - 1236",
        "１１０１０５１９８５０６１５１２３６",  # full-width digits
        "１１０１０５－１９８５０６１５－１２３６",  # full-width dashes
        "１１０１　０５１９　８５０６　１５１２　３６",  # ideographic spaces
    ],
)
def test_an_id_number_in_any_form_is_masked(typed: str) -> None:
    text = f"客户说身份证号是{typed}，要求挂断"
    assert redact(text) == f"客户说身份证号是{MASKED}，要求挂断"


def test_a_final_x_is_kept_in_the_mask() -> None:
    assert redact("ID 11010519491231002x ok") == "ID **************002X ok"
    assert redact("ID 11010519491231002 X.") == "ID **************002X."


def test_an_old_15_digit_id_and_a_card_number_are_masked() -> None:
    assert redact("old 110105491231002") == "old ***********1002"
    assert redact("card 6222 0212 3456 7890 123") == "card ***************0123"


@pytest.mark.parametrize(
    "kept",
    [
        "customer left at 2025-03-01 10:30:00",
        "called 3 times, 12345678901234 is not one",  # 14 digits
        "order 2025-03-01, then 2025-04-01",
        "",
    ],
)
def test_text_without_an_id_number_is_kept_as_typed(kept: str) -> None:
    assert redact(kept) == kept


def test_a_reason_over_the_limit_is_refused_naming_the_limit() -> None:
    assert checked_reason("reason", "x" * MAX_REASON_CHARS) == "x" * MAX_REASON_CHARS
    with pytest.raises(ReasonTooLong) as refused:
        checked_reason("reason", "x" * 250_000)
    assert str(refused.value) == f'"reason" is longer than {MAX_REASON_CHARS} characters (250000)'
    assert isinstance(refused.value, ValueError)


def test_checked_reason_masks_too() -> None:
    assert checked_reason("reason", f"id {ID}") == f"id {MASKED}"
