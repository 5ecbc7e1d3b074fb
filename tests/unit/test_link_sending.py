"""Tracked links on the send path, pure: a template's tracked buttons pointed at wacast
(templates/tracked.py), each message's links planned and their tokens put in place
(links/send_links.py), and the campaign's `track_body_urls` setting."""

from __future__ import annotations

import pytest

from wacast.kit.errors import WacastError
from wacast.links import tracking
from wacast.links.send_links import SendLinks, plan, static_buttons, with_tokens
from wacast.templates import tracked

PUBLIC = "https://wa.example.com/"


def definition(url: str = "https://shop.example.com/p/{{1}}") -> dict:
    return {"name": "shop_now", "components": [
        {"type": "BODY", "text": "Hi {{1}}, the sale is on."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}, {"type": "URL", "text": "Shop now", "url": url,
                                                                                 "example": ["https://shop.example.com/p/42"]}]},
    ]}


def test_a_tracked_button_points_at_wacast_and_keeps_its_real_destination():
    d = definition()
    source = d["components"]
    assert tracked.apply(d, {"1": "https://shop.example.com/p/{{1}}"}, PUBLIC) == {"1": "https://shop.example.com/p/{{1}}"}
    button = d["components"][1]["buttons"][1]
    assert button["url"] == "https://wa.example.com/r/{{1}}"
    assert button["example"] == ["https://wa.example.com/r/" + tracked.SAMPLE_TOKEN] and len(tracked.SAMPLE_TOKEN) == 16
    assert source[1]["buttons"][1]["url"] == "https://shop.example.com/p/{{1}}"  # the given components are not changed
    assert tracked.apply(definition(), None, "") is None and tracked.apply(definition(), {}, "") is None


