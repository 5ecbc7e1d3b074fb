"""The sandbox's failure rule: which sends fail, with which of Meta's error codes, and how the
failure arrives. Pure (no I/O): the sandbox provider applies it, the dashboard, the CLI and the
WACAST_SANDBOX_FAIL_* settings produce it (docs/delivery.md, "Failures in the sandbox").

A rule fails
- every send to one of its `numbers` (each with its own code), and
- a `rate` per cent of the other sends, chosen by a hash of the message id: the same message
  fails on every attempt, and a test knows which messages fail,
with the rule's `code`, in one of two `mode`s:
- `sync`: the send is refused with Meta's error envelope, so the dispatcher's retry policy
  applies (retryable codes retry, 131049 waits about a day (a few times), 131050 opts the contact out, a halting
  code halts the sandbox project, ...);
- `webhook`: the send is accepted with a wamid and a `failed` status webhook carrying the code
  follows, as Meta reports failures after the fact; it goes through the inbound status path.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from wacast.kit import phone, text
from wacast.kit.errors import WacastError
from wacast.meta.errors import MEANINGS, ErrorClass, classify, meaning
from wacast.meta.types import ProviderError

MODES = ("sync", "webhook")
DEFAULT_CODE = 131026
MAX_NUMBERS = 200

# Meta's own titles (the `title` of its error objects) for the codes wacast knows.
META_TITLES: dict[int, str] = {
    0: "AuthException",
    4: "API Too Many Calls",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130403: "Recipient blocked by the business",
    130429: "Rate limit hit",
    130472: "User's number is part of an experiment",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131031: "Account has been locked",
    131042: "Business eligibility payment issue",
    131045: "Incorrect certificate",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
    131051: "Unsupported message type",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132005: "Translated text too long",
    132007: "Template Format Character Policy Violated",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is Disabled",
    133004: "Server temporarily unavailable",
    133010: "Phone number Not Registered",
}

# What the dispatcher does with a code refused at the send (the retry policy's classes), in words.
EFFECT_WORDS = {
    ErrorClass.retry: "retried with backoff, then failed",
    ErrorClass.recipient: "retried after a wait for this recipient, then failed",
    ErrorClass.defer: "tried again after about 24 hours, a few times, then failed",
    ErrorClass.permanent: "failed at once",
    ErrorClass.opt_out: "failed at once; the contact is opted out",
    ErrorClass.hold_template: "held; the template is marked paused or disabled",
    ErrorClass.halt_sender: "held; the project is halted until the halt is cleared",
}
# The codes offered first: the ones people meet in practice.
COMMON_CODES = (131026, 131047, 131049, 130472, 131050, 132001, 131053, 131000, 130429, 131056)


def known_codes() -> list[int]:
    """Every code wacast knows the meaning of, the common ones first."""
    return list(COMMON_CODES) + sorted(c for c in MEANINGS if c not in COMMON_CODES)


def code_choices() -> list[dict[str, Any]]:
    """The codes as the form and `wacast sandbox codes` offer them."""
    return [{"code": c, "meaning": meaning(c)[0], "sync_effect": EFFECT_WORDS[classify(c)], "title": title_of(c)} for c in known_codes()]


def title_of(code: int) -> str:
    return META_TITLES.get(code) or meaning(code)[0]


@dataclass(frozen=True)
class FailureRule:
    rate: float = 0.0  # per cent of sends (0-100), chosen by message id
    code: int = DEFAULT_CODE  # the code of the rate's failures, and of numbers given without one
    numbers: tuple[tuple[str, int], ...] = field(default=())  # (E.164, code): every send to them fails
    mode: str = "sync"  # sync | webhook

    @property
    def active(self) -> bool:
        return self.rate > 0 or bool(self.numbers)

    def as_dict(self) -> dict[str, Any]:
        """The stored (and JSON) form."""
        return {"rate": self.rate, "code": self.code, "numbers": [[n, c] for n, c in self.numbers], "mode": self.mode}

    def numbers_text(self) -> str:
        """The numbers as the form and the settings write them: `+91...=131047, +91...`."""
        return ", ".join(n if c == self.code else f"{n}={c}" for n, c in self.numbers)

    def describe(self) -> str:
        """One line for people."""
        if not self.active:
            return "off: every send is accepted"
        parts = []
        if self.rate > 0:
            parts.append(f"{_percent(self.rate)} % of sends fail with {self.code}")
        if self.numbers:
            parts.append(f"{len(self.numbers)} number{'s' if len(self.numbers) != 1 else ''} always fail{'s' if len(self.numbers) == 1 else ''}")
        how = "refused at the send (the retry policy applies)" if self.mode == "sync" else "accepted, then a failed status webhook"
        return f"{'; '.join(parts)}; {how}"


OFF = FailureRule()


def _percent(rate: float) -> str:
    return f"{rate:g}"


def _problem(message: str, name: str, **details: Any) -> WacastError:
    return WacastError(message, "SANDBOX_RULE_INVALID", {"field": name, **details})


def parse_rate(value: Any) -> float:
    if isinstance(value, bool):
        raise _problem("rate must be a number from 0 to 100 (per cent of sends)", "rate")
    if isinstance(value, str):
        raw = text.check("rate", value.strip(), max_len=20).rstrip("%").strip()
        if not raw:
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            raise _problem(f"rate must be a number from 0 to 100 (per cent of sends), not {raw!r}", "rate") from None
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 100:
        raise _problem(f"rate must be a number from 0 to 100 (per cent of sends), not {value!r}", "rate")
    return round(float(value), 2)


def parse_code(value: Any, name: str = "code") -> int:
    if isinstance(value, str):
        raw = text.check(name, value.strip(), max_len=20)
        if not raw.isdigit():
            raise _problem(f"{name} must be one of Meta's error codes wacast knows (e.g. 131026), not {raw!r}", name)
        value = int(raw)
    if isinstance(value, bool) or not isinstance(value, int) or value not in MEANINGS:
        raise _problem(f"{name}: {value!r} is not one of the Meta error codes wacast knows; choose one of "
                       f"{', '.join(str(c) for c in known_codes())}", name, known=known_codes())
    return value


def parse_mode(value: Any) -> str:
    raw = text.check("mode", value.strip(), max_len=20).lower() if isinstance(value, str) else value
    if raw not in MODES:
        raise _problem(f"mode must be sync (the send is refused) or webhook (a failed status webhook follows), not {value!r}", "mode")
    return raw


_SPLIT = re.compile(r"[,;\n]+")


def parse_numbers(value: Any, code: int, default_country: str = "IN") -> tuple[tuple[str, int], ...]:
    """`+919812345678=131047, 98123 45679` (text separated by commas, semicolons or lines, or a
    list of such items): each number in E.164
    (read like the campaign API reads destinations, in `default_country`), with its own code
    after `=` or the rule's. A number given twice keeps its last code."""
    if isinstance(value, str):
        items = [i.strip() for i in _SPLIT.split(text.check("numbers", value, max_len=20_000, multiline=True)) if i.strip()]
    elif isinstance(value, list | tuple):
        items = []
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:  # the stored form [number, code]
                items.append(f"{item[0]}={item[1]}")
            elif isinstance(item, str):
                items.append(text.check("numbers", item.strip(), max_len=100))
            else:
                raise _problem("numbers must be phone numbers, each optionally followed by =CODE", "numbers")
    else:
        raise _problem("numbers must be phone numbers, each optionally followed by =CODE", "numbers")
    found: dict[str, int] = {}
    for item in items:
        number, _, own = item.partition("=")
        try:
            e164 = phone.normalize(number, default_country)
        except phone.InvalidNumber:
            raise _problem(f"numbers: {number[:40]!r} is not a phone number", "numbers", value=number[:40]) from None
        found.pop(e164, None)
        found[e164] = parse_code(own, "numbers") if own.strip() else code
    if len(found) > MAX_NUMBERS:
        raise _problem(f"numbers: at most {MAX_NUMBERS} numbers (got {len(found)})", "numbers", max=MAX_NUMBERS)
    return tuple(found.items())


