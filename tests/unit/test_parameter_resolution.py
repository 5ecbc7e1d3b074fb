"""Template parameter resolution and send components (templates/components.py), the one copy
the campaign API and broadcasts share: $Name, $attribute, fallbacks, buttons, media."""

from __future__ import annotations

import pytest

from wacast.kit.errors import WacastError
from wacast.templates.components import build_components, check_param_text, media_to_check, resolve_value
from wacast.templates.params import analyze
from wacast.templates.request import parse

BODY_2 = {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}


def request(**fields: object):  # noqa: ANN201
    return parse({"apiKey": "k", "campaignName": "c", "destination": "+917428526285", "userName": "Asha Verma", **fields})


def test_literal_values_pass_as_they_are() -> None:
    assert resolve_value("ORD-1", 0, "Asha", {}, {}) == "ORD-1"
    assert resolve_value("$ not a variable", 0, "Asha", {}, {}) == "$ not a variable"


def test_attribute_then_name_then_fallback() -> None:
    assert resolve_value("$city", 0, "Asha", {"city": "Pune"}, {}) == "Pune"
    assert resolve_value("$CITY", 0, "Asha", {"city": "Pune"}, {}) == "Pune"  # case-insensitive
    assert resolve_value(" $Name ", 0, "Asha Verma", {}, {}) == "Asha Verma"
    assert resolve_value("$FirstName", 0, "Asha Verma", {}, {}) == "Asha"
    assert resolve_value("$FirstName", 0, "", {}, {"FirstName": "friend"}) == "friend"
    assert resolve_value("$plan", 0, "Asha", {"plan": ""}, {"plan": "basic"}) == "basic"
    assert resolve_value("$Name", 0, "Asha", {"Name": "From attribute"}, {}) == "From attribute"


def test_unresolved_variable_names_index_and_param() -> None:
    with pytest.raises(WacastError) as raised:
        resolve_value("$city", 3, "Asha", {}, {})
    assert raised.value.code == "PARAM_UNRESOLVED" and raised.value.details == {"index": 3, "param": "$city"}


def test_body_components_positional_and_named() -> None:
    needs = analyze([BODY_2])
    components = build_components(needs, request(templateParams=["$FirstName", "O-1"]), "Asha Verma", {})
    assert components == [{"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "O-1"}]}]
    named = analyze([{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}}"}], "NAMED")
    out = build_components(named, request(templateParams=["A", "B"]), "", {})
    assert out[0]["parameters"][1] == {"type": "text", "text": "B", "parameter_name": "order_id"}


def test_param_count_must_match() -> None:
    with pytest.raises(WacastError) as raised:
        build_components(analyze([BODY_2]), request(templateParams=["only one"]), "", {})
    assert raised.value.code == "TEMPLATE_PARAMS_MISMATCH" and raised.value.details == {"expected": 2, "given": 1}


@pytest.mark.parametrize(("value", "code"), [("", "PARAM_EMPTY"), ("two\nlines", "PARAM_INVALID_TEXT"),
                                             ("five     spaces", "PARAM_INVALID_TEXT"), ("x" * 1100, "PARAM_TOO_LONG")])
def test_meta_text_rules_for_parameters(value: str, code: str) -> None:
    with pytest.raises(WacastError) as raised:
        check_param_text(value, "templateParams[0]", 1024)
    assert raised.value.code == code


def test_media_header_and_what_to_check() -> None:
    needs = analyze([{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Invoice {{1}}"}])
    with pytest.raises(WacastError) as raised:
        build_components(needs, request(templateParams=["I-1"]), "", {})
    assert raised.value.code == "MEDIA_URL_MISSING"
    out = build_components(needs, request(templateParams=["I-1"], media={"url": "https://x.example/inv.pdf?v=2"}), "", {})
    assert out[0] == {"type": "header", "parameters": [{"type": "document", "document": {"link": "https://x.example/inv.pdf?v=2", "filename": "inv.pdf"}}]}
    assert media_to_check(needs, out) == [("https://x.example/inv.pdf?v=2", "DOCUMENT", "media.url")]


def test_buttons_url_and_copy_code() -> None:
    needs = analyze([
        {"type": "BODY", "text": "Code for {{1}}"},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.example/{{1}}"}, {"type": "COPY_CODE", "example": "S"}]},
    ])
    with pytest.raises(WacastError) as raised:
        build_components(needs, request(templateParams=["A"]), "", {})
    assert raised.value.code == "BUTTON_PARAM_MISSING"
    buttons = [
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "track/1"}]},
        {"type": "button", "sub_type": "copy_code", "index": "1", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}]},
    ]
    out = build_components(needs, request(templateParams=["A"], buttons=buttons), "", {})
    assert out[1] == {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "track/1"}]}
    assert out[2]["parameters"] == [{"type": "coupon_code", "coupon_code": "SAVE20"}]
    with pytest.raises(WacastError) as raised:
        build_components(needs, request(templateParams=["A"], buttons=[{**buttons[0], "index": "x"}]), "", {})
    assert raised.value.code == "FIELD_INVALID"
