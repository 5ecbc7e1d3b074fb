"""Accepting one campaign API request: validate everything, then one transaction, then 200.

Every check that can fail runs before the write, so a rejection writes nothing. Checks that
depend on the contact ($Name parameters, opt-out) run again inside the transaction on the
locked row, so a concurrent change cannot slip through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.api_keys import service as api_keys
from wacast.campaign_api.group_commit import Accepted, GroupCommit
from wacast.campaign_api.media import MediaChecker
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns.repository import CampaignSnapshot
from wacast.contacts import consent_policy
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts.service import consent_row
from wacast.db.engine import Database
from wacast.kit import metrics, ratelimit, text
from wacast.kit import phone as phones
from wacast.kit.clock import utcnow
from wacast.kit.errors import Forbidden, Unauthorized, WacastError
from wacast.links import send_links
from wacast.links import service as links
from wacast.messages import repository as messages_repo
from wacast.projects import marketing_rules
from wacast.templates import statuses, tracked
from wacast.templates.components import VARIABLE_RE, build_components, media_to_check
from wacast.templates.request import parse
from wacast.webhooks import events as hooks


async def load_campaign(session: AsyncSession, project_id: uuid.UUID, name: str) -> CampaignSnapshot:
    snapshot = await campaigns_repo.cached_snapshot(session, project_id, name)
    if snapshot is None:
        raise WacastError("Campaign does not exist.", "CAMPAIGN_NOT_FOUND", {"campaignName": name})
    return snapshot


def check_live(snapshot: CampaignSnapshot) -> None:
    if snapshot.campaign_status != "live":
        raise WacastError(
            "Campaign is not live. Set it Live in the dashboard first.",
            "CAMPAIGN_NOT_LIVE",
            {"campaignName": snapshot.campaign_name, "status": snapshot.campaign_status},
        )
    if snapshot.template_status not in statuses.ACCEPTING:
        raise WacastError(
            f"Template {snapshot.template_name} is not approved (status {snapshot.template_status})",
            "TEMPLATE_NOT_APPROVED",
            {"template": snapshot.template_name, "status": snapshot.template_status},
        )



def with_static_buttons(request: Any, tracking: send_links.SendLinks | None) -> Any:
    """A tracked button whose destination has no `{{1}}` needs no value in the request: its
    pattern is the destination (links/send_links.py turns it into the token)."""
    if tracking is None:
        return request
    given = {str(b.get("index")).strip() for b in request.buttons if isinstance(b, dict)}
    extra = [{"index": i, "parameters": [{"type": "text", "text": pattern}]}
             for i, pattern in send_links.static_buttons(tracking).items() if str(i) not in given]
    return dataclasses.replace(request, buttons=[*request.buttons, *extra]) if extra else request


class CampaignApiService:
    def __init__(self, db: Database, media: MediaChecker, public_url: str = "",
                 blocked_regions: frozenset[str] = marketing_rules.BLOCKED_BY_DEFAULT) -> None:
        self.db = db
        self.media = media
        self.public_url = public_url  # WACAST_PUBLIC_URL: where a body URL's tracked link points
        # WACAST_MARKETING_BLOCKED_REGIONS (Settings.blocked_marketing_regions): MARKETING
        # templates to these regions are refused.
        self.blocked_regions = blocked_regions

        # Accepted requests are written together, one transaction per batch (group_commit.py).
        self.group = GroupCommit(self)

    async def authenticate(self, session: AsyncSession, body: Any):  # noqa: ANN201
        key = body.get("apiKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key or len(key) > 200:
            raise Unauthorized({"reason": "apiKey missing" if not key else "apiKey invalid"})
        identity = await api_keys.authenticate(session, key)
        if identity is None:
            raise Unauthorized({"reason": "unknown or revoked apiKey"})
        if not api_keys.can_send(identity.scope):
            raise Forbidden(f"This API key has scope `{identity.scope}`: it cannot send; the campaign API needs a `send` or `full` key",
                            "KEY_SCOPE", {"scope": identity.scope, "required": "send"})

        ratelimit.check(identity)  # 429 with Retry-After, per key, in memory
        return identity

    async def accept(self, body: Any) -> Accepted:
        # Sessions opened here, not by the endpoint: the media check (a network call) sits
        # between validation and the write, and the write is the group commit's (its own
        # transaction per batch); the reads take no write lock on SQLite (Database.read()).
        async with self.db.read() as session:
            identity = await self.authenticate(session, body)
            request = parse(body)
            request.consent = consent_policy.parse(request.marketing_consent, "marketing_consent", utcnow())
            snapshot = await load_campaign(session, identity.project_id, request.campaign_name)
            check_live(snapshot)
            tracking = await links.send_links(session, snapshot.campaign_id, self.public_url)  # None: nothing tracked
            request = with_static_buttons(request, tracking)
            try:
                destination = phones.normalize(request.destination, snapshot.default_country)
            except phones.InvalidNumber:
                raise WacastError("Invalid Number", "INVALID_NUMBER", {"destination": request.destination}) from None
            # Meta does not deliver MARKETING templates to some regions (US numbers since 2025-04).
            region = marketing_rules.blocked_region(destination, snapshot.template_category, snapshot.marketing_region_policy,
                                                    self.blocked_regions)
            if region is not None:
                raise marketing_rules.refusal(destination, region)
            moved_to = (await contacts_repo.cached_former_numbers(session, identity.project_id)).get(destination)
            if moved_to is not None:  # WhatsApp said this person changed number (whatsapp/inbound_identity.py)
                raise WacastError(f"This number changed: the contact moved to {moved_to}", "PHONE_NUMBER_CHANGED",
                                  {"destination": destination, "new_destination": moved_to})
            # The contact is read ahead only when a `$Variable` parameter needs its attributes;
            # opt-out and every contact-dependent check run again on the locked row at write time.
            existing = None
            if any(VARIABLE_RE.match(raw.strip()) for raw in request.template_params):
                existing = await contacts_repo.find_by_phone(session, identity.project_id, destination)
        self._check_contact(existing)
        defined_attrs, ignored_attrs = await self._defined_attributes(identity.project_id, request.attributes)
        attributes = {**((existing.attributes or {}) if existing else {}), **defined_attrs}
        contact_name = request.user_name or (existing.name if existing else "")
        components = build_components(snapshot.needs, request, contact_name, attributes)
        if tracking is not None:
            send_links.plan(components, tracking)  # a tracked button's destination is checked before any write
        checks = media_to_check(snapshot.needs, components)
        if checks:
            await asyncio.gather(*(self.media.check(url, kind, where) for url, kind, where in checks))
        return await self._write(identity, snapshot, request, destination, defined_attrs, ignored_attrs, tracking)

    @staticmethod
    def _check_contact(contact: Any) -> None:
        if contact is not None and (not contact.opted_in or contact.blocked):
            raise WacastError(
                "Contact has opted out" if not contact.opted_in else "Contact is blocked",
                "CONTACT_OPTED_OUT" if not contact.opted_in else "CONTACT_BLOCKED",
            )

    async def _defined_attributes(self, project_id: uuid.UUID, given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        if not given:
            return {}, []
        async with self.db.read() as session:
            defined = await contacts_repo.cached_attribute_names(session, project_id)
        return {k: v for k, v in given.items() if k in defined}, [k for k in given if k not in defined]

    async def _write(self, identity, snapshot, request, destination, attributes, ignored_attrs, tracking=None) -> Accepted:  # noqa: ANN001
        accepted = await self.group.submit(identity, snapshot, request, destination, attributes, ignored_attrs, tracking)
        await metrics.message_accepted(identity.project_id)
        return accepted

    async def _write_one(self, identity, snapshot, request, destination, attributes, ignored_attrs, tracking=None) -> Accepted:  # noqa: ANN001
        """One request in its own transaction (the group commit's fallback, so it opens its
        own session like the group commit does)."""
        now = utcnow()
        message_id = uuid.uuid4()
        async with self.db.transaction() as session:
            contact = await contacts_repo.upsert_for_send(
                session, identity.project_id, destination,
                name=request.user_name, source=request.source, attributes=attributes, now=now,
            )
            self._check_contact(contact)
            if consent_policy.refused(await consent_repo.cached_required(session, identity.project_id), snapshot.template_category,
                                      contact.marketing_consent, request.consent):
                raise consent_policy.consent_required_error(destination)
            if request.consent is not None:
                await consent_repo.record_many(session, [consent_row(identity.project_id, contact.id, request.consent, "campaign_api", now)])
            if contact.created:  # customer webhooks: contact.created, in this transaction
                await hooks.contacts_created(session, identity.project_id, [{
                    "id": contact.id, "phone": destination, "name": contact.name, "source": request.source, "attributes": contact.attributes,
                }], via="campaign_api")
            # Built again on the locked row: attributes may have changed since the first read.
            components = build_components(snapshot.needs, request, contact.name, contact.attributes or {})
            # A token per tracked link, minted in this transaction (links/send_links.py).
            components, link_rows = links.with_links(tracking, project_id=identity.project_id, message_id=message_id,
                                                     contact_id=contact.id, components=components)
            tag_ids = await contacts_repo.tag_ids_by_name(session, identity.project_id, request.tags)
            await contacts_repo.add_tags(session, contact.id, tag_ids.values())
            held = None if statuses.can_send(snapshot.template_status) else f"template {snapshot.template_status} by Meta"
            await messages_repo.insert_queued(
                session,
                message_id=message_id,
                project_id=identity.project_id,
                campaign_id=snapshot.campaign_id,
                contact_id=contact.id,
                template_id=snapshot.template_id,
                destination=destination,
                payload={
                    "template": snapshot.template_name,
                    "language": snapshot.template_language,
                    "category": snapshot.template_category,
                    "components": components,
                },
                held_reason=held,
                now=now,
            )
            await links.insert_links(session, link_rows)

            await api_keys.touch(session, identity.key_id, now)
        ignored: dict[str, list[str]] = {}
        unknown_tags = [t for t in dict.fromkeys(request.tags) if t not in tag_ids]
        if unknown_tags:
            ignored["tags"] = unknown_tags
        if ignored_attrs:
            ignored["attributes"] = ignored_attrs
        return Accepted(message_id, ignored)

    async def campaign_details(self, body: Any) -> dict[str, Any]:
        async with self.db.read() as session:
            identity = await self.authenticate(session, body)
            name = body.get("campaignName")
            if not isinstance(name, str) or not name:
                raise WacastError("campaignName is required", "FIELD_REQUIRED", {"field": "campaignName"})
            text.check("campaignName", name)  # the rule the send path applies (templates/request.py); a NUL was a 500
            snapshot = await load_campaign(session, identity.project_id, name)
        return example_request(snapshot, api_key="<your apiKey>")


def example_request(snapshot: CampaignSnapshot, api_key: str, destination: str = "919876543210") -> dict[str, Any]:
    """The body a send to this campaign needs, with placeholders where values go."""
    needs = snapshot.needs
    examples = needs.examples.get("header", [])[: len(needs.header_params)] + needs.examples.get("body", [])
    params = [
        examples[i] if i < len(examples) and examples[i] else f"value_{i + 1}" for i in range(len(needs.text_params))
    ]
    body: dict[str, Any] = {
        "apiKey": api_key,
        "campaignName": snapshot.campaign_name,
        "destination": destination,
        "userName": "Customer name",
        "templateParams": params,
        "source": "API",
        "media": {},
        "buttons": [],
        "carouselCards": [],
        "location": {},
        "attributes": {},
        "paramsFallbackValue": {"FirstName": "user"},
    }
    if needs.needs_media:
        sample = {
            "IMAGE": "https://example.com/image.jpg",
            "VIDEO": "https://example.com/video.mp4",
            "DOCUMENT": "https://example.com/document.pdf",
            "GIF": "https://example.com/animation.mp4",
        }[needs.header_format]
        body["media"] = {"url": sample, "filename": sample.rsplit("/", 1)[-1]}
    if needs.needs_location:
        body["location"] = {"latitude": "28.6139", "longitude": "77.2090", "name": "Store name", "address": "Store address"}
    for need in needs.buttons:
        if need.index in snapshot.tracked_buttons:  # wacast fills the token: the request gives the destination's value
            value = tracked.example_value(snapshot.tracked_buttons[need.index])
            if value is not None:
                body["buttons"].append({"type": "button", "sub_type": "url", "index": need.index,
                                        "parameters": [{"type": "text", "text": value}]})
            continue
        if need.needs_param:
            value = need.example or ("SAVE20" if need.type == "copy_code" else "value")
            param = {"type": "coupon_code", "coupon_code": value} if need.type == "copy_code" else {"type": "text", "text": value}
            body["buttons"].append({"type": "button", "sub_type": need.type, "index": need.index, "parameters": [param]})
    for card in needs.cards:
        components: list[dict[str, Any]] = []
        if card.header_format:
            components.append({"type": "header", "parameters": [{"type": card.header_format.lower(), card.header_format.lower(): {"link": f"https://example.com/card{card.index}.jpg"}}]})
        if card.body_params:
            components.append({"type": "body", "parameters": [{"type": "text", "text": f"value_{j + 1}"} for j in range(len(card.body_params))]})
        for need in card.buttons:
            if need.needs_param:
                components.append({"type": "button", "sub_type": need.type, "index": need.index, "parameters": [{"type": "text", "text": "value"}]})
        body["carouselCards"].append({"card_index": card.index, "components": components})
    return body
