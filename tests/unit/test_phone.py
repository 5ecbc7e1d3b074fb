"""Destination parsing: the AiSensy reading of a number, stored as E.164."""

import pytest

from wacast.kit.phone import InvalidNumber, normalize


@pytest.mark.parametrize("raw,expected", [
    ("+917428526285", "+917428526285"),  # international with +
    ("917428526285", "+917428526285"),  # digits with the country code
    ("7428526285", "+917428526285"),  # a national Indian number (default country IN)
    ("09876543210", "+919876543210"),  # national with a trunk 0
    ("+14155550123", "+14155550123"),
    ("447911123456", "+447911123456"),  # not a valid Indian number: read as international
    ("00447911123456", "+447911123456"),  # 00 means international
    ("+91 74285-26285", "+917428526285"),  # separators are ignored
    ("+1 (415) 555-0123", "+14155550123"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["garbage", "", "12", "+", "+12", "0000000000", "91742852628512345678", "+91abc", "74285 2628x", "１２３"])
def test_invalid(raw):
    with pytest.raises(InvalidNumber):
        normalize(raw)


def test_default_country_decides_national_numbers():
    assert normalize("4155550123", "US") == "+14155550123"
    assert normalize("07911123456", "GB") == "+447911123456"
    # The same digits read under the default country IN are an Indian number.
    assert normalize("07911123456") == "+917911123456"
    # Neither a valid national number nor a valid international one: refused, not guessed.
    with pytest.raises(InvalidNumber):
        normalize("5551234", "US")


def test_non_string_is_invalid():
    with pytest.raises(InvalidNumber):
        normalize(917428526285)  # type: ignore[arg-type]
