"""Destination numbers: what a CRM sends, read the way AiSensy reads it, stored as E.164."""

from __future__ import annotations

import re

import phonenumbers

_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidNumber(ValueError):
    pass


def _valid(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.is_valid_number(number)


def normalize(raw: str, default_country: str = "IN") -> str:
    """Return the E.164 form of `raw` or raise InvalidNumber.

    - A leading `+` or `00` means an international number.
    - Digits only: a valid national number of the default country first (so 7428526285 and
      09876543210 are Indian), else a valid international number read from its leading
      country code (447911123456).
    """
    if not isinstance(raw, str):
        raise InvalidNumber("destination must be a string")
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not 7 <= len(digits) <= 15:  # Niue and Tokelau: 7 digits
            raise InvalidNumber(raw)
        candidates = [(text, None)]
    else:
        if not text.isdigit() or not 6 <= len(text) <= 15:
            raise InvalidNumber(raw)
        candidates = [(text, default_country.upper()), ("+" + text, None)]
    for candidate, region in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if _valid(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidNumber(raw)


def is_valid_region(code: str) -> bool:
    return isinstance(code, str) and code.upper() in phonenumbers.SUPPORTED_REGIONS
