"""How the terminal's tracking flags are merged over the JSON given (cli/tracking.py, pure):
what links.service.check_tracking then checks."""

from __future__ import annotations

from wacast.cli.tracking import flags, merge

NONE = flags(None, None, None, None, None, None, None, None)


def test_nothing_given_keeps_what_was_given():
    assert merge(None, NONE) is None
    assert merge({"goals": ["a"]}, NONE) == {"goals": ["a"]}
    assert merge([1], NONE) == [1]


def test_the_flags_replace_their_fields_and_utm_keys_only():
    base = {"utm": {"utm_source": "wa", "utm_medium": "broadcast"}, "goals": ["signup"], "attribution_window_days": 3}
    extra = flags(None, "sms", None, "", None, ["cart"], "14", True)
    assert merge(base, extra) == {"utm": {"utm_source": "wa", "utm_medium": "sms", "utm_content": ""}, "goals": ["cart"],
                                  "attribution_window_days": 14, "track_body_urls": True}
    assert base["utm"] == {"utm_source": "wa", "utm_medium": "broadcast"}  # the JSON given is not changed
    assert merge(None, flags(None, None, None, None, None, None, None, False)) == {"track_body_urls": False}


def test_what_the_parser_must_refuse_is_passed_on_as_given():
    assert merge([1], flags(None, None, None, None, None, ["a"], None, None)) == [1]
    assert merge({"utm": "x"}, flags(None, "sms", None, None, None, None, None, None))["utm"] == {"utm_medium": "sms"}
    for typed in ("seven", "0x10", "-1", "1" * 5000, "７"):
        assert merge(None, flags(None, None, None, None, None, None, typed, None)) == {"attribution_window_days": typed}
    assert merge(None, flags(None, None, None, None, None, None, "090", None)) == {"attribution_window_days": 90}
