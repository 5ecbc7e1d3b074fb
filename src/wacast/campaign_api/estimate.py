"""The estimate of a list of campaign API requests to one API campaign: what sending them would
do, sending and storing nothing (`POST /api/v1/campaigns/{id}/estimate`, docs/dry-run.md).

Each destination is judged as `campaign_api/service.accept` judges a request, in its order:
the value itself (`no destination` FIELD_REQUIRED, `destination not text` FIELD_INVALID,
`destination too long` FIELD_TOO_LONG, as templates/request.parse refuses it), the number
read as the campaign API reads it (kit/phone, the project's default country: `invalid
number`, INVALID_NUMBER), a number WhatsApp said changed (`number_changed`,
PHONE_NUMBER_CHANGED), an opted-out or blocked contact (`opted out`, `blocked`:
CONTACT_OPTED_OUT, CONTACT_BLOCKED), and a MARKETING template in a project that requires
consent sent to a contact without one, the request giving none (`no_consent`,
CONSENT_REQUIRED). A number that is no contact yet would be created and sent to. What is left
is counted by country and priced at the rate card in force, as a broadcast's dry run is."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import service as billing
from wacast.campaign_api.estimate_input import example
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns.broadcasts import dry_run_policy as rules
from wacast.campaigns.broadcasts import repository as broadcasts_repo
from wacast.campaigns.broadcasts import repository_dry_run as dry_repo
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.campaigns.broadcasts.engine import NUMBER_CHANGED
from wacast.contacts import consent_policy
from wacast.contacts import repository as contacts_repo
from wacast.kit import phone as phones
from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.templates import statuses

INVALID_NUMBER = "invalid number"
NO_DESTINATION, NOT_TEXT, TOO_LONG = "no destination", "destination not text", "destination too long"
OPTED_OUT, BLOCKED = "opted out", "blocked"
MAX_EXAMPLES = 20  # unreadable values listed (every one is counted)
MAX_DESTINATION = 40  # the campaign API's limit (templates/request.parse)
# The error code the campaign API answers a request skipped for each reason.
CODES = {
    NO_DESTINATION: "FIELD_REQUIRED", NOT_TEXT: "FIELD_INVALID", TOO_LONG: "FIELD_TOO_LONG",
    INVALID_NUMBER: "INVALID_NUMBER", NUMBER_CHANGED: "PHONE_NUMBER_CHANGED", OPTED_OUT: "CONTACT_OPTED_OUT",
    BLOCKED: "CONTACT_BLOCKED", consent_policy.NO_CONSENT: "CONSENT_REQUIRED",
}


def unreadable(value: Any, default_country: str) -> tuple[str | None, str | None]:
    """(the E.164 number, None) of a destination as the campaign API reads it, or (None, the
    reason it refuses it): missing, not text (or a forbidden character), too long, no number."""
    if value is None or value == "":
        return None, NO_DESTINATION
    if not isinstance(value, str):
        return None, NOT_TEXT
    found = text.problem(value, max_len=MAX_DESTINATION, multiline=True)
    if found is not None:
        return None, TOO_LONG if "max_length" in found[1] else NOT_TEXT
    try:
        return phones.normalize(value, default_country), None
    except phones.InvalidNumber:
        return None, INVALID_NUMBER


def read_all(values: list[Any], default_country: str) -> tuple[list[str], dict[str, int], list[dict[str, Any]]]:
    """The E.164 numbers of the readable values (in order, duplicates kept), the unreadable
    ones counted by reason, and the first MAX_EXAMPLES of them with their index."""
    valid: list[str] = []
    skips: dict[str, int] = {}
    invalid: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        phone, reason = unreadable(value, default_country)
        if phone is not None:
            valid.append(phone)
            continue
        skips[reason] = skips.get(reason, 0) + 1
        if len(invalid) < MAX_EXAMPLES:
            invalid.append({"index": index, "destination": example(value), "reason": reason})
    return valid, skips, invalid


def _warnings(snapshot: Any, will_send: int) -> list[str]:
    said = []
    if snapshot.campaign_status != "live":
        said.append(f"The campaign is {snapshot.campaign_status}, not live: every request would be refused (CAMPAIGN_NOT_LIVE) until it is set live.")
    if snapshot.template_status not in statuses.ACCEPTING:
        said.append(f"Template {snapshot.template_name} is {snapshot.template_status}: every request would be refused (TEMPLATE_NOT_APPROVED).")
    if not will_send:
        said.append("None of these destinations can be messaged.")
    return said


async def destinations(session: AsyncSession, project_id: uuid.UUID, ref: str, values: list[Any], *, now: datetime) -> dict[str, Any]:
    """What sending one campaign API request per value of `values` to API campaign `ref`
    (its id or name) would do. Reads only."""
    campaign = await broadcasts.find(session, project_id, ref)
    if campaign.type != "api":
        raise WacastError(f"{campaign.name!r} is a broadcast: dry-run it with POST /api/v1/campaigns and \"dry_run\": true",
                          "NOT_AN_API_CAMPAIGN", {"campaign": campaign.name})
    snapshot = await campaigns_repo.snapshot_by_name(session, project_id, campaign.name)
    project = await broadcasts_repo.project(session, project_id)
    # Reading 100,000 numbers takes seconds of CPU (phonenumbers): in a thread, so that the
    # event loop goes on answering other requests meanwhile.
    valid, skips, invalid = await asyncio.to_thread(read_all, values, snapshot.default_country)
    unique = list(dict.fromkeys(valid))
    moved = await contacts_repo.moved_numbers(session, project_id, unique)
    known = await dry_repo.contacts_by_phone(session, project_id, unique)
    require = bool(project.require_marketing_consent)
    sent: list[str] = []
    for phone in valid:
        contact = known.get(phone)
        if phone in moved:
            reason = NUMBER_CHANGED
        elif contact is not None and not contact.opted_in:
            reason = OPTED_OUT
        elif contact is not None and contact.blocked:
            reason = BLOCKED
        elif consent_policy.refused(require, snapshot.template_category, bool(contact and contact.marketing_consent), None):
            reason = consent_policy.NO_CONSENT
        else:
            sent.append(phone)
            continue
        skips[reason] = skips.get(reason, 0) + 1
    by_country = rules.count_by_country(sent)
    cost = rules.cost_view(await billing.estimate_cost(session, project_id, rules.message_counts(snapshot.template_category, by_country), now))
    return {
        "dry_run": True,
        "campaign": {"id": str(campaign.id), "name": campaign.name, "status": snapshot.campaign_status},
        "template": {"name": snapshot.template_name, "language": snapshot.template_language, "category": snapshot.template_category},
        "destinations": len(values), "will_send": len(sent), "duplicates": len(valid) - len(unique),
        "skips": skips, "skipped": sum(skips.values()), "codes": {reason: CODES[reason] for reason in skips},
        "invalid_examples": invalid, "messages": len(sent),
        "by_category": rules.by_category(snapshot.template_category, by_country), "by_country": by_country,
        "cost": cost, "cost_line": rules.cost_words(cost), "warnings": _warnings(snapshot, len(sent)),
    }
