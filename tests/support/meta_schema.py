"""Meta's own request schema for a template send, from its OpenAPI file, with the defects
listed in tests/meta_openapi/NOTES.md (a copy of ../shared/meta-openapi/NOTES.md) overridden (and nothing else relaxed).

jsonschema does not follow OpenAPI's `discriminator`, so the component and parameter unions
are made explicit `oneOf`s of Meta's own sub-schemas (HeaderComponent, TextParameter, ...):
every component and every parameter must match exactly one of them.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# Meta's file (facebook/openapi, MIT; LICENSE and NOTES.md beside it), kept with the tests.
SPEC = Path(__file__).resolve().parents[1] / "meta_openapi" / "business-messaging-api_v23.0.yaml"

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


@functools.lru_cache(maxsize=1)
def schemas() -> dict[str, Any]:
    with SPEC.open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    s = copy.deepcopy(spec["components"]["schemas"])

    # Defect: index pattern ^[2-6, 11-14]$; reality: a 0-based position "0".."9" (or a number).
    index = {"anyOf": [{"type": "string", "pattern": "^[0-9]$"}, {"type": "integer", "minimum": 0, "maximum": 9}]}
    # Defect: sub_type lacks copy_code, flow, order_details.
    sub_types = ["quick_reply", "url", "catalog", "copy_code", "flow", "order_details"]
    component = s["TemplateComponent"]
    component.pop("discriminator", None)
    component["properties"]["index"] = index
    component["properties"]["sub_type"]["enum"] = sub_types
    # Defect: type lacks carousel.
    component["properties"]["type"]["enum"] = ["header", "body", "button", "carousel"]
    button = s["ButtonComponent"]["allOf"][1]
    button["properties"]["index"] = index
    button["properties"]["sub_type"]["enum"] = sub_types

    # Defect: ParameterObject.type lacks location.
    parameter = s["ParameterObject"]
    parameter.pop("discriminator", None)
    parameter["properties"]["type"]["enum"].append("location")
    s["LocationParameter"] = {"allOf": [_ref("ParameterObject"), {
        "type": "object", "required": ["location"],
        "properties": {"type": {"enum": ["location"]}, "location": {
            "type": "object", "required": ["latitude", "longitude"],
            "properties": {"latitude": {"type": ["string", "number"]}, "longitude": {"type": ["string", "number"]},
                           "name": {"type": "string"}, "address": {"type": "string"}}}}}]}
    # Meta's own unions, made explicit (discriminator -> oneOf over its mapping).
    header_params = {"oneOf": [_ref(n) for n in ("TextParameter", "ImageParameter", "VideoParameter", "DocumentParameter", "LocationParameter")]}
    body_params = {"oneOf": [_ref(n) for n in ("TextParameter", "CurrencyParameter", "DateTimeParameter")]}
    s["HeaderComponent"]["allOf"][1]["properties"]["parameters"]["items"] = header_params
    s["HeaderComponent"]["allOf"][1]["required"] = ["parameters"]
    s["BodyComponent"]["allOf"][1]["properties"]["parameters"]["items"] = body_params
    s["BodyComponent"]["allOf"][1]["required"] = ["parameters"]

    # Defect: ButtonParameterObject.type lacks coupon_code.
    button_parameter = s["ButtonParameterObject"]
    button_parameter.pop("discriminator", None)
    button_parameter["properties"]["type"]["enum"].append("coupon_code")
    s["ButtonCouponCodeParameter"] = {"allOf": [_ref("ButtonParameterObject"), {
        "type": "object", "required": ["coupon_code"],
        "properties": {"type": {"enum": ["coupon_code"]}, "coupon_code": {"type": "string", "maxLength": 20}}}]}
    button["properties"]["parameters"]["items"] = {
        "oneOf": [_ref(n) for n in ("ButtonPayloadParameter", "ButtonTextParameter", "ButtonCouponCodeParameter")]}

    # Defect: no carousel component; reality: {"type": "carousel", "cards": [{card_index, components}]}.
    card_component = {"oneOf": [_ref("HeaderComponent"), _ref("BodyComponent"), _ref("ButtonComponent")]}
    s["CarouselComponent"] = {"allOf": [_ref("TemplateComponent"), {
        "type": "object", "required": ["cards"],
        "properties": {"type": {"enum": ["carousel"]}, "cards": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["card_index", "components"], "additionalProperties": False,
            "properties": {"card_index": {"type": "integer", "minimum": 0},
                           "components": {"type": "array", "items": card_component}}}}}}]}
    s["TemplateObject"]["properties"]["components"]["items"] = {
        "oneOf": [_ref("HeaderComponent"), _ref("BodyComponent"), _ref("ButtonComponent"), _ref("CarouselComponent")]}
    # biz_opaque_callback_data is a documented field of every send (<= 512 characters).
    s["TemplateMessage"]["allOf"][1]["properties"]["biz_opaque_callback_data"] = {"type": "string", "maxLength": 512}
    return s


@functools.lru_cache(maxsize=1)
def template_message_validator() -> jsonschema.protocols.Validator:
    root = {"$ref": REF + "TemplateMessage", "components": {"schemas": schemas()}}
    cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
    return cls(root)


def errors_of(body: dict[str, Any]) -> list[str]:
    """Every way `body` breaks Meta's (corrected) schema for POST /{phone-number-id}/messages."""
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in template_message_validator().iter_errors(body)]


@functools.cache
def webhook_examples() -> dict[str, dict[str, Any]]:
    """Meta's own example bodies of `POST /whatsapp/webhooks` in the spec, by their names
    ("Text Message", "Reaction Message", "System Message", ...)."""
    with SPEC.open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    examples = spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    return {name: example["value"] for name, example in examples.items()}
