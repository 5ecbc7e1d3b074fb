"""whatsapp/account_policy.py (pure): each account_update event Meta documents mapped
explicitly, what holds sending at a given time (a restriction lifts at its expiration with no
event), how Meta lifts it, and hostile values changing nothing. And messages/senders.account_hold,
the dispatcher's check against the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from wacast.messages.senders import account_hold
from wacast.whatsapp import account_policy as policy
from wacast.whatsapp.account_policy import AccountState, apply_event, hold, notices

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BIZ, CUSTOMER, ADD = "RESTRICTED_BIZ_INITIATED_MESSAGING", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING", "RESTRICTED_ADD_PHONE_NUMBER_ACTION"

# Meta's account_update reference (webhooks/reference/account_update, 2026): every event and restriction type.
META_EVENTS = {
    "ACCOUNT_DELETED", "ACCOUNT_RESTRICTION", "ACCOUNT_VIOLATION", "AD_ACCOUNT_LINKED", "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "DISABLED_UPDATE", "MM_LITE_TERMS_SIGNED", "PARTNER_ADDED", "PARTNER_APP_INSTALLED",
    "PARTNER_APP_UNINSTALLED", "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE", "PARTNER_REMOVED", "VOLUME_BASED_PRICING_TIER_UPDATE",
    "ACCOUNT_OFFBOARDED", "ACCOUNT_RECONNECTED",
}
META_RESTRICTIONS = {
    "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "RESTRICTED_BIZ_INITIATED_AND_USER_INITIATED_CALLING", "RESTRICTED_BIZ_INITIATED_MESSAGING",
    "RESTRICTED_BUSINESS_INITIATED_CALLING", "RESTRICTED_CUSTOMER_INITIATED_MESSAGING", "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
    "RESTRICTED_USER_INITIATED_CALLING", "RESTRICTED_USER_INITIATED_CALLING_CALL_BUTTON_HIDDEN", "RESTRICTED_UTILITY_TEMPLATES",
}


def restriction(*items: tuple[str, object]) -> dict:
    return {"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"restriction_type": t, "expiration": e} for t, e in items]}


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def test_every_documented_event_and_restriction_is_mapped_with_words():
    assert META_EVENTS <= set(policy.EVENTS)
    assert META_RESTRICTIONS <= set(policy.RESTRICTIONS)
    for kind in policy.EVENTS.values():
        assert kind.applies in {"restriction", "ban", "violation", "deleted", "offboarded", "reconnected", "info"} and kind.words
    # Only a restriction on business-initiated messaging holds wacast's sends (all of them templates).
    assert {t for t, k in policy.RESTRICTIONS.items() if k.blocks_sending} == {BIZ}
    assert "not" in policy.RESTRICTIONS[CUSTOMER].effect and "replies" in policy.RESTRICTIONS[CUSTOMER].effect


def test_a_business_initiated_restriction_holds_until_its_expiration_by_the_clock():
    until = NOW + timedelta(days=3)
    out = apply_event(AccountState(), restriction((BIZ, ts(until)), (ADD, ts(until))), NOW)
    assert (out.event, out.known, out.effect, out.notes) == ("ACCOUNT_RESTRICTION", True, "restricted", [])
    assert "business-initiated messaging" in out.summary and "2026-12-10 10:00 UTC" in out.summary
    held = hold(out.state, NOW)
    assert held is not None and held.until == until and held.since == NOW and "business-initiated" in held.reason
    assert [(n.kind, n.severity) for n in notices(out.state, NOW)] == [(BIZ, "blocks"), (ADD, "shown")]
    # A second before and after the expiration: no event needed.
    assert hold(out.state, until - timedelta(seconds=1)) is not None
    assert hold(out.state, until) is None and notices(out.state, until) == []


def test_customer_initiated_and_add_number_restrictions_are_shown_not_enforced():
    out = apply_event(AccountState(), restriction((CUSTOMER, ts(NOW + timedelta(days=5))), (ADD, None)), NOW)
    assert hold(out.state, NOW) is None
    shown = notices(out.state, NOW)
    assert [(n.kind, n.severity) for n in shown] == [(CUSTOMER, "shown"), (ADD, "shown")]
    assert shown[1].until is None  # no expiration: until Meta lifts it


def test_an_empty_restriction_info_lifts_them_and_a_later_list_replaces_them():
    first = apply_event(AccountState(), restriction((BIZ, None)), NOW)
    assert hold(first.state, NOW + timedelta(days=400)) is not None  # no expiration: until Meta lifts it
    later = NOW + timedelta(hours=1)
    replaced = apply_event(first.state, restriction((ADD, ts(later + timedelta(days=1))), (BIZ, ts(later + timedelta(days=2)))), later)
    biz = next(r for r in replaced.state.restrictions if r.type == BIZ)
    assert biz.since == NOW, "a restriction still in force keeps its since"
    only_add = apply_event(replaced.state, restriction((ADD, ts(later + timedelta(days=1)))), later)
    assert hold(only_add.state, later) is None, "a later list without it lifts it"
    lifted = apply_event(first.state, {"event": "ACCOUNT_RESTRICTION", "restriction_info": []}, later)
    assert (lifted.effect, lifted.state.restrictions, hold(lifted.state, later)) == ("lifted", (), None)


def test_an_already_expired_restriction_holds_nothing():
    out = apply_event(AccountState(), restriction((BIZ, ts(NOW - timedelta(minutes=1)))), NOW)
    assert out.effect == "lifted" and "already expired" in out.summary and hold(out.state, NOW) is None


def test_expirations_as_unix_numbers_digits_or_iso_text():
    assert policy.meta_time(1641330498) == datetime(2022, 1, 4, 21, 8, 18, tzinfo=UTC)
    assert policy.meta_time("1641330498") == policy.meta_time(1641330498)
    assert policy.meta_time("2026-04-19T13:59:20+0000") == datetime(2026, 4, 19, 13, 59, 20, tzinfo=UTC)
    assert policy.meta_time("2022-12-12T07:09:27.000Z") == datetime(2022, 12, 12, 7, 9, 27, tzinfo=UTC)
    for bad in (True, None, "soon", -5, 10**12, "9" * 30, [], {}):
        assert policy.meta_time(bad) is None
    out = apply_event(AccountState(), restriction((BIZ, "next tuesday")), NOW)
    assert hold(out.state, NOW + timedelta(days=30)) is not None and "unreadable" in out.notes[0]


def test_disable_holds_every_sender_until_reinstate_and_schedule_warns():
    scheduled = apply_event(AccountState(), {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "SCHEDULE_FOR_DISABLE",
                                                                                    "waba_ban_date": "December 9, 2026"}}, NOW)
    assert scheduled.effect == "scheduled_for_disable" and hold(scheduled.state, NOW) is None
    assert [(n.kind, n.severity) for n in notices(scheduled.state, NOW)] == [("SCHEDULE_FOR_DISABLE", "warns")]
    disabled = apply_event(scheduled.state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}, NOW)
    held = hold(disabled.state, NOW + timedelta(days=1000))
    assert disabled.effect == "disabled" and held is not None and held.until is None and "disabled" in held.reason
    again = apply_event(disabled.state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}, NOW + timedelta(hours=1))
    assert again.state.ban_since == NOW
    # Meta's example of a reinstatement.
    reinstated = apply_event(disabled.state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE",
                                                                                     "waba_ban_date": "April 17, 2025"}}, NOW)
    assert reinstated.effect == "reinstated" and hold(reinstated.state, NOW) is None and reinstated.state.ban_state is None
    unknown = apply_event(disabled.state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "MAYBE"}}, NOW)
    assert unknown.effect == "recorded" and unknown.state == disabled.state and unknown.notes


def test_deleted_and_offboarded_accounts_hold_until_reinstated_or_reconnected():
    deleted = apply_event(AccountState(), {"event": "ACCOUNT_DELETED"}, NOW)
    assert hold(deleted.state, NOW) is not None
    assert hold(apply_event(deleted.state, {"event": "ACCOUNT_RECONNECTED"}, NOW).state, NOW) is not None
    assert hold(apply_event(deleted.state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}}, NOW).state, NOW) is None
    offboarded = apply_event(AccountState(), {"event": "ACCOUNT_OFFBOARDED"}, NOW)
    assert hold(offboarded.state, NOW) is not None and offboarded.effect == "offboarded"
    back = apply_event(offboarded.state, {"event": "ACCOUNT_RECONNECTED"}, NOW)
    assert back.effect == "reconnected" and hold(back.state, NOW) is None


def test_several_blocks_hold_until_the_last_one_ends():
    state = apply_event(AccountState(), restriction((BIZ, ts(NOW + timedelta(days=2)))), NOW).state
    state = apply_event(state, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}, NOW).state
    held = hold(state, NOW)
    assert held.until is None and "disabled" in held.reason and "business-initiated" in held.reason


def test_a_violation_and_informational_events_are_recorded_and_change_no_hold():
    violation = apply_event(AccountState(), {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "ADULT"}}, NOW)
    assert violation.effect == "violation" and hold(violation.state, NOW) is None
    assert [n.kind for n in notices(violation.state, NOW)] == ["ACCOUNT_VIOLATION"]
    assert notices(violation.state, NOW + timedelta(days=31)) == []  # shown for 30 days
    for event in META_EVENTS - {"ACCOUNT_RESTRICTION", "DISABLED_UPDATE", "ACCOUNT_VIOLATION", "ACCOUNT_DELETED",
                                "ACCOUNT_OFFBOARDED", "ACCOUNT_RECONNECTED"}:
        out = apply_event(AccountState(), {"event": event, "waba_info": {"waba_id": "980198427658004"}}, NOW)
        assert (out.known, out.effect, out.state, out.notes) == (True, "recorded", AccountState(), []), event
        assert out.detail == {"waba_info": {"waba_id": "980198427658004"}}
    unknown = apply_event(AccountState(), {"event": "SOMETHING_NEW"}, NOW)
    assert (unknown.known, unknown.effect) == (False, "recorded") and "SOMETHING_NEW" in unknown.notes[0]


@pytest.mark.parametrize("value", [
    {}, {"event": None}, {"event": 5}, {"event": "ACCOUNT_RESTRICTION"}, {"event": "ACCOUNT_RESTRICTION", "restriction_info": "BIZ"},
    {"event": "ACCOUNT_RESTRICTION", "restriction_info": [1, None, {"restriction_type": 7}, {"restriction_type": "bad type!"}]},
    {"event": "DISABLED_UPDATE"}, {"event": "DISABLED_UPDATE", "ban_info": ["DISABLE"]},
    {"event": "ACCOUNT_\x00DELETED"}, {"event": "A" * 5000},
])
def test_hostile_values_change_nothing(value):
    state = apply_event(AccountState(), restriction((BIZ, ts(NOW + timedelta(days=1)))), NOW).state
    out = apply_event(state, value, NOW)
    assert out.state == state and out.effect == "recorded" and len(out.summary) <= policy.SUMMARY_MAX


def test_texts_are_cleaned_and_capped_and_details_bounded():
    out = apply_event(AccountState(), {"event": "ACCOUNT_RESTRICTION", "restriction_info": [
        {"restriction_type": BIZ, "expiration": None, "remediation": "Review\x00 your\ud800 practices" + "x" * 1000}]}, NOW)
    remediation = out.state.restrictions[0].remediation
    assert "\x00" not in remediation and "\ud800" not in remediation and len(remediation) <= policy.TEXT_MAX
    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}, "BadKey": 1, "list": list(range(100)), "n": 10**20}
    detail = policy.clean_detail(deep)
    assert detail == {"a": {"b": {"c": None}}, "list": list(range(20)), "n": None}
    assert policy.waba_id("102290129340398") == "102290129340398" and policy.waba_id("1; DROP") is None and policy.waba_id(True) is None
    assert policy.phone_number("16505551111") == "16505551111" and policy.phone_number("call me") is None


def test_the_stored_state_round_trips():
    out = apply_event(AccountState(), restriction((BIZ, ts(NOW + timedelta(days=1))), (ADD, None)), NOW)
    stored = SimpleNamespace(restrictions=policy.restrictions_json(out.state.restrictions), ban_state=None, ban_date=None,
                             ban_since=None, lifecycle=None, lifecycle_since=None, violation_type=None, violation_at=None)
    assert policy.state_of(stored) == out.state
    stored.restrictions = [{"type": BIZ}, "junk", {"type": "X", "since": "not a time"}]
    assert policy.state_of(stored).restrictions == ()
    assert policy.state_of(None) == AccountState()


def test_the_customer_webhook_data():
    out = apply_event(AccountState(), restriction((BIZ, ts(NOW + timedelta(days=1)))), NOW)
    data = policy.status_data("102290129340398", out.state, out, NOW)
    assert data["event"] == "ACCOUNT_RESTRICTION" and data["effect"] == "restricted"
    assert data["sending"] == {"held": True, "reason": hold(out.state, NOW).reason, "since": "2026-12-07T10:00:00Z",
                               "until": "2026-12-08T10:00:00Z"}
    assert data["restrictions"] == [{"type": BIZ, "what": "business-initiated messaging (template sends)", "blocks_sending": True,
                                     "since": "2026-12-07T10:00:00Z", "expires_at": "2026-12-08T10:00:00Z", "remediation": None}]


def test_the_dispatchers_check_against_the_clock():
    until = NOW + timedelta(seconds=2)
    project = SimpleNamespace(account_hold="Meta restricted business-initiated messaging", account_hold_until=until)
    assert account_hold(project, NOW) == "Meta restricted business-initiated messaging"
    assert account_hold(project, until) is None
    assert account_hold(SimpleNamespace(account_hold="disabled", account_hold_until=None), NOW + timedelta(days=999)) == "disabled"
    assert account_hold(SimpleNamespace(account_hold=None, account_hold_until=None), NOW) is None
