"""whatsapp/template_events.py's readers of Meta's template event values (pure): what is well
formed is kept, text capped and cleaned; anything of the wrong type, huge or hostile is dropped
without an error (a refusal would only make Meta retry for days)."""

from __future__ import annotations

from datetime import UTC, datetime

from wacast.whatsapp.template_events import (
    INFO_MAX,
    components_update,
    meta_text,
    meta_time,
    meta_word,
    rejection_info,
    status_detail,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_meta_text_cleans_caps_and_refuses_non_strings():
    assert meta_text("  Separate parameters\x00 with text\ud800 \n ok ", 100) == "Separate parameters  with text  \n ok"
    assert meta_text("\x07\x1b", 100) is None and meta_text("", 10) is None
    assert meta_text(["a"], 10) is None and meta_text(12, 10) is None and meta_text(None, 10) is None
    long = meta_text("x" * 10_000, 50)
    assert len(long) == 50 and long.endswith("…")


def test_meta_word_and_time():
    assert meta_word(" marketing ", ("MARKETING", "UTILITY")) == "MARKETING"
    assert meta_word("MARKETING; DROP TABLE", None) is None and meta_word("X" * 40) is None
    assert meta_word("PROMO", ("MARKETING",)) is None and meta_word(3) is None
    assert meta_time(1751234563) == datetime.fromtimestamp(1751234563, UTC) == meta_time("1751234563")
    assert meta_time(True) is None and meta_time("soon") is None and meta_time(-1) is None and meta_time(10**13) is None


def test_rejection_info_keeps_both_texts_in_full():
    reason = "Your template has parameters placed next to each other. " * 20
    kept = rejection_info({"rejection_info": {"reason": reason, "recommendation": "Separate parameters with descriptive text."}})
    assert kept == {"reason": reason.strip(), "recommendation": "Separate parameters with descriptive text."}
    assert len(rejection_info({"rejection_info": {"reason": "r" * 50_000}})["reason"]) == INFO_MAX
    assert rejection_info({"rejection_info": ["reason"]}) is None
    assert rejection_info({"rejection_info": {"reason": 5, "recommendation": None}}) is None
    assert rejection_info({}) is None


def test_status_detail_in_words():
    paused = {"event": "PAUSED", "reason": "NONE", "other_info": {
        "title": "SECOND_PAUSE", "description": "Your WhatsApp message template has been paused for 6 hours."}}
    assert status_detail(paused) == "SECOND_PAUSE: Your WhatsApp message template has been paused for 6 hours."
    disabled = {"event": "DISABLED", "reason": "NONE", "disable_info": {"disable_date": 1751234563}}
    assert status_detail(disabled) == "disabled on 2025-06-29 22:02 UTC"
    assert status_detail({"event": "REJECTED", "reason": "INVALID_FORMAT"}) is None  # the rejection has its own place
    assert status_detail({"event": "PAUSED", "other_info": "paused", "disable_info": {"disable_date": "x"}}) is None


def test_components_update_keeps_what_meta_reports():
    value = {"message_template_element": "Thank you for your order, {{1}}!", "message_template_title": "Your order is confirmed!",
             "message_template_footer": "Lucky Shrub", "message_template_buttons": [
                 {"message_template_button_type": "URL", "message_template_button_text": "Email support",
                  "message_template_button_url": "https://www.luckyshrub.com/support"}, "junk"] + [{}] * 50}
    kept = components_update(value, NOW)
    assert kept["body"] == "Thank you for your order, {{1}}!" and kept["header"] == "Your order is confirmed!"
    assert kept["buttons"][0] == {"type": "URL", "text": "Email support", "url": "https://www.luckyshrub.com/support"}
    assert len(kept["buttons"]) == 10 and kept["received_at"] == "2026-12-07T12:00:00Z"
    assert components_update({"message_template_buttons": "no"}, NOW) == {"received_at": "2026-12-07T12:00:00Z"}
