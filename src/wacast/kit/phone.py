"""Destination numbers: what a CRM sends, read the way AiSensy reads it, stored as E.164; and
Meta's business-scoped user ids (BSUIDs), the destination of a person without a phone number."""

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


# --- business-scoped user ids (BSUIDs) ----------------------------------------------------------
#
# Meta identifies a WhatsApp user inside one business portfolio by a BSUID: an ISO 3166 alpha-2
# country code, a period, then up to 128 alphanumeric characters ("US.13491208655302741918");
# a parent BSUID (shared by the portfolios of one enterprise) has "ENT." after the country
# ("US.ENT.11815799212886844830"). People who adopt a WhatsApp username may write with no phone
# number at all: they are known, and can be messaged (`"recipient": <BSUID>`), by it alone.

MAX_BSUID = 140
_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")

# Templates may be sent by BSUID (`recipient`), except authentication templates: Meta says
# one-tap, zero-tap and copy-code authentication templates still need a phone number (error
# 131062 "Business-scoped User ID recipients are not supported for this message"). Set this to
# False to send to phone numbers only: BSUID-only contacts are then skipped (`no_phone_number`).
SEND_TEMPLATES_BY_USER_ID = True
_NEEDS_A_PHONE = frozenset({"AUTHENTICATION"})


def is_bsuid(value: object) -> bool:
    """Whether `value` is a business-scoped user id (or a parent one), never a phone number."""
    return isinstance(value, str) and len(value) <= MAX_BSUID and _BSUID.match(value) is not None


def sends_by_user_id(category: str | None) -> bool:
    """Whether a template of `category` may be sent to a BSUID instead of a phone number."""
    return SEND_TEMPLATES_BY_USER_ID and str(category or "").upper() not in _NEEDS_A_PHONE
