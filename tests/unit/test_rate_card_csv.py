"""billing/rate_card_csv.py: a rate card file is read all or nothing; every bad row is reported
with its line and field; every cell passes the text rule; regions expand to their countries."""

from __future__ import annotations

from pathlib import Path

import pytest

from wacast.billing.rate_card_csv import parse_csv, parse_json_rates, to_csv
from wacast.kit.errors import WacastError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rate-card.example.csv"


def refused(data) -> WacastError:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        parse_csv(data)
    return caught.value


def test_a_good_file_with_a_region_and_a_default():
    rows = parse_csv("Category,Country,Price,Region\nmarketing,IN,0.8631,\nmarketing,DE FR IT,0.1100,Western Europe\nutility,*,0.02,\n")
    assert [(r.category, r.country, r.price_micros, r.region) for r in rows] == [
        ("marketing", "IN", 863_100, None), ("marketing", "DE", 110_000, "Western Europe"), ("marketing", "FR", 110_000, "Western Europe"),
        ("marketing", "IT", 110_000, "Western Europe"), ("utility", "*", 20_000, None)]
    again = parse_csv(to_csv(rows))
    assert again == rows


def test_the_shipped_example_reads():
    rows = parse_csv(EXAMPLE.read_bytes())
    assert {r.category for r in rows} >= {"marketing", "utility", "authentication", "service"}
    assert any(r.country == "*" for r in rows)


def test_every_bad_row_is_listed_and_nothing_is_kept():
    error = refused("category,country,price\nmarketing,IN,0.8\npromo,IN,1\nutility,XX,1\nutility,IN,-1\nmarketing,IN,0.9\nservice,IN,0\x01\n")
    assert error.code == "CSV_ROW_INVALID"
    assert [(e["line"], e["field"]) for e in error.details["errors"]] == [(3, "category"), (4, "country"), (5, "price"), (6, "country"), (7, "price")]
    assert "already priced on line 2" in error.details["errors"][3]["problem"]
    assert "control characters" in error.details["errors"][4]["problem"]
    assert error.message.startswith("The rate card has 5 bad row(s); nothing was saved. Line 3, category")


def test_file_level_refusals():
    assert refused(b"").code == "CSV_EMPTY"
    assert refused("category,country,price\n").code == "CSV_EMPTY"
    assert refused(b"\xff\xfe\x00bad").code == "CSV_NOT_UTF8"
    assert refused("category,price\nmarketing,1\n").code == "CSV_INVALID"
    assert refused("category,country,price,colour\nmarketing,IN,1,red\n").details["unknown"] == ["colour"]
    assert refused("category,country,price\nmarketing,IN\n").code == "CSV_ROW_INVALID"
    assert refused(b"x" * (1024 * 1024 + 1)).code == "CSV_TOO_LARGE"
    assert refused("category,country,price\n" + "marketing,IN,1\n" * 5001).code == "CSV_TOO_MANY_ROWS"
    assert refused('category,country,price\nmarketing,"IN,1\nutility,IN,1\n').code == "CSV_ROW_INVALID"


def test_json_rates_follow_the_same_rules():
    assert [r.price_micros for r in parse_json_rates([{"category": "marketing", "country": "in", "price": 0.5}])] == [500_000]
    with pytest.raises(WacastError) as caught:
        parse_json_rates([{"category": "marketing", "country": "IN", "price": "1", "colour": "red"}])
    assert caught.value.code == "VALIDATION_ERROR"
    with pytest.raises(WacastError) as caught:
        parse_json_rates([{"category": "marketing", "country": "IN", "price": {"x": 1}}])
    assert caught.value.code == "FIELD_INVALID"
    with pytest.raises(WacastError) as caught:
        parse_json_rates("marketing")
    assert caught.value.code == "FIELD_INVALID"
