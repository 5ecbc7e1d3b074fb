"""The sandbox provider: behaves like Meta without sending anything.

It checks the message against its template the way Meta does (parameter counts, header media
or location present, button parameters, card count), answers with a wamid, and then reports
sent, delivered and read as Meta-shaped status webhooks that go through the same event
processing as Meta's own.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from wacast.messages.provider import OutgoingMessage, ProviderError, SendResult
from wacast.templates.params import analyze

SANDBOX_PHONE_PREFIX = "sandbox:"


def sandbox_phone_number_id(project_id: str) -> str:
    return f"{SANDBOX_PHONE_PREFIX}{project_id}"


def status_webhook(phone_number_id: str, wamid: str, status: str, recipient: str, opaque: str, ts: int, *, errors: list | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": recipient.lstrip("+"), "biz_opaque_callback_data": opaque}
    if status in ("sent", "delivered"):
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    if errors:
        entry["errors"] = errors
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "sandbox",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "sandbox", "phone_number_id": phone_number_id},
                            "statuses": [entry],
                        },
                    }
                ],
            }
        ],
    }


def _count(components: list[dict], kind: str) -> list[dict]:
    return [c for c in components if str(c.get("type", "")).lower() == kind]


def check_against_template(template_components: list, parameter_format: str, components: list[dict]) -> ProviderError | None:
    needs = analyze(template_components, parameter_format)
    headers = _count(components, "header")
    bodies = _count(components, "body")
    header_params = headers[0].get("parameters", []) if headers else []
    body_params = bodies[0].get("parameters", []) if bodies else []
    if needs.header_format == "TEXT" and len(header_params) != len(needs.header_params):
        return ProviderError(132000, "Number of parameters does not match the expected number of params",
                             f"header: number of localizable_params ({len(header_params)}) does not match the expected number of params ({len(needs.header_params)})")
    if len(body_params) != len(needs.body_params):
        return ProviderError(132000, "Number of parameters does not match the expected number of params",
                             f"body: number of localizable_params ({len(body_params)}) does not match the expected number of params ({len(needs.body_params)})")
    if needs.needs_media or needs.needs_location:
        kind = "location" if needs.needs_location else ("video" if needs.header_format == "GIF" else needs.header_format.lower())
        if not header_params or header_params[0].get("type") != kind:
            return ProviderError(131008, "Required parameter is missing", f"header: Format mismatch, expected {kind.upper()}")
    buttons = {int(b.get("index", -1)): b for b in _count(components, "button")}
    for need in needs.param_buttons:
        if need.index not in buttons or not buttons[need.index].get("parameters"):
            return ProviderError(131008, "Required parameter is missing", f"button at index {need.index} requires a parameter")
    if needs.cards:
        carousels = _count(components, "carousel")
        cards = carousels[0].get("cards", []) if carousels else []
        if len(cards) != len(needs.cards):
            return ProviderError(132012, "Parameter format does not match format in the created template",
                                 f"expected {len(needs.cards)} carousel cards, got {len(cards)}")
    return None


class SandboxProvider:
    name = "sandbox"

    def __init__(self, delivered_after: float = 1.0, read_after: float = 3.0) -> None:
        self.delivered_after = delivered_after
        self.read_after = read_after

    async def send(self, project: Any, message: OutgoingMessage, template: Any) -> SendResult:
        if template is None:
            return SendResult(error=ProviderError(132001, "Template name does not exist in the translation", message.payload.get("template")))
        error = check_against_template(template.components, template.parameter_format, message.payload.get("components") or [])
        if error is not None:
            return SendResult(error=error)
        wamid = "wamid.SANDBOX" + secrets.token_hex(16).upper()
        phone_id = sandbox_phone_number_id(str(project.id))
        now = int(time.time())
        followups = [
            (0.0, status_webhook(phone_id, wamid, "sent", message.destination, message.message_id, now)),
            (self.delivered_after, status_webhook(phone_id, wamid, "delivered", message.destination, message.message_id, now + int(self.delivered_after))),
            (self.read_after, status_webhook(phone_id, wamid, "read", message.destination, message.message_id, now + int(self.read_after))),
        ]
        return SendResult(wamid=wamid, followups=followups)

    async def close(self) -> None:
        return None
