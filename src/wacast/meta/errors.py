"""Meta's error codes by what to do about them (reference/whatsapp-cloud-api.md, section 2)."""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    retry = "retry"  # transient: back off and try again
    recipient = "recipient"  # pair rate: wait for this recipient only
    defer = "defer"  # per-user marketing limit: try again in 24 h
    permanent = "permanent"  # fix the request; never retry
    opt_out = "opt_out"  # permanent, and the contact stopped marketing messages
    hold_template = "hold_template"  # template paused or disabled: hold its sends
    halt_sender = "halt_sender"  # the number or account itself is refused


RETRY = {1, 2, 4, 80007, 130429, 131000, 131016, 131057, 133004}
HALT = {0, 3, 10, 190, 368, 130497, 131031, 131042, 131045, 131048, 131064, 131063, 133010, 131037}
HOLD_TEMPLATE = {132015, 132016}
MARKETING_LIMIT = 131049
# The held_reason of a message deferred by Meta's per-user marketing limit (the dispatcher sets
# it; releases of held sends leave such a message alone: it waits for its own time).
MARKETING_LIMIT_HELD = "held by Meta's marketing limit (131049): tried again after about 24 hours"

# Meaning and what to do, in words, for people reading the dashboard and logs.
MEANINGS: dict[int, tuple[str, str]] = {
    0: ("Meta could not authenticate the request", "Generate a new access token and update the project."),
    190: ("The access token has expired or is invalid", "Generate a new system-user token and update the project."),
    4: ("Too many API calls from the app", "wacast retries with backoff; nothing to do unless it persists."),
    80007: ("The WhatsApp Business Account hit its rate limit", "wacast retries with backoff."),
    130429: ("The number's message throughput was reached", "wacast slows this number down and retries."),
    131056: ("Too many messages to the same recipient in a short time", "wacast waits before sending to this person again."),
    131049: ("Meta held the message to protect engagement (per-user marketing limit)",
             "wacast tries again after about 24 hours, a few times (WACAST_MARKETING_LIMIT_MAX_DEFERRALS), then fails it; "
             "send fewer marketing messages to this person (the campaign's MARKETING_LIMITED audience)."),
    131026: ("The message could not be delivered (not on WhatsApp, old app, or terms not accepted)", "Check the number; the person may not use WhatsApp."),
    131047: ("Outside the 24-hour window: only a template can be sent (more than 24 hours since the person last wrote)",
             "Send an approved template instead of a free-form message."),
    131050: ("The person stopped marketing messages from you", "The contact is marked opted out; do not send marketing to them."),
    131051: ("Unsupported message type", "Check the template and its parameters."),
    131062: ("Meta does not accept a business-scoped user id (BSUID) as the recipient of this message",
             "Send it to the contact's phone number: authentication templates need one."),
    131053: ("Meta could not use the media (often a mismatched MIME type)", "Check that the media URL serves the right content type."),
    131008: ("A required parameter is missing", "Check the template parameters the campaign sends."),
    131009: ("A parameter value is invalid", "Check the values sent in templateParams, media and buttons."),
    100: ("Invalid parameter", "Check the request values."),
    132000: ("The number of parameters does not match the template", "Send exactly as many templateParams as the template has placeholders."),
    132001: ("The template does not exist in this language or is not approved", "Sync templates and check the campaign's template and language."),
    132005: ("The filled-in template text is too long", "Shorten the parameter values."),
    132007: ("The template content violates WhatsApp policy", "Edit the template and submit it again."),
    132012: ("Parameter values are badly formatted", "Check the format of media, card count and parameter types."),
    132015: ("The template is paused for low quality", "Improve or replace the template; sends are held until it is active again."),
    132016: ("The template is permanently disabled", "Create a new template and point the campaign at it."),
    131031: ("The business account is locked or restricted", "Resolve the restriction in Meta Business Manager."),
    131042: ("There is a payment problem with the business account", "Fix the payment method in Meta Business Manager."),
    131045: ("The phone number is not registered", "Register the number with the Cloud API."),
    133010: ("The phone number is not registered", "Register the number with the Cloud API."),
    131048: ("Spam rate limit hit: too many messages were blocked or flagged", "Sending is halted; check the number's quality rating."),
    368: ("The account is restricted for policy violations", "Review the policy notice in Meta Business Manager."),
    131000: ("Something went wrong at Meta", "wacast retries; nothing to do unless it persists."),
    131016: ("Meta's service is temporarily unavailable", "wacast retries."),
    131057: ("The account is in maintenance mode", "wacast retries in about a minute."),
    133004: ("Meta's server is temporarily unavailable", "wacast retries."),
    130472: ("Meta held the message back as part of a marketing experiment", "Nothing to do."),
    131021: ("The recipient is the sender's own number", "Send to a different number."),
    131030: ("The recipient is not in the test number's allowed list", "Add the number to the allowed list or use a production number."),
    130403: ("The business blocked this user", "Unblock the user to message them."),
}


def classify(code: int | None, http_status: int | None = None) -> ErrorClass:
    if code is None:
        # No Meta envelope: a timeout, a connection error or a bare 5xx/429.
        if http_status is None or http_status >= 500 or http_status == 429:
            return ErrorClass.retry
        if http_status == 401:
            return ErrorClass.halt_sender
        return ErrorClass.permanent
    if code in RETRY:
        return ErrorClass.retry
    if code == 131056:
        return ErrorClass.recipient
    if code == 131049:
        return ErrorClass.defer
    if code == 131050:
        return ErrorClass.opt_out
    if code in HOLD_TEMPLATE:
        return ErrorClass.hold_template
    if code in HALT or 200 <= code <= 299:
        return ErrorClass.halt_sender
    return ErrorClass.permanent


def meaning(code: int | None) -> tuple[str, str]:
    if code is None:
        return ("No answer from Meta (timeout or connection error)", "wacast retries with backoff.")
    return MEANINGS.get(code, ("Meta error", "See Meta's error code reference."))
