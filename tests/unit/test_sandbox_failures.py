"""The sandbox's failure rule without I/O: parsing what people give, which sends fail, and the
shapes of the failure (Meta's error envelope as the client reads it, the failed webhook's entry)."""

from __future__ import annotations

import uuid

import pytest

from wacast.config import Settings
from wacast.kit.errors import WacastError
from wacast.messages.retry_policy import Action, after_error
from wacast.meta.errors import MEANINGS, ErrorClass, classify
from wacast.whatsapp import sandbox_failures as f


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i * 7919 + 1)) for i in range(n)]


def test_a_rule_is_read_from_form_text_with_numbers_in_the_project_country() -> None:
    rule = f.parse_rule({"rate": "12.5 %", "code": "131047", "numbers": "9812345678, +44 7911 123456=131049;\n+919812345679", "mode": "Webhook"})
    assert rule.rate == 12.5 and rule.code == 131047 and rule.mode == "webhook"
    assert rule.numbers == (("+919812345678", 131047), ("+447911123456", 131049), ("+919812345679", 131047))
    assert rule.active
    # The stored form reads back as the same rule; the form text shows own codes only.
    assert f.from_stored(rule.as_dict()) == rule
    assert rule.numbers_text() == "+919812345678, +447911123456=131049, +919812345679"
    # A number given twice keeps its last code.
    assert f.parse_numbers("+919812345678=131026; +91 98123 45678 = 131050", 131026) == (("+919812345678", 131050),)


def test_defaults_and_off() -> None:
    rule = f.parse_rule({})
    assert rule == f.OFF and not rule.active and rule.code == 131026 and rule.mode == "sync"
    assert f.parse_rule({"rate": "", "code": "", "numbers": "", "mode": ""}) == f.OFF
    assert "off" in f.OFF.describe()
    assert f.from_stored(None) is None  # no rule of its own: the default applies
    assert f.from_stored({"rate": 500}) == f.OFF  # a stored value that no longer parses fails nothing


