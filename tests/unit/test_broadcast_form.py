"""New broadcast's fields to the create body (dashboard/broadcast_form.py) and the estimate's
warnings (campaigns/broadcasts/estimate.warnings), without I/O."""

from wacast.campaigns.broadcasts.estimate import Estimate, warnings
from wacast.dashboard import broadcast_form as bf


def getter(fields: dict):  # noqa: ANN201
    return lambda name: fields.get(name, "")


def test_each_value_is_mapped_from_the_contact_or_fixed():
    body = bf.body_of(getter({
        "name": "Wave 2", "template": "diwali_link|en", "segment": "s-1",
        "param_0_from": "attribute", "param_0_attr": "FirstName", "param_0_fallback": "there",
        "param_1_from": "text", "param_1_text": "25%", "param_1_attr": "ignored",
        "param_2_from": "attribute", "param_2_attr": "city",
        "button_0_from": "text", "button_0_text": "WAVE2",
        "when": "later", "send_date": "2026-12-07", "send_time": "10:00",
    }), param_count=3, button_indexes=[0], needs_media=False, needs_location=False)
    assert body == {
        "name": "Wave 2", "template": "diwali_link", "language": "en", "segment": "s-1",
        "params": [{"attribute": "FirstName", "fallback": "there"}, "25%", "$city"],
        "buttons": {"0": "WAVE2"}, "send_at": "2026-12-07T10:00",
    }


def test_what_is_not_filled_in_stays_empty_for_the_plan_to_refuse():
    body = bf.body_of(getter({"template": "t|en", "when": "later"}), param_count=1, button_indexes=[1], needs_media=True, needs_location=True)
    assert body["params"] == [""] and body["buttons"] == {"1": ""}
    assert body["media"] == {"url": ""} and body["location"]["latitude"] == ""
    assert body["send_at"] == "later"  # later without a day: refused by parse_send_at, naming send_at
    assert "send_at" not in bf.body_of(getter({"when": "now"}), param_count=0, button_indexes=[], needs_media=False, needs_location=False)


def test_the_form_may_post_every_mapping_and_nothing_else():
    names = set(bf.field_names())
    assert {"param_19_fallback", "button_9_text", "test_phone", "send_time"} <= names
    assert "params" not in names and "param_20_from" not in names


def test_warnings_say_what_to_read_before_launching():
    quiet = Estimate(matching=50, will_send=49, skips={"opted out": 1}, quiet_until="quiet hours until 09:00 Asia/Kolkata", recent_repeat=49)
    said = warnings(quiet)
    assert said[0] == "It would start inside quiet hours: the messages wait (quiet hours until 09:00 Asia/Kolkata)."
    assert said[1] == "49 of these contacts got a broadcast in the last 24 hours."
    assert warnings(Estimate(matching=3, will_send=0)) == ["Nobody in this audience can be messaged."]
    assert warnings(Estimate(matching=3, will_send=3)) == []
    assert "messaging tier" in warnings(Estimate(matching=300, will_send=300, waits_for_tier=50))[0]