@pytest.mark.parametrize(("raw", "public", "code", "field"), [
    ({"1": "https://shop.example.com/p/{{1}}"}, "", "PUBLIC_URL_NOT_SET", None),
    ({"0": "https://shop.example.com/"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.0"),  # a quick reply
    ({"7": "https://shop.example.com/"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.7"),
    ({"x": "https://shop.example.com/"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.x"),
    ({"1": "javascript:alert(1)"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    ({"1": "//shop.example.com/p"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    ({"1": "https://shop.example.com/{{1}}/{{2}}"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    ({"1": "https://shop.example.com/{{name}}"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    ({"1": "https://shop.example.com/a b"}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    ({"1": "https://shop.example.com/\x00"}, PUBLIC, "FIELD_INVALID", "tracked_buttons.1"),
    ({"1": 42}, PUBLIC, "TRACKED_LINK_INVALID", "tracked_buttons.1"),
    (["https://shop.example.com/"], PUBLIC, "FIELD_INVALID", "tracked_buttons"),
])
def test_tracked_buttons_are_refused_naming_the_field(raw, public, code, field):
    with pytest.raises(WacastError) as caught:
        tracked.apply(definition(), raw, public)
    assert caught.value.code == code
    assert (caught.value.details or {}).get("field") == field


def test_the_destination_of_one_message():
    pattern = "https://shop.example.com/p/{{1}}?ref=wa"
    assert tracked.destination(pattern, "42", "b") == "https://shop.example.com/p/42?ref=wa"
    assert tracked.destination(pattern, "a b/é", "b") == "https://shop.example.com/p/a%20b/%C3%A9?ref=wa"
    assert tracked.destination(pattern, "https://other.example/x?y=1", "b") == "https://other.example/x?y=1"  # a whole URL is the destination
    assert tracked.destination("https://shop.example.com/sale", None, "b") == "https://shop.example.com/sale"
    assert tracked.destination("https://shop.example.com/sale", "ignored", "b") == "https://shop.example.com/sale"
    with pytest.raises(WacastError) as caught:
        tracked.destination(pattern, None, "buttons[1]")
    assert caught.value.code == "BUTTON_PARAM_MISSING" and caught.value.details == {"field": "buttons[1]"}
    with pytest.raises(WacastError) as caught:
        tracked.destination(pattern, "https://" + "a" * 2000 + ".example", "buttons[1]")
    assert caught.value.code == "TRACKED_LINK_INVALID"
    with pytest.raises(WacastError) as caught:
        tracked.destination(pattern, "http://", "buttons[1]")
    assert caught.value.code == "TRACKED_LINK_INVALID"


def test_an_edit_keeps_the_buttons_still_pointing_at_wacast():
    current = {"1": "https://shop.example.com/p/{{1}}"}
    assert tracked.kept_on_edit(current, definition("https://wa.example.com/r/{{1}}")["components"]) == current
    assert tracked.kept_on_edit(current, definition("https://shop.example.com/p/{{1}}")["components"]) is None
    assert tracked.kept_on_edit(None, definition()["components"]) is None
    assert tracked.patterns({"1": "https://a.example/", "x": "y", "2": 3}) == {1: "https://a.example/"}
    assert tracked.patterns(None) == {}


def components(button_text: str = "42", body: str = "see https://shop.example.com/sale.") -> list[dict]:
    return [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": body}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": button_text}]},
    ]


def send(buttons: dict[int, str] | None = None, body_urls: bool = False, public: str = PUBLIC) -> SendLinks:
    return SendLinks("c", "diwali", tracking.parse({"track_body_urls": body_urls}), buttons or {}, public)


def test_a_message_gets_a_token_per_tracked_button_and_body_url():
    links = send({1: "https://shop.example.com/p/{{1}}"}, body_urls=True)
    planned = plan(components(body="two: https://a.example/x?y=1, and (https://b.example/z)."), links)
    assert [(p.destination, p.button_index) for p in planned] == [
        ("https://shop.example.com/p/42", 1), ("https://a.example/x?y=1", None), ("https://b.example/z", None)]
    built = components(body="two: https://a.example/x?y=1, and (https://b.example/z).")
    out = with_tokens(built, planned, ["T" * 16, "A" * 16, "B" * 16], links.public_url)
    assert out[2]["parameters"] == [{"type": "text", "text": "T" * 16}]
    assert out[0]["parameters"][1]["text"] == "two: https://wa.example.com/r/AAAAAAAAAAAAAAAA, and (https://wa.example.com/r/BBBBBBBBBBBBBBBB)."
    assert out[0]["parameters"][0]["text"] == "Asha" and out[1] == built[1]
    assert built[2]["parameters"][0]["text"] == "42"  # a copy: the built components stay as they were


def test_what_is_not_tracked_stays_as_it_is():
    assert plan(components(), send()) == []
    assert not send().active and send({1: "https://a.example/"}).active
    # Body URLs are tracked only when the campaign says so and wacast has a public address.
    assert [p.button_index for p in plan(components(), send({1: "https://shop.example.com/p/{{1}}"}))] == [1]
    assert plan(components(), send(body_urls=True, public="")) == [] and not send(body_urls=True, public="").active
    # A parameter its links would make longer than Meta takes keeps its URLs.
    long_text = "x" * 1000 + " https://a.co/b"
    assert plan(components(body=long_text), send(body_urls=True)) == []
    assert static_buttons(send({1: "https://shop.example.com/sale", 2: "https://shop.example.com/p/{{1}}"})) == {1: "https://shop.example.com/sale"}


def test_a_bad_destination_refuses_the_message():
    # A value that is no URL only fills the pattern: the destination stays on the shop's address.
    [planned] = plan(components(button_text="javascript:alert(1)//"), send({1: "https://shop.example.com/p/{{1}}"}))
    assert planned.destination == "https://shop.example.com/p/javascript:alert(1)//"
    with pytest.raises(WacastError) as caught:
        plan(components(button_text="ftp://files.example/x"), send({1: "{{1}}"}))
    assert caught.value.code == "TRACKED_LINK_INVALID" and caught.value.details == {"field": "buttons[1]"}


def test_track_body_urls_is_a_yes_or_no():
    assert tracking.parse({"track_body_urls": True}).track_body_urls is True
    assert tracking.parse({}).as_dict()["track_body_urls"] is False
    for bad in ("yes", 1, None):
        with pytest.raises(WacastError) as caught:
            tracking.parse({"track_body_urls": bad})
        assert caught.value.details == {"field": "tracking.track_body_urls"}
