"""Counting what a template needs, for every component kind."""

from wacast.templates.params import analyze, placeholders, render_text


def test_body_positional_counts_distinct_placeholders_in_number_order():
    needs = analyze([{"type": "BODY", "text": "{{2}} then {{1}} and {{2}} again, {{3}}"}])
    assert needs.body_params == ("1", "2", "3")
    assert needs.text_params == ("1", "2", "3")
    assert needs.total_parameters == 3


def test_body_named():
    needs = analyze([{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} for {{first_name}}"}], "NAMED")
    assert needs.named
    assert needs.body_params == ("first_name", "order_id")


def test_header_text_has_at_most_one_and_comes_first():
    needs = analyze([{"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"}, {"type": "BODY", "text": "A {{1}} B {{2}}"}])
    assert needs.header_params == ("1",)
    assert needs.text_params == ("1", "1", "2")
    assert len(needs.text_params) == 3
    plain = analyze([{"type": "HEADER", "format": "TEXT", "text": "Hello"}, {"type": "BODY", "text": "x"}])
    assert plain.header_params == () and plain.text_params == ()


def test_media_and_location_headers_need_their_object():
    for fmt in ("IMAGE", "VIDEO", "DOCUMENT"):
        needs = analyze([{"type": "HEADER", "format": fmt}, {"type": "BODY", "text": "x {{1}}"}])
        assert needs.needs_media and not needs.needs_location
        assert needs.text_params == ("1",)
        assert needs.total_parameters == 2
    location = analyze([{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "x"}])
    assert location.needs_location and not location.needs_media
    assert location.total_parameters == 1


def test_buttons_url_with_variable_copy_code_and_quick_reply():
    needs = analyze([
        {"type": "BODY", "text": "x"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Yes"},
            {"type": "URL", "text": "Static", "url": "https://example.com/static"},
            {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"},
            {"type": "COPY_CODE", "example": "SAVE20"},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550100"},
        ]},
    ])
    by_index = {b.index: b for b in needs.buttons}
    assert [b.type for b in needs.buttons] == ["quick_reply", "url", "url", "copy_code", "phone_number"]
    assert not by_index[0].needs_param and not by_index[1].needs_param
    assert by_index[2].needs_param and by_index[3].needs_param and not by_index[4].needs_param
    assert [b.index for b in needs.param_buttons] == [2, 3]
    assert needs.total_parameters == 2
    assert needs.text_params == ()


def test_carousel_counts_per_card():
    needs = analyze([
        {"type": "BODY", "text": "Hi {{1}}"},
        {"type": "CAROUSEL", "cards": [
            {"components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "A {{1}} {{2}}"},
                            {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://x/{{1}}"}, {"type": "QUICK_REPLY", "text": "Q"}]}]},
            {"components": [{"type": "HEADER", "format": "VIDEO"}, {"type": "BODY", "text": "B"}]},
        ]},
    ])
    assert len(needs.cards) == 2
    assert needs.cards[0].header_format == "IMAGE" and needs.cards[0].body_params == ("1", "2")
    assert [b.needs_param for b in needs.cards[0].buttons] == [True, False]
    assert needs.cards[1].header_format == "VIDEO" and needs.cards[1].body_params == ()
    # 1 body + card0 (header + 2 body + 1 url) + card1 (header)
    assert needs.total_parameters == 1 + 4 + 1


def test_authentication_otp_button_needs_the_code():
    needs = analyze([{"type": "BODY", "text": "{{1}} is your code"}, {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}])
    assert needs.param_buttons[0].type == "url"
    assert needs.total_parameters == 2


def test_missing_format_means_positional_and_lowercase_types_work():
    needs = analyze([{"type": "body", "text": "{{1}}"}], None)
    assert needs.parameter_format == "POSITIONAL" and needs.body_params == ("1",)


def test_placeholders_and_render():
    assert placeholders("", "POSITIONAL") == ()
    assert placeholders("{{ 1 }} {{2}}", "POSITIONAL") == ("1", "2")
    assert render_text("Hi {{1}}, {{2}}", ("1", "2"), ["Asha", "ok"], "POSITIONAL") == "Hi Asha, ok"
    assert render_text("Hi {{name}}", ("name",), ["Asha"], "NAMED") == "Hi Asha"