def parse_rule(given: dict[str, Any], default_country: str = "IN") -> FailureRule:
    """A rule from what a form, the CLI or the settings gave: {rate, code, numbers, mode}, any
    left out taking its default. Anything wrong is a WacastError naming the field."""
    unknown = sorted(set(given) - {"rate", "code", "numbers", "mode"})
    if unknown:
        raise _problem(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    code = parse_code(given.get("code", DEFAULT_CODE) if given.get("code") not in (None, "") else DEFAULT_CODE)
    return FailureRule(
        rate=parse_rate(given.get("rate") if given.get("rate") is not None else 0),
        code=code,
        numbers=parse_numbers(given.get("numbers") or "", code, default_country),
        mode=parse_mode(given.get("mode") or "sync"),
    )


def from_stored(value: Any) -> FailureRule | None:
    """The rule stored on a project (None: the project has none and takes the default). A
    stored value is written by `parse_rule` only; one that no longer parses counts as off."""
    if not isinstance(value, dict):
        return None
    try:
        return parse_rule(value)
    except WacastError:
        return OFF


def from_settings(settings: Any) -> FailureRule:
    """The default of every sandbox project: WACAST_SANDBOX_FAIL_RATE, _CODE, _NUMBERS (in
    international form, +CC...) and _MODE."""
    return parse_rule({"rate": settings.sandbox_fail_rate, "code": settings.sandbox_fail_code,
                       "numbers": settings.sandbox_fail_numbers, "mode": settings.sandbox_fail_mode})


def settings_problems(settings: Any) -> list[str]:
    """What is wrong with the WACAST_SANDBOX_FAIL_* settings, one line each (for the start-up check)."""
    names = {"rate": "WACAST_SANDBOX_FAIL_RATE", "code": "WACAST_SANDBOX_FAIL_CODE",
             "numbers": "WACAST_SANDBOX_FAIL_NUMBERS", "mode": "WACAST_SANDBOX_FAIL_MODE"}
    try:
        from_settings(settings)
    except WacastError as error:
        name = names.get((error.details or {}).get("field", ""), "WACAST_SANDBOX_FAIL_*")
        return [f"{name}: {error.message}"]
    return []


def share_of(message_id: str) -> float:
    """Where a message falls in [0, 100): the same id always lands in the same place."""
    digest = hashlib.sha256(str(message_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def failure_code(rule: FailureRule, message_id: str, destination: str) -> int | None:
    """The code this send fails with, or None when it goes through."""
    for number, code in rule.numbers:
        if number == destination:
            return code
    if rule.rate > 0 and share_of(message_id) < rule.rate:
        return rule.code
    return None


def details_of(code: int) -> str:
    return f"made to fail with {code} by the sandbox's failure rule"


def send_error(code: int) -> ProviderError:
    """What the send answers in sync mode: Meta's error envelope, as the Cloud API client reads it."""
    status = {0: 401, 190: 401, 131000: 500, 131016: 503, 133004: 503}.get(code, 400)
    return ProviderError(code, f"(#{code}) {title_of(code)}", details_of(code), http_status=status)


def webhook_error(code: int) -> dict[str, Any]:
    """The `errors` entry of Meta's `failed` status webhook."""
    return {"code": code, "title": title_of(code), "message": title_of(code), "error_data": {"details": details_of(code)},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
