"""The sandbox provider: behaves like Meta without sending anything.

It checks the message against its template the way Meta does (parameter counts, header media
or location present, button parameters, card count), answers with a wamid, and then reports
sent, delivered and read as Meta-shaped status webhooks that go through the same event
processing as Meta's own.

It can also be told to fail sends (sandbox_failures.py): the project's own rule, stored on the
project (set from the inbox page or `wacast sandbox fail`), else the WACAST_SANDBOX_FAIL_*
default. The dispatcher hands the provider the project as it last read it (at each lease
refresh, every WACAST_SENDER_LEASE_SECONDS / 3), so a changed rule applies within seconds,
in whichever process sends. The use cases that read and change the rule are at the end.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.errors import WacastError
from wacast.kit.phone import is_bsuid
from wacast.messages.provider import OutgoingMessage, ProviderError, SendResult
from wacast.templates.params import analyze
from wacast.whatsapp import repository_sandbox as repo
from wacast.whatsapp import sandbox_failures as failures
from wacast.whatsapp.sandbox_failures import FailureRule

SANDBOX_PHONE_PREFIX = "sandbox:"


def sandbox_phone_number_id(project_id: str) -> str:
    return f"{SANDBOX_PHONE_PREFIX}{project_id}"


def status_webhook(phone_number_id: str, wamid: str, status: str, recipient: str, opaque: str, ts: int, *, errors: list | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts), "biz_opaque_callback_data": opaque}
    if is_bsuid(recipient):  # a send by `recipient` (a person known by BSUID only): as Meta reports it
        entry["recipient_user_id"] = recipient
    else:
        entry["recipient_id"] = recipient.lstrip("+")
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

    def __init__(self, delivered_after: float = 1.0, read_after: float = 3.0, failures: FailureRule | None = None) -> None:
        self.delivered_after = delivered_after
        self.read_after = read_after
        # The default failure rule of projects without their own (failures.from_settings).
        self.failures = failures or failures_off()
        self._rules: dict[Any, tuple[Any, FailureRule]] = {}  # project id -> (stored value, its rule)

    def rule_for(self, project: Any) -> FailureRule:
        """The project's own rule when it has one, else the default (parsed once per stored value)."""
        stored = getattr(project, "sandbox_failures", None)
        if stored is None:
            return self.failures
        cached = self._rules.get(project.id)
        if cached is not None and cached[0] == stored:
            return cached[1]
        rule = failures.from_stored(stored) or self.failures
        self._rules[project.id] = (stored, rule)
        return rule

    async def send(self, project: Any, message: OutgoingMessage, template: Any) -> SendResult:
        if template is None:
            return SendResult(error=ProviderError(132001, "Template name does not exist in the translation", message.payload.get("template")))
        error = check_against_template(template.components, template.parameter_format, message.payload.get("components") or [])
        if error is not None:
            return SendResult(error=error)
        rule = self.rule_for(project)
        code = failures.failure_code(rule, message.message_id, message.destination) if rule.active else None
        if code is not None and rule.mode == "sync":
            return SendResult(error=failures.send_error(code))
        wamid = "wamid.SANDBOX" + secrets.token_hex(16).upper()
        phone_id = sandbox_phone_number_id(str(project.id))
        now = int(time.time())
        if code is not None:  # accepted, then reported failed, as Meta reports failures after the fact
            failed = status_webhook(phone_id, wamid, "failed", message.destination, message.message_id, now,
                                    errors=[failures.webhook_error(code)])
            return SendResult(wamid=wamid, followups=[(0.0, failed)])
        followups = [
            (0.0, status_webhook(phone_id, wamid, "sent", message.destination, message.message_id, now)),
            (self.delivered_after, status_webhook(phone_id, wamid, "delivered", message.destination, message.message_id, now + int(self.delivered_after))),
            (self.read_after, status_webhook(phone_id, wamid, "read", message.destination, message.message_id, now + int(self.read_after))),
        ]
        return SendResult(wamid=wamid, followups=followups)

    async def close(self) -> None:
        return None


def failures_off() -> FailureRule:
    return failures.OFF


# --- use cases: the failure rule of a sandbox project (dashboard inbox, `wacast sandbox`) ------


def _sandbox_only(project: Any) -> None:
    if project.provider != "sandbox":
        raise WacastError(f"Project {project.name} sends through the Cloud API: failure rules exist only for sandbox projects",
                          "NOT_SANDBOX", status_code=409)


async def failure_rule(session: AsyncSession, project: Any, default: FailureRule) -> dict[str, Any]:
    """The rule that applies to the project's sandbox sends, and where it comes from:
    `project` (its own) or `settings` (WACAST_SANDBOX_FAIL_*, `default`)."""
    stored = failures.from_stored(await repo.stored_failures(session, project.id))
    rule = stored if stored is not None else default
    return {"project": project.name, "provider": project.provider, "source": "project" if stored is not None else "settings",
            "active": rule.active and project.provider == "sandbox", "description": rule.describe(), **rule.as_dict(),
            "default": default.as_dict()}


async def set_failure_rule(session: AsyncSession, project: Any, given: dict[str, Any] | None, default: FailureRule) -> dict[str, Any]:
    """Give the sandbox project its own failure rule ({rate, code, numbers, mode}: rate 0 and no
    numbers is off, whatever the default), or None: back to the WACAST_SANDBOX_FAIL_* default.
    Checked whole first: a wrong value changes nothing. Returns the rule now in force."""
    _sandbox_only(project)
    rule = None if given is None else failures.parse_rule(given, project.default_country or "IN")
    await repo.store_failures(session, project.id, None if rule is None else rule.as_dict())
    await session.flush()
    return await failure_rule(session, project, default)
