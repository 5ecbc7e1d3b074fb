"""billing/pricing.py: Meta's pricing object read (type first, billable as the fallback), the
country of a destination, the rate chosen (the country's own, else `*`), and estimates."""

from __future__ import annotations

from wacast.billing.pricing import RateTable, country_of, estimate, is_billable, money, parse_price, read_pricing, template_category


def test_type_decides_and_billable_is_only_a_fallback():
    assert is_billable("regular", False) is True
    assert is_billable("free_customer_service", True) is False
    assert is_billable("free_entry_point", None) is False
    assert is_billable(None, False) is False
    assert is_billable(None, True) is True
    assert is_billable(None, None) is True


def test_read_pricing_of_each_shape():
    got = read_pricing({"billable": True, "pricing_model": "PMP", "type": "regular", "category": "Authentication_International"})
    assert (got.category, got.type, got.pricing_model, got.billable_flag, got.billable) == ("authentication_international", "regular", "PMP", True, True)
    older = read_pricing({"billable": False, "pricing_model": "CBP", "category": "service"})
    assert (older.type, older.billable) == (None, False)
    assert read_pricing({"billable": True}) is None
    assert read_pricing("marketing") is None
    assert read_pricing({"category": 5}) is None


def test_country_of_a_destination():
    assert country_of("+917428526285") == "IN"
    assert country_of("+14155552671") == "US"
    assert country_of("+14165551234") == "CA"  # +1 by its area code, not all of +1
    assert country_of("+971501234567") == "AE"
    assert country_of("US.13491208655302741918") == "US"  # a BSUID's country
    assert country_of(None) == "*"
    assert country_of("not a number") == "*"


def test_prices_and_money():
    assert parse_price("0.0786") == 78_600
    assert parse_price(" 1 ") == 1_000_000
    assert parse_price(2) == 2_000_000
    for bad in ("-1", "abc", "0.0000001", "", "nan", "inf", "1,5"):
        assert parse_price(bad) is None, bad
    assert money(78_600) == "0.078600"
    assert money(None) is None
    assert template_category("MARKETING") == "marketing"
    assert template_category(None) == "utility"


def test_estimate_uses_the_countrys_rate_then_the_cards_default():
    table = RateTable("INR", {("marketing", "IN"): 863_100, ("marketing", "*"): 1_000_000, ("utility", "IN"): 115_000}, 3)
    out = estimate(table, {("marketing", "IN"): 10, ("marketing", "FR"): 2, ("utility", "US"): 4, ("utility", "IN"): 0})
    assert (out.currency, out.version, out.messages, out.cost_micros, out.unpriced) == ("INR", 3, 16, 10 * 863_100 + 2 * 1_000_000, 4)
    assert out.as_dict()["cost"] == "10.631000"
    assert [(line.country, line.unit_micros) for line in out.lines] == [("FR", 1_000_000), ("IN", 863_100), ("US", None)]
    none = estimate(None, {("marketing", "IN"): 3})
    assert (none.currency, none.unpriced, none.cost_micros) == (None, 3, 0)
