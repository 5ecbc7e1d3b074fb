"""Who a person is (contacts/identity.py), what a BSUID is and when a template may go to one
(kit/phone.py), and the send body by `recipient` (meta/types.py): pure, no I/O."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from wacast.contacts.identity import Incoming, decide, incoming, label, phone_of, user_id_of
from wacast.kit.phone import is_bsuid, sends_by_user_id
from wacast.meta.types import OutgoingMessage, build_message_body

BSUID = "US.13491208655302741918"


@pytest.mark.parametrize("value, expected", [
    (BSUID, True), ("US.ENT.11815799212886844830", True), ("IN.1648738043044942", True), ("BR.abcDEF123", True),
    ("us.1349", False), ("USA.1349", False), ("US.", False), ("US.12 34", False), ("US.12-34", False), ("+16505551234", False),
    ("16505551234", False), ("US." + "1" * 128, True), ("US." + "1" * 129, False), ("", False), (None, False), (12, False),
    ("US.1349\x00", False), ("US.ENT.", False),
])
def test_is_bsuid(value, expected):  # noqa: ANN001
    assert is_bsuid(value) is expected


def test_templates_go_by_user_id_except_authentication():
    assert sends_by_user_id("MARKETING") and sends_by_user_id("utility") and sends_by_user_id(None)
    assert not sends_by_user_id("AUTHENTICATION") and not sends_by_user_id("authentication")


def test_the_send_body_uses_recipient_for_a_bsuid_and_to_for_a_number():
    payload = {"template": "promo", "language": "en", "components": []}
    by_id = build_message_body(OutgoingMessage("m1", "p1", BSUID, payload))
    assert by_id["recipient"] == BSUID and "to" not in by_id
    by_phone = build_message_body(OutgoingMessage("m2", "p1", "+16505551234", payload))
    assert by_phone["to"] == "+16505551234" and "recipient" not in by_phone


@pytest.mark.parametrize("value, expected", [
    ("16505551234", "+16505551234"), ("+16505551234", "+16505551234"), (16505551234, "+16505551234"), ("", None), (None, None),
    ("12345", None), ("1" * 16, None), ("1650555abcd", None), (True, None), ("١٦٥٠٥٥٥١٢٣٤", None), ([], None),
])
def test_phone_of(value, expected):  # noqa: ANN001
    assert phone_of(value) == expected


def value_with(*contacts: dict) -> dict:
    return {"contacts": list(contacts)}


def test_incoming_reads_phone_bsuid_username_and_name():
    message = {"from": "16505551234", "from_user_id": BSUID, "id": "w", "type": "text"}
    value = value_with({"profile": {"name": "Sheena Nelson", "username": "@sheena.n"}, "wa_id": "16505551234", "user_id": BSUID,
                        "parent_user_id": "US.ENT.1"})
    assert incoming(message, value) == Incoming("+16505551234", BSUID, "US.ENT.1", "sheena.n", "Sheena Nelson")


def test_incoming_without_a_phone_takes_the_bsuid_and_the_matching_contact():
    message = {"from_user_id": BSUID, "id": "w"}
    value = value_with({"profile": {"name": "Other"}, "wa_id": "19990001111"}, {"profile": {"name": "Sheena", "username": "sheena"}, "user_id": BSUID})
    person = incoming(message, value)
    assert (person.phone, person.user_id, person.username, person.name) == (None, BSUID, "sheena", "Sheena")
    assert person.known
    # The only contact, without a wa_id of another sender, is the sender's; `from` may be empty.
    alone = incoming({"from": "", "id": "w"}, value_with({"profile": {"name": "S"}, "user_id": BSUID}))
    assert (alone.phone, alone.user_id) == (None, BSUID)
    # A `from` that is itself a BSUID.
    assert incoming({"from": BSUID}, {}).user_id == BSUID


def test_incoming_is_safe_with_hostile_bodies():
    nobody = incoming({"from": {"x": 1}, "from_user_id": ["US.1"]}, {"contacts": "nope"})
    assert not nobody.known and nobody == Incoming()
    hostile = incoming({"from": "16505551234"}, value_with({"wa_id": "16505551234", "profile": {"name": "A\x00B\u200bC\ud800" + "x" * 500,
                                                                                               "username": 7}}))
    assert hostile.phone == "+16505551234" and hostile.username is None
    assert "\x00" not in hostile.name and "\ud800" not in hostile.name and len(hostile.name) <= 200
    assert user_id_of("  " + BSUID + " ") == BSUID and user_id_of("US.1 OR 1=1") is None


def row(phone=None, user_id=None, parent=None, username=None, name=""):  # noqa: ANN001, ANN201
    return SimpleNamespace(id=uuid.uuid4(), phone=phone, user_id=user_id, parent_user_id=parent, username=username, name=name)


def test_decide_makes_a_contact_when_nobody_holds_the_phone_or_the_bsuid():
    assert decide(Incoming("+1650", BSUID), []).contact_id is None


def test_decide_fills_the_missing_identifier_both_ways():
    by_bsuid = row(user_id=BSUID, username="old")
    decision = decide(Incoming("+16505551234", BSUID, None, "new", "Sheena"), [by_bsuid])
    assert decision.contact_id == by_bsuid.id
    assert decision.changes == {"phone": "+16505551234", "username": "new", "name": "Sheena"}
    by_phone = row(phone="+16505551234", name="Kept")
    decision = decide(Incoming("+16505551234", BSUID, "US.ENT.1", None, "Other"), [by_phone])
    assert decision.contact_id == by_phone.id and decision.changes == {"user_id": BSUID, "parent_user_id": "US.ENT.1"}


def test_decide_prefers_the_phone_and_keeps_two_contacts_apart():
    by_phone, by_bsuid = row(phone="+16505551234"), row(user_id=BSUID)
    decision = decide(Incoming("+16505551234", BSUID), [by_bsuid, by_phone])
    assert decision.contact_id == by_phone.id and "user_id" not in decision.changes
    assert "kept apart" in decision.notes[0]


def test_decide_takes_a_regenerated_bsuid_and_keeps_a_known_number():
    by_phone = row(phone="+16505551234", user_id="US.111")
    assert decide(Incoming("+16505551234", BSUID), [by_phone]).changes == {"user_id": BSUID}
    by_bsuid = row(phone="+16505550000", user_id=BSUID)
    decision = decide(Incoming("+16505551234", BSUID), [by_bsuid])
    assert decision.changes == {} and "number kept" in decision.notes[0]


def test_label():
    assert label("+1650", "s", BSUID) == "+1650" and label(None, "s", BSUID) == "@s" and label(None, None, BSUID) == BSUID
