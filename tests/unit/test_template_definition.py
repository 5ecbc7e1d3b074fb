"""A template definition in Meta's format (templates/service.validate_definition): the shape
Meta needs and the base text rule; and Meta's rules for a template submitted for review
(templates/rules.py, service.validate_submission): placeholders, samples, lengths, buttons.
Without I/O."""

from __future__ import annotations

import pytest

from wacast.kit.errors import WacastError
from wacast.templates import rules, statuses
from wacast.templates.service import validate_definition, validate_submission

GOOD = {"name": "order_update", "language": "en_US", "components": [{"type": "BODY", "text": "Hi {{1}},\n\tshipped."}]}


def code_of(data: object) -> tuple[str, object]:
    with pytest.raises(WacastError) as error:
        validate_definition(data)
    return error.value.code, (error.value.details or {}).get("field")


def test_a_good_definition_is_normalized() -> None:
    out = validate_definition({**GOOD, "category": "marketing", "status": "approved", "quality_score": {"score": "GREEN"}})
    assert (out["category"], out["status"], out["quality"], out["parameter_format"]) == ("MARKETING", "APPROVED", "GREEN", "POSITIONAL")
    assert out["status"] in statuses.ACCEPTING
    assert validate_definition(GOOD)["components"] == GOOD["components"]  # newline and tab kept in a body


@pytest.mark.parametrize(("data", "expected"), [
    ({**GOOD, "name": "order\x00update"}, ("FIELD_INVALID", "name")),
    ({**GOOD, "language": "en\x1b"}, ("FIELD_INVALID", "language")),
    ({**GOOD, "language": "e" * 21}, ("FIELD_TOO_LONG", "language")),
    ({**GOOD, "components": [{"type": "BODY", "text": "Hi\x00"}]}, ("FIELD_INVALID", "components[0].text")),
    ({**GOOD, "components": [{"type": "BODY", "text": "Hi\x85"}]}, ("FIELD_INVALID", "components[0].text")),
    ({**GOOD, "components": [{"type": "BODY", "text": "Hi\ud800"}]}, ("FIELD_INVALID", "components[0].text")),
    ({**GOOD, "components": [{"type": "BODY", "text": "x" * 5000}]}, ("FIELD_TOO_LONG", "components[0].text")),
    ({**GOOD, "category": "UTIL\x00"}, ("FIELD_INVALID", "category")),
    ({**GOOD, "na\x00me": "x"}, ("FIELD_INVALID", "template (a key)")),
    ({**GOOD, "name": "Order Update"}, ("TEMPLATE_INVALID", "name")),
    ({**GOOD, "components": [{"type": "HEADER", "text": "x"}]}, ("TEMPLATE_INVALID", "components")),
    ([GOOD], ("TEMPLATE_INVALID", None)),
])
def test_refused(data: object, expected: tuple[str, object]) -> None:
    assert code_of(data) == expected


# --- Meta's rules for a template submitted for review (templates/rules.py) ----------------------


def body(text: str, samples: list[str] | None = None, **extra: object) -> dict:
    component: dict = {"type": "BODY", "text": text, **extra}
    if samples is not None:
        component["example"] = {"body_text": [samples]}
    return component


def named_body(text: str, samples: dict[str, str]) -> dict:
    return {"type": "BODY", "text": text,
            "example": {"body_text_named_params": [{"param_name": k, "example": v} for k, v in samples.items()]}}


def rules_of(*components: dict, fmt: str = "POSITIONAL") -> list[str]:
    return [p.rule for p in rules.problems({"components": list(components), "parameter_format": fmt})]


URL_OK = {"type": "URL", "text": "Track", "url": "https://shop.example.com/track/{{1}}", "example": ["ORD-1"]}


