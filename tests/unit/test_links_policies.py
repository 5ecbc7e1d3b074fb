"""The pure policies of clicks and conversions: who asked for a link, the UTM parameters, the
campaign's tracking settings, and which message earned a conversion."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from wacast.kit.errors import WacastError
from wacast.links import tracking
from wacast.links.attribution import Touch, attribute
from wacast.links.clients import REPEAT_SECONDS, classify
from wacast.links.utm import default_utm, with_utm

PHONE_BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"


@pytest.mark.parametrize(("method", "agent", "since", "kind", "counted"), [
    ("GET", PHONE_BROWSER, None, "browser", True),
    ("GET", IPHONE, 3600.0, "browser", True),
    ("GET", IPHONE, REPEAT_SECONDS - 1, "repeat", False),
    ("HEAD", PHONE_BROWSER, None, "head", False),
    ("GET", "WhatsApp/2.24.10.79 A", None, "preview", False),
    ("GET", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", None, "preview", False),
    ("GET", "TelegramBot (like TwitterBot)", None, "preview", False),
    ("GET", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None, "bot", False),
    ("GET", "curl/8.5.0", None, "bot", False),
    ("GET", "python-httpx/0.28.1", None, "bot", False),
    ("GET", "", None, "bot", False),
    ("GET", "   ", None, "bot", False),
])
def test_only_a_persons_first_tap_in_a_while_is_a_click(method, agent, since, kind, counted):
    client = classify(method, agent, since)
    assert (client.kind, client.counted) == (kind, counted)


def test_utm_parameters_are_added_once_and_existing_ones_are_kept():
    utm = default_utm("diwali_sale", "button_0")
    assert utm == {"utm_source": "whatsapp", "utm_medium": "message", "utm_campaign": "diwali_sale", "utm_content": "button_0"}
    assert with_utm("https://shop.example/p/42", utm) == \
        "https://shop.example/p/42?utm_source=whatsapp&utm_medium=message&utm_campaign=diwali_sale&utm_content=button_0"
    # The shop's own parameters and fragment stay; a UTM it already has is not duplicated.
    kept = with_utm("https://shop.example/p/42?ref=wa&UTM_SOURCE=newsletter#reviews", utm)
    assert kept.startswith("https://shop.example/p/42?ref=wa&UTM_SOURCE=newsletter&utm_medium=message") and kept.endswith("#reviews")
    assert kept.lower().count("utm_source") == 1
    assert with_utm("https://shop.example/?a=1", {"utm_source": ""}) == "https://shop.example/?a=1"
    assert with_utm("https://shop.example/q?name=Asha Verma", {"utm_campaign": "a b&c"}).endswith("utm_campaign=a+b%26c")


def test_tracking_settings_are_checked_and_default():
    assert tracking.parse(None).as_dict() == {"utm": {}, "goals": [], "attribution_window_days": 7, "track_body_urls": False}
    found = tracking.parse({"utm": {"utm_medium": "broadcast"}, "goals": ["Purchase", "cart", "purchase"], "attribution_window_days": 3})
    assert found.goals == ("purchase", "cart") and found.window == timedelta(days=3)
    assert found.utm_for("sale")["utm_medium"] == "broadcast" and found.utm_for("sale")["utm_campaign"] == "sale"
    for bad, field in (({"goals": "purchase"}, "tracking.goals"), ({"goals": ["a b"]}, "tracking.goals[0]"),
                       ({"goals": [str(i) for i in range(6)]}, "tracking.goals"), ({"attribution_window_days": 0}, "tracking.attribution_window_days"),
                       ({"attribution_window_days": True}, "tracking.attribution_window_days"), ({"utm": {"utm_x": "1"}}, "tracking.utm.utm_x"),
                       ({"utm": {"utm_source": "a\x00b"}}, "tracking.utm.utm_source"), ("7", "tracking")):
        with pytest.raises(WacastError) as refused:
            tracking.parse(bad)
        assert refused.value.details["field"] == field, bad
    with pytest.raises(WacastError) as unknown:
        tracking.parse({"window": 3})
    assert unknown.value.code == "VALIDATION_ERROR" and unknown.value.details["fields"] == ["tracking.window"]


T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def touch(hours_sent: float, *, delivered: float | None = None, read: float | None = None, clicked: float | None = None,
          window_days: int = 7) -> Touch:
    at = lambda h: T0 + timedelta(hours=h) if h is not None else None  # noqa: E731
    return Touch(uuid.uuid4(), uuid.uuid4(), at(hours_sent), at(delivered), at(read), at(clicked), timedelta(days=window_days))


def test_a_click_in_the_window_wins_over_a_newer_message_only_read():
    clicked = touch(0, delivered=0.01, read=0.1, clicked=0.2)
    newer_read = touch(24, delivered=24.01, read=25)
    won = attribute([clicked, newer_read], T0 + timedelta(hours=30))
    assert won.touch is clicked and won.step == "clicked"


def test_without_a_click_the_latest_read_then_the_latest_delivered():
    read_old, read_new, delivered = touch(0, delivered=0.1, read=1), touch(10, delivered=10.1, read=11), touch(20, delivered=20.1)
    assert attribute([read_old, read_new, delivered], T0 + timedelta(hours=30)).touch is read_new
    only_delivered = attribute([delivered], T0 + timedelta(hours=30))
    assert only_delivered.touch is delivered and only_delivered.step == "delivered"


def test_messages_sent_after_the_conversion_and_touches_outside_the_window_never_count():
    later = touch(5, delivered=5.1, read=5.2, clicked=5.3)
    assert attribute([later], T0 + timedelta(hours=4)).step == "none"
    old_click = touch(0, delivered=0.1, read=0.2, clicked=0.3, window_days=1)
    assert attribute([old_click], T0 + timedelta(days=2)).step == "none"
    # Its own campaign's window decides: a 7-day campaign's click still counts after 2 days.
    assert attribute([touch(0, delivered=0.1, read=0.2, clicked=0.3)], T0 + timedelta(days=2)).step == "clicked"
    # A click after the conversion is not what earned it; the read before it is.
    clicked_after = touch(0, delivered=0.1, read=0.2, clicked=10)
    won = attribute([clicked_after], T0 + timedelta(hours=5))
    assert won.touch is clicked_after and won.step == "read"
    assert attribute([], T0).touch is None
