"""A broadcast being put together, before it is made: what it would reach (the dry run's
estimate, countries and cost: dry_run.measure), the
message as one of its contacts would get it, and a test send of that message to one number.
The dashboard's New broadcast calls these as the form is filled in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.broadcasts import dry_run, estimate
from wacast.campaigns.broadcasts import repository as repo
from wacast.campaigns.broadcasts.audience_csv import parse_csv
from wacast.campaigns.broadcasts.plan import components_for, parse_plan, parse_send_at
from wacast.contacts import repository as contacts_repo
from wacast.contacts import segments
from wacast.kit import phone as phones
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.messages import repository as messages_repo
from wacast.templates import service as templates
from wacast.templates import statuses as template_statuses
from wacast.templates.params import TemplateNeeds, analyze

TEST_SOURCE = "test send"


@dataclass
class Placeholder:
    """The contact a preview is filled for when the audience has nobody yet."""

    name: str = ""
    phone: str = ""
    attributes: dict[str, Any] | None = None


@dataclass
class Preview:
    needs: TemplateNeeds | None = None
    template_components: list[dict[str, Any]] | None = None
    parameter_format: str | None = None
    components: list[dict[str, Any]] | None = None  # as sent to the sample contact
    sample: str | None = None  # who the preview is filled for
    estimate: estimate.Estimate | None = None
    dry_run: dry_run.DryRun | None = None  # the estimate with the messages by country and their cost (dry_run.measure)
    problem: WacastError | None = None  # what is missing or wrong so far (None: ready)


async def _template(session: AsyncSession, project_id: uuid.UUID, body: dict[str, Any]) -> Any:
    name = body.get("template")
    if not isinstance(name, str) or not name.strip():
        raise WacastError("Choose a template", "FIELD_REQUIRED", {"field": "template"})
    template = await templates.find(session, project_id, name.strip(), body.get("language"))
    if not template_statuses.can_send(template.status):
        raise WacastError(f"Template {template.name} is {template.status}, not APPROVED", "TEMPLATE_NOT_APPROVED", {"field": "template"})
    return template


async def preview(
    session: AsyncSession, project_id: uuid.UUID, body: dict[str, Any], *, csv_data: bytes | None = None, now: datetime | None = None,
    blocked_regions: frozenset[str] | None = None,
) -> Preview:
    """As much of the broadcast as the body (and an uploaded audience) says so far. A body
    being filled in is incomplete by nature: the first problem is returned, not raised,
    beside what could be worked out."""
    now = now or utcnow()
    out = Preview()
    try:
        text.check_tree(body, "body")
        template = await _template(session, project_id, body)
        out.needs = analyze(template.components, template.parameter_format)
        out.template_components, out.parameter_format = template.components, template.parameter_format
        project = await repo.project(session, project_id)
        send_at = parse_send_at(body.get("send_at"), segments.project_zone(project.timezone), now)
        contact: Any = Placeholder()
        values: dict[str, str] = {}
        if csv_data is not None:
            rows, rejected = parse_csv(csv_data, project.default_country)
            out.dry_run = await dry_run.measure(session, project_id, template.category, csv_rows=rows, rejected=rejected, now=now, send_at=send_at,
                                           blocked_regions=blocked_regions)
            out.estimate = out.dry_run.estimate
            if rows:  # the file's first row, with its own columns as values
                phone, name, values = rows[0]
                contact, out.sample = Placeholder(name=name, phone=phone, attributes={}), name or phone
        elif body.get("segment"):
            segment = await segments.get(session, project_id, str(body["segment"]))
            out.dry_run = await dry_run.measure(session, project_id, template.category, segment_filter=segment.filter, now=now, send_at=send_at,
                                           blocked_regions=blocked_regions)
            out.estimate = out.dry_run.estimate
            member = await repo.sample_member(session, segments.members(project_id, segment.filter), segments.sendable())
            if member is not None:
                contact, out.sample = member, member.name or member.phone
        plan = parse_plan(out.needs, body)
        out.components = components_for(out.needs, plan, contact, values)
        if out.estimate is None:
            raise WacastError("Choose a segment or upload a CSV", "FIELD_REQUIRED", {"field": "segment"})
    except WacastError as problem:
        out.problem = problem
    return out


async def test_send(
    db: Any, project_id: uuid.UUID, body: dict[str, Any], destination: Any, *, check_media: Any, csv_data: bytes | None = None,
) -> uuid.UUID:
    """Queue the message, filled as for the audience's sample contact (a segment's latest, or
    an uploaded file's first row), to one number (the
    marketer's own): a transactional send outside any campaign, never counted in the
    broadcast. The number becomes a contact (source "test send") unless it is one; an
    opted-out or blocked contact is refused, as everywhere."""
    if not isinstance(destination, str) or not destination.strip():
        raise WacastError("Type the number to send the test to", "FIELD_REQUIRED", {"field": "test_phone"})
    async with db.read() as session:
        found = await preview(session, project_id, body, csv_data=csv_data)
        project = await repo.project(session, project_id)
        default_country = project.default_country
    if found.problem is not None:
        raise found.problem
    try:
        phone = phones.normalize(text.clean("test_phone", destination, max_len=40), default_country)
    except phones.InvalidNumber:
        raise WacastError("Invalid Number", "INVALID_NUMBER", {"field": "test_phone"}) from None
    if found.needs.needs_media:
        await check_media(body["media"]["url"], found.needs.header_format, "media.url")
    template_name, language = body["template"], body.get("language")
    async with db.transaction() as session:
        template = await templates.find(session, project_id, template_name, language)
        contact_id = await contacts_repo.get_or_create_by_phone(session, project_id, phone, "", TEST_SOURCE)
        contact = await contacts_repo.find_by_phone(session, project_id, phone)
        if not contact.opted_in or contact.blocked:
            raise WacastError("This number has opted out" if not contact.opted_in else "This number is blocked",
                              "CONTACT_OPTED_OUT" if not contact.opted_in else "CONTACT_BLOCKED", {"field": "test_phone"})
        message_id = uuid.uuid4()
        await messages_repo.insert_queued(
            session, message_id=message_id, project_id=project_id, campaign_id=None, contact_id=contact_id,
            template_id=template.id, destination=phone, now=utcnow(),
            payload={"template": template.name, "language": template.language, "category": template.category,
                     "components": found.components},
        )
    return message_id