@pytest.mark.parametrize(("given", "field", "words"), [
    ({"rate": "101"}, "rate", "0 to 100"),
    ({"rate": "-1"}, "rate", "0 to 100"),
    ({"rate": "nan"}, "rate", "0 to 100"),
    ({"rate": "ten"}, "rate", "'ten'"),
    ({"rate": True}, "rate", "0 to 100"),
    ({"code": "999999"}, "code", "not one of the Meta error codes"),
    ({"code": "13102x"}, "code", "13102x"),
    ({"mode": "later"}, "mode", "sync"),
    ({"numbers": "+91981234567812345"}, "numbers", "not a phone number"),
    ({"numbers": "+919812345678=42"}, "numbers", "42"),
    ({"numbers": "+919812345678\x00"}, "numbers", "NUL"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_bad_input_is_refused_naming_the_field(given: dict, field: str, words: str) -> None:
    with pytest.raises(WacastError) as caught:
        f.parse_rule(given)
    assert caught.value.details["field"] == field
    assert words in caught.value.message
    assert caught.value.code in ("SANDBOX_RULE_INVALID", "FIELD_INVALID")


def test_too_many_numbers_are_refused() -> None:
    many = ", ".join(f"+9198{i:08d}" for i in range(f.MAX_NUMBERS + 1))
    with pytest.raises(WacastError, match="at most"):
        f.parse_numbers(many, 131026)


def test_numbers_fail_with_their_own_code_whatever_the_message() -> None:
    rule = f.parse_rule({"numbers": "+919812345678=131049, +919812345679"})
    for message_id in ids(20):
        assert f.failure_code(rule, message_id, "+919812345678") == 131049
        assert f.failure_code(rule, message_id, "+919812345679") == 131026
        assert f.failure_code(rule, message_id, "+919812345670") is None


def test_the_share_is_decided_by_message_id_and_is_close_to_the_rate() -> None:
    rule = f.parse_rule({"rate": 30, "code": 130472})
    many = ids(2000)
    failing = [m for m in many if f.failure_code(rule, m, "+919812345678") is not None]
    assert 0.25 < len(failing) / len(many) < 0.35
    assert all(f.failure_code(rule, m, "+919812345678") == 130472 for m in failing)
    # The same message always lands on the same side (every attempt, every process).
    assert failing == [m for m in many if f.share_of(m) < 30]
    assert f.share_of(many[0]) == f.share_of(many[0])
    assert not any(f.failure_code(f.parse_rule({"rate": 0}), m, "+1") for m in many)
    assert all(f.failure_code(f.parse_rule({"rate": 100}), m, "+1") == 131026 for m in many)


def test_every_offered_code_is_known_and_the_common_ones_come_first() -> None:
    codes = f.known_codes()
    assert set(codes) == set(MEANINGS) and len(codes) == len(set(codes))
    assert codes[:6] == [131026, 131047, 131049, 130472, 131050, 132001]
    choices = {c["code"]: c for c in f.code_choices()}
    assert choices[131000]["sync_effect"].startswith("retried")
    assert choices[131049]["sync_effect"] == "tried again after about 24 hours, a few times, then failed"
    assert "opted out" in choices[131050]["sync_effect"]
    assert "halted" in choices[131031]["sync_effect"]


@pytest.mark.parametrize("code", [131026, 131047, 131049, 130472, 131050, 132001, 131000, 130429, 131056, 131031, 132015])
def test_the_sync_error_is_handled_by_the_retry_policy_as_metas_would_be(code: int) -> None:
    error = f.send_error(code)
    assert error.code == code and str(code) in error.title and error.details
    decision = after_error(error, 1, max_attempts=8, retry_base_seconds=1, retry_max_seconds=900)
    kind = classify(code)
    expected = {ErrorClass.retry: Action.retry, ErrorClass.recipient: Action.retry, ErrorClass.defer: Action.defer,
                ErrorClass.permanent: Action.fail, ErrorClass.opt_out: Action.fail, ErrorClass.hold_template: Action.hold,
                ErrorClass.halt_sender: Action.halt}[kind]
    assert decision.action is expected
    if decision.action is Action.fail:
        assert decision.code == code


def test_the_webhook_error_is_metas_shape() -> None:
    entry = f.webhook_error(131049)
    assert entry["code"] == 131049 and entry["title"].startswith("This message was not delivered")
    assert entry["error_data"]["details"] == "made to fail with 131049 by the sandbox's failure rule"


def test_settings_give_the_default_and_their_problems_are_named() -> None:
    settings = Settings(sandbox_fail_rate=5, sandbox_fail_code=131047, sandbox_fail_numbers="+919812345678=131050", sandbox_fail_mode="webhook")
    rule = f.from_settings(settings)
    assert rule == f.FailureRule(5.0, 131047, (("+919812345678", 131050),), "webhook")
    assert f.settings_problems(settings) == []
    assert f.from_settings(Settings()) == f.OFF
    bad = f.settings_problems(Settings(sandbox_fail_code=12345))
    assert len(bad) == 1 and bad[0].startswith("WACAST_SANDBOX_FAIL_CODE: ")
    bad = f.settings_problems(Settings(sandbox_fail_numbers="not-a-number"))
    assert len(bad) == 1 and bad[0].startswith("WACAST_SANDBOX_FAIL_NUMBERS: ")
    with pytest.raises(ValueError):
        Settings(sandbox_fail_rate=150)
    with pytest.raises(ValueError):
        Settings(sandbox_fail_mode="later")


def test_descriptions() -> None:
    assert f.parse_rule({"rate": 20, "mode": "webhook"}).describe() == "20 % of sends fail with 131026; accepted, then a failed status webhook"
    assert f.parse_rule({"numbers": "+919812345678"}).describe() == "1 number always fails; refused at the send (the retry policy applies)"
