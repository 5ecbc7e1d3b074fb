"""What one send to Meta carries and returns, and the body of POST /{phone-number-id}/messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from wacast.kit.phone import is_bsuid


@dataclass(frozen=True)
class ProviderError:
    """Meta's error envelope, reduced to what handling needs."""

    code: int | None
    title: str
    details: str | None = None
    http_status: int | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "details": self.details}


@dataclass
class SendResult:
    wamid: str | None = None
    error: ProviderError | None = None
    # Webhook bodies (Meta's shape) the provider will "post back", with the delay in seconds
    # after which each is due. The sandbox uses this; the Cloud API leaves it empty and Meta
    # calls /webhooks/whatsapp instead.
    followups: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    project_id: str
    destination: str  # E.164, or the BSUID of a person without a phone number
    payload: dict[str, Any]  # {"template", "language", "category", "components"}


def build_message_body(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body of POST /{phone-number-id}/messages for a template message (`to` a phone
    number, or `recipient` a BSUID)."""
    template: dict[str, Any] = {
        "name": message.payload["template"],
        "language": {"code": message.payload["language"], "policy": "deterministic"},
    }
    if message.payload.get("components"):
        template["components"] = message.payload["components"]
    # A person known only by a business-scoped user id is sent to with `recipient` (Meta: `to`
    # takes precedence when both are given, so never both).
    address = "recipient" if is_bsuid(message.destination) else "to"
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        address: message.destination,
        "type": "template",
        "biz_opaque_callback_data": message.message_id,
        "template": template,
    }


def dedupe_key(body: Any) -> str:
    """A stable hash of the event's content: Meta's retries carry the same body."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
