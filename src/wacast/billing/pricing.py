"""Pure pricing rules (no I/O): what Meta's `pricing` object of a status means, which country a
destination is billed as, which rate of a card prices a message, and an estimate of a list of
(category, country) counts. Money is whole millionths of the card's currency (`micros`).

Meta's categories (as it sends them in `pricing.category`): marketing, utility, authentication,
authentication_international, service, marketing_lite, referral_conversion. `pricing.type` says
whether the message is charged: `regular` is, `free_customer_service` (inside an open customer
service window) and `free_entry_point` (a free entry point window) are not. `billable` is Meta's
older flag, being deprecated: it decides only when `type` is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers

from wacast.kit.phone import is_bsuid

CATEGORIES = (
    "marketing", "utility", "authentication", "authentication_international", "service", "marketing_lite", "referral_conversion",
)
REGULAR = "regular"
FREE_TYPES = frozenset({"free_customer_service", "free_entry_point"})
TYPES = (REGULAR, *sorted(FREE_TYPES))
ANY_COUNTRY = "*"  # a rate for every country the card does not name; also the country of a destination that has none
MICROS = 1_000_000
MAX_PRICE_MICROS = 10**15  # a billion per message: anything larger is a typo


@dataclass(frozen=True)
class Pricing:
    """Meta's `pricing` of one message, read."""

    category: str
    type: str | None
    pricing_model: str | None
    billable_flag: bool | None
    billable: bool


def _word(value: Any, max_len: int = 40) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value[:max_len] if value and value.isprintable() else None


def is_billable(type_: str | None, billable_flag: bool | None) -> bool:
    """`type` decides (regular: charged; free_*: not); Meta's deprecated `billable` only when
    `type` is missing; neither: charged (a priced message is charged unless Meta says otherwise)."""
    if type_ == REGULAR:
        return True
    if type_ in FREE_TYPES:
        return False
    if billable_flag is not None:
        return billable_flag
    return True


def read_pricing(value: Any) -> Pricing | None:
    """A status's `pricing` object as a Pricing, or None when it has no category."""
    if not isinstance(value, dict):
        return None
    category = _word(value.get("category"))
    if category is None:
        return None
    type_ = _word(value.get("type"))
    model = _word(value.get("pricing_model"), 20)
    flag = value.get("billable") if isinstance(value.get("billable"), bool) else None
    return Pricing(category, type_, model.upper() if model else None, flag, is_billable(type_, flag))


def country_of(destination: str | None) -> str:
    """The ISO 3166 country a destination is billed as: a phone number's region (+1 numbers by
    their area code: US, CA, the Caribbean), a BSUID's country prefix; `*` when unknown."""
    if not destination:
        return ANY_COUNTRY
    if is_bsuid(destination):
        return destination[:2].upper()
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(destination, None))
    except phonenumbers.NumberParseException:
        return ANY_COUNTRY
    return region if region and len(region) == 2 and region != "ZZ" else ANY_COUNTRY


def template_category(category: str | None) -> str:
    """A template's category (MARKETING, UTILITY, AUTHENTICATION) as Meta's pricing category."""
    word = (category or "").strip().lower()
    return word if word in CATEGORIES else "utility" if not word else word


def parse_price(value: Any) -> int | None:
    """A price (text or number, a dot for decimals, at most 6 of them, not negative) as micros."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -6:
        return None
    micros = int(amount * MICROS)
    return micros if micros <= MAX_PRICE_MICROS else None


def money(micros: int | None) -> str | None:
    """Micros as a decimal string with 6 places ("0.078600"); None stays None."""
    if micros is None:
        return None
    return str((Decimal(micros) / MICROS).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class RateTable:
    """One rate card version's prices: (category, country) -> micros."""

    currency: str
    rates: Mapping[tuple[str, str], int]
    version: int | None = None

    def price(self, category: str, country: str) -> int | None:
        """The country's own rate, else the card's `*` rate of the category, else None."""
        found = self.rates.get((category, country))
        return found if found is not None else self.rates.get((category, ANY_COUNTRY))


@dataclass
class EstimateLine:
    category: str
    country: str
    messages: int
    unit_micros: int | None
    cost_micros: int | None


@dataclass
class Estimate:
    currency: str | None
    version: int | None
    messages: int = 0
    cost_micros: int = 0
    unpriced: int = 0  # messages with no rate on the card (counted, not priced)
    lines: list[EstimateLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "rate_card_version": self.version, "messages": self.messages, "cost": money(self.cost_micros),
            "unpriced_messages": self.unpriced,
            "lines": [{"category": line.category, "country": line.country, "messages": line.messages, "unit_price": money(line.unit_micros),
                       "cost": money(line.cost_micros)} for line in self.lines],
        }


def estimate(table: RateTable | None, counts: Mapping[tuple[str, str], int]) -> Estimate:
    """Price (category, country) message counts at `table`. Without a card every message is
    unpriced; a free category is priced at its rate like any other (the card says 0 for it)."""
    out = Estimate(table.currency if table else None, table.version if table else None)
    for (category, country), count in sorted(counts.items()):
        if count <= 0:
            continue
        unit = table.price(category, country) if table else None
        cost = unit * count if unit is not None else None
        out.lines.append(EstimateLine(category, country, count, unit, cost))
        out.messages += count
        if cost is None:
            out.unpriced += count
        else:
            out.cost_micros += cost
    return out


def count_destinations(category: str, destinations: list[str | None]) -> dict[tuple[str, str], int]:
    """(category, country) counts of the destinations of one template's messages."""
    counts: dict[tuple[str, str], int] = {}
    for destination in destinations:
        key = (category, country_of(destination))
        counts[key] = counts.get(key, 0) + 1
    return counts
