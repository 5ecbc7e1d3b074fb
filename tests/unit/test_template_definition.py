"""A template definition in Meta's format (templates/service.validate_definition): the shape
Meta needs and the base text rule, without I/O."""

from __future__ import annotations

import pytest

from wacast.kit.errors import WacastError
from wacast.templates import statuses
from wacast.templates.service import validate_definition

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