def test_templates_meta_accepts_pass() -> None:
    assert rules_of(body("Hi {{1}}, your order {{2}} has shipped.", ["Asha", "ORD-1"])) == []
    assert rules_of(body("Thanks for signing up!")) == []
    assert rules_of(named_body("Hi {{first_name}}, order {{order_id}} shipped.", {"first_name": "Asha", "order_id": "7"}), fmt="NAMED") == []
    # A placeholder used twice needs one sample; a newline in the body is fine.
    assert rules_of(body("Hi {{1}},\nyes {{1}} again.", ["Asha"])) == []
    assert rules_of(
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["ORD-1"]}},
        body("Hi {{1}}, it shipped.", ["Asha"]),
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}, {"type": "QUICK_REPLY", "text": "Stop"}, URL_OK]},
    ) == []
    assert rules_of({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1h"]}}, body("A picture for you.")) == []
    assert rules_of({"type": "HEADER", "format": "LOCATION"}, body("Visit us today.")) == []


@pytest.mark.parametrize(("components", "fmt", "expected"), [
    # Samples: one per placeholder.
    ([body("Hi {{1}}, your order {{2}} has shipped {{3}} days ago.", ["Asha", "ORD-1"])], "POSITIONAL", ["SAMPLE_COUNT"]),
    ([body("Hi {{1}}, your order has shipped.")], "POSITIONAL", ["SAMPLE_MISSING"]),
    ([body("Hi {{1}}, your order has shipped.", [" "])], "POSITIONAL", ["SAMPLE_MISSING"]),
    ([body("Hi there, your order has shipped.", ["Asha"])], "POSITIONAL", ["SAMPLE_COUNT"]),
    ([named_body("Hi {{first_name}}, order {{order_id}} shipped.", {"first_name": "Asha"})], "NAMED", ["SAMPLE_MISSING"]),
    ([named_body("Hi {{first_name}}, it shipped.", {"first_name": "Asha", "city": "Pune"})], "NAMED", ["SAMPLE_COUNT"]),
    ([{"type": "BODY", "text": "Hi {{first_name}}, it shipped."}], "NAMED", ["SAMPLE_MISSING"]),
    # Numbered from 1 without gaps; the format's own kind; balanced braces.
    ([body("Hi {{1}}, your order {{3}} has shipped.", ["a", "b"])], "POSITIONAL", ["PLACEHOLDER_GAP"]),
    ([body("Hi {{2}}, your order has shipped.", ["a"])], "POSITIONAL", ["PLACEHOLDER_GAP"]),
    ([body("Hi {{first_name}}, your order has shipped.")], "POSITIONAL", ["PLACEHOLDER_FORMAT"]),
    ([named_body("Hi {{1}}, your order has shipped.", {})], "NAMED", ["PLACEHOLDER_FORMAT"]),
    ([named_body("Hi {{First_Name}}, your order has shipped.", {})], "NAMED", ["PLACEHOLDER_INVALID"]),
    ([body("Hi {{#1}}, your order has shipped.")], "POSITIONAL", ["PLACEHOLDER_INVALID"]),
    ([body("Hi {{1}, your order has shipped.")], "POSITIONAL", ["PLACEHOLDER_BRACES"]),
    ([body("Hi {1}}, your order has shipped.")], "POSITIONAL", ["PLACEHOLDER_BRACES"]),
    # Where placeholders stand in a body.
    ([body("{{1}}, your order has shipped.", ["Asha"])], "POSITIONAL", ["PLACEHOLDER_AT_EDGE"]),
    ([body("Your order has shipped, {{1}}", ["Asha"])], "POSITIONAL", ["PLACEHOLDER_AT_EDGE"]),
    ([body("  Your order has shipped, {{1}} \n", ["Asha"])], "POSITIONAL", ["PLACEHOLDER_AT_EDGE"]),
    ([body("Hi {{1}}{{2}} has shipped.", ["a", "b"])], "POSITIONAL", ["PLACEHOLDERS_ADJACENT"]),
    ([body("Hi {{1}} {{2}} has shipped.", ["a", "b"])], "POSITIONAL", ["PLACEHOLDERS_ADJACENT"]),
    # Lengths and the other components.
    ([body("x" * 1025)], "POSITIONAL", ["TOO_LONG"]),
    ([{"type": "HEADER", "format": "TEXT", "text": "x" * 61}, body("Hello there.")], "POSITIONAL", ["TOO_LONG"]),
    ([{"type": "HEADER", "format": "TEXT", "text": "{{1}} and {{2}}", "example": {"header_text": ["a", "b"]}}, body("Hello there.")],
     "POSITIONAL", ["HEADER_PLACEHOLDERS"]),
    ([{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}, body("Hello there.")], "POSITIONAL", ["SAMPLE_MISSING"]),
    ([{"type": "HEADER", "format": "IMAGE"}, body("Hello there.")], "POSITIONAL", ["SAMPLE_MISSING"]),
    ([{"type": "HEADER", "format": "AUDIO"}, body("Hello there.")], "POSITIONAL", ["HEADER_FORMAT"]),
    ([body("Hello there."), {"type": "FOOTER", "text": "Bye {{1}}"}], "POSITIONAL", ["FOOTER_PLACEHOLDERS"]),
    ([body("Hello there."), {"type": "FOOTER", "text": "x" * 61}], "POSITIONAL", ["TOO_LONG"]),
    ([body("Hello there."), body("Again.")], "POSITIONAL", ["COMPONENT_REPEATED"]),
    # Buttons.
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]}], "POSITIONAL", ["TOO_LONG"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": f"b{i}"} for i in range(11)]}],
     "POSITIONAL", ["BUTTONS_TOO_MANY"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [URL_OK, URL_OK, URL_OK]}], "POSITIONAL", ["BUTTONS_TOO_MANY"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "a"}, URL_OK, {"type": "QUICK_REPLY", "text": "b"}]}],
     "POSITIONAL", ["BUTTONS_ORDER"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{**URL_OK, "url": "https://x.example/{{1}}/track"}]}], "POSITIONAL", ["BUTTON_URL"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{**URL_OK, "url": "https://x.example/{{1}}/{{2}}"}]}], "POSITIONAL", ["BUTTON_URL"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://x.example/{{1}}"}]}],
     "POSITIONAL", ["SAMPLE_MISSING"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE"}]}], "POSITIONAL", ["SAMPLE_MISSING"]),
    ([body("Hello there."), {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+1" * 11}]}],
     "POSITIONAL", ["TOO_LONG"]),
])
def test_what_meta_would_refuse_is_named(components: list[dict], fmt: str, expected: list[str]) -> None:
    assert rules_of(*components, fmt=fmt) == expected


def test_a_refused_submission_says_why_and_lists_every_problem() -> None:
    data = {**GOOD, "components": [body("{{1}}, order {{3}} shipped", ["Asha"])]}
    with pytest.raises(WacastError) as error:
        validate_submission(data)
    assert error.value.code == "TEMPLATE_INVALID" and error.value.status_code == 400
    assert error.value.message.startswith("Meta would refuse this template: components[0]:")
    details = error.value.details
    assert details["field"] == "components[0]" and details["rule"] == "PLACEHOLDER_GAP"
    assert [p["rule"] for p in details["problems"]] == ["PLACEHOLDER_GAP", "PLACEHOLDER_AT_EDGE", "SAMPLE_COUNT"]
    # Meta's own listing is stored as Meta holds it: only the shape is checked there.
    assert validate_definition(data)["components"] == data["components"]


# --- the dashboard's form and Meta's shape (dashboard/pages/templates.py) ---------------------


@pytest.mark.parametrize("definition", [
    {"name": "shipped", "language": "en", "category": "UTILITY", "parameter_format": "POSITIONAL", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["ORD-1"]}},
        {"type": "BODY", "text": "Hi {{1}}, {{2}} costs ₹1,299.", "example": {"body_text": [["Asha", "₹1,299"]]}},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"},
                                        {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}", "example": ["ORD-1"]}]}]},
    {"name": "named", "language": "pt_BR", "category": "MARKETING", "parameter_format": "NAMED", "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x.example/a.jpg"]}},
        {"type": "BODY", "text": "Oi {{first_name}}, {{deal}} hoje.",
         "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}, {"param_name": "deal", "example": "20%"}]}}]},
])
def test_the_form_shows_a_template_whole_and_gives_it_back_unchanged(definition: dict) -> None:
    from wacast.dashboard.pages.templates import form_values, template_definition
    from wacast.models.templates import Template

    template = Template(**{k: definition[k] for k in ("name", "language", "category", "parameter_format", "components")})
    values, unsupported = form_values(template)
    assert unsupported is None
    assert template_definition(values) == definition
    assert rules.problems(definition) == []


def test_the_form_says_what_it_cannot_show() -> None:
    from wacast.dashboard.pages.templates import form_values
    from wacast.models.templates import Template

    def why(components: list) -> str | None:
        return form_values(Template(name="t", language="en", category="UTILITY", parameter_format="POSITIONAL", components=components))[1]

    assert why([{"type": "BODY", "text": "Hi"}, {"type": "CAROUSEL", "cards": []}]) == "its CAROUSEL component"
    assert why([{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "X"}]}]) == "its buttons (COPY_CODE)"
    assert why([{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "a", "url": "https://x.example"}, {"type": "QUICK_REPLY", "text": "b"}]}]) == "its buttons (URL, QUICK_REPLY)"
    assert why([{"type": "BODY", "text": "Hi", "add_security_recommendation": True}]) == "the add_security_recommendation of its BODY component"
