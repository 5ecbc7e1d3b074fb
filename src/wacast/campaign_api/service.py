"""Accepting one campaign API request: validate everything, then one transaction, then 200.

Every check that can fail runs before the write, so a rejection writes nothing. Checks that
depend on the contact ($Name parameters, opt-out) run again inside the transaction on the
locked row, so a concurrent change cannot slip through.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaign_api.media import MediaChecker
from wacast.campaign_api.request import CampaignRequest, Media, parse
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns.repository import CampaignSnapshot
from wacast.contacts import repository as contacts_repo
from wacast.db.engine import Database
from wacast.kit import phone as phones
from wacast.kit.cache import TTLCache
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.messages import repository as messages_repo
from wacast.templates.params import BODY_PARAM_MAX, HEADER_PARAM_MAX, ButtonNeed, TemplateNeeds

VARIABLE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
# Meta refuses parameter text with newlines or tabs, or more than 4 spaces in a row (132018).
BAD_PARAM_TEXT = re.compile(r"[\n\t\r]| {5,}")
ACCEPTING_TEMPLATE_STATUSES = {"APPROVED", "PAUSED", "DISABLED", "FLAGGED", "IN_APPEAL", "REINSTATED", "UNPAUSED"}

_campaign_cache: TTLCache[CampaignSnapshot | None] = TTLCache(ttl=2)
# project id -> the names of its defined contact attributes.
_attribute_cache: TTLCache[set[str]] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    from wacast.campaign_api import group_commit

    _campaign_cache.ttl = ttl
    _campaign_cache.clear()
    _attribute_cache.ttl = ttl
    _attribute_cache.clear()
    group_commit.configure_cache(ttl)


def invalidate_campaigns() -> None:
    _campaign_cache.clear()


@dataclass
class Accepted:
    message_id: uuid.UUID
    ignored: dict[str, list[str]] = field(default_factory=dict)


async def load_campaign(session: AsyncSession, project_id: uuid.UUID, name: str) -> CampaignSnapshot:
    key = (project_id, name)
    snapshot = _campaign_cache.get(key)
    if snapshot is None:
        snapshot = await campaigns_repo.snapshot_by_name(session, project_id, name)
        _campaign_cache.put(key, snapshot)
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
    if snapshot.template_status not in ACCEPTING_TEMPLATE_STATUSES:
        raise WacastError(
            f"Template {snapshot.template_name} is not approved (status {snapshot.template_status})",
            "TEMPLATE_NOT_APPROVED",
            {"template": snapshot.template_name, "status": snapshot.template_status},
        )


# --- parameters -------------------------------------------------------------------------


def resolve_value(raw: str, index: int, contact_name: str, attributes: dict[str, str], fallback: dict[str, str]) -> str:
    """`$Name` comes from the contact's attributes, then its name, then paramsFallbackValue."""
    match = VARIABLE_RE.match(raw.strip())
    if not match:
        return raw
    name = match.group(1)
    lowered = {k.lower(): v for k, v in attributes.items()}
    value = attributes.get(name) or lowered.get(name.lower())
    if not value and name.lower() in ("name", "username"):
        value = contact_name
    if not value and name.lower() == "firstname":
        value = contact_name.split()[0] if contact_name.strip() else ""
    if not value:
        value = fallback.get(name) or {k.lower(): v for k, v in fallback.items()}.get(name.lower())
    if not value:
        raise WacastError(
            f"Template param ${name} has no value for this contact and no paramsFallbackValue",
            "PARAM_UNRESOLVED",
            {"index": index, "param": f"${name}"},
        )
    return value


def check_param_text(value: str, where: str, max_len: int) -> None:
    if not value.strip():
        raise WacastError(f"{where} is empty", "PARAM_EMPTY", {"field": where})
    if len(value) > max_len:
        raise WacastError(
            f"{where} is too long ({len(value)} characters, at most {max_len})",
            "PARAM_TOO_LONG",
            {"field": where, "max_length": max_len},
        )
    if BAD_PARAM_TEXT.search(value):
        raise WacastError(
            f"{where} cannot have new-line or tab characters or more than 4 consecutive spaces",
            "PARAM_INVALID_TEXT",
            {"field": where},
        )


def text_parameter(value: str, name: str, named: bool) -> dict[str, str]:
    param = {"type": "text", "text": value}
    if named:
        param["parameter_name"] = name
    return param


def _button_index(button: dict) -> int | None:
    index = button.get("index")
    if isinstance(index, bool):
        return None
    if isinstance(index, int):
        return index
    if isinstance(index, str) and index.strip().isdigit():
        return int(index.strip())
    return None


def _button_value(button: dict, kind: str) -> str | None:
    for param in button.get("parameters") or []:
        if not isinstance(param, dict):
            continue
        if kind == "copy_code":
            value = param.get("coupon_code", param.get("text"))
        elif kind == "quick_reply":
            value = param.get("payload", param.get("text"))
        else:
            value = param.get("text")
        if isinstance(value, str) and value.strip():
            return value
    return None


def build_buttons(needs: tuple[ButtonNeed, ...], given: list[dict], where: str = "buttons") -> list[dict]:
    by_index: dict[int, dict] = {}
    for i, button in enumerate(given):
        index = _button_index(button)
        if index is None:
            raise WacastError(f"{where}[{i}].index must be a button position (0-9)", "FIELD_INVALID", {"field": f"{where}[{i}].index"})
        by_index[index] = button
    components = []
    for need in needs:
        button = by_index.get(need.index)
        value = _button_value(button, need.type) if button else None
        if need.needs_param and value is None:
            raise WacastError(
                f"Button at index {need.index} of type {need.type.capitalize()} requires a parameter",
                "BUTTON_PARAM_MISSING",
                {"index": need.index, "type": need.type},
            )
        if value is None:
            continue
        if need.type == "url":
            check_param_text(value, f"{where}[{need.index}] parameter", 2000)
            param = {"type": "text", "text": value}
        elif need.type == "copy_code":
            check_param_text(value, f"{where}[{need.index}] coupon code", 20)
            param = {"type": "coupon_code", "coupon_code": value}
        elif need.type == "quick_reply":
            check_param_text(value, f"{where}[{need.index}] payload", 256)
            param = {"type": "payload", "payload": value}
        else:
            continue
        components.append({"type": "button", "sub_type": need.type, "index": str(need.index), "parameters": [param]})
    return components


def media_parameter(kind: str, media: Media) -> dict[str, Any]:
    kind_key = "video" if kind == "GIF" else kind.lower()
    obj: dict[str, Any] = {"link": media.url}
    if kind == "DOCUMENT":
        obj["filename"] = media.filename or (media.url.rsplit("/", 1)[-1].split("?")[0] or "document.pdf")
    return {"type": kind_key, kind_key: obj}


def build_components(
    needs: TemplateNeeds, request: CampaignRequest, contact_name: str, attributes: dict[str, str]
) -> list[dict[str, Any]]:
    """Meta's send components for this request. Raises the first rejection."""
    expected = len(needs.text_params)
    given = len(request.template_params)
    if given != expected:
        raise WacastError(
            "Template params does not match the campaign",
            "TEMPLATE_PARAMS_MISMATCH",
            {"expected": expected, "given": given},
        )
    values = [
        resolve_value(raw, i, contact_name, attributes, request.params_fallback)
        for i, raw in enumerate(request.template_params)
    ]
    components: list[dict[str, Any]] = []
    header_values = values[: len(needs.header_params)]
    body_values = values[len(needs.header_params) :]
    if needs.header_format == "TEXT" and needs.header_params:
        check_param_text(header_values[0], "templateParams[0] (header)", HEADER_PARAM_MAX)
        components.append(
            {"type": "header", "parameters": [text_parameter(header_values[0], needs.header_params[0], needs.named)]}
        )
    elif needs.needs_media:
        if request.media is None or not request.media.url:
            raise WacastError("Media URL Missing", "MEDIA_URL_MISSING", {"header": needs.header_format})
        components.append({"type": "header", "parameters": [media_parameter(needs.header_format, request.media)]})
    elif needs.needs_location:
        if request.location is None:
            raise WacastError("Location Missing", "LOCATION_MISSING", {"header": "LOCATION"})
        components.append({"type": "header", "parameters": [{"type": "location", "location": request.location.meta()}]})
    if needs.body_params:
        offset = len(needs.header_params)
        for i, value in enumerate(body_values):
            check_param_text(value, f"templateParams[{offset + i}]", BODY_PARAM_MAX)
        components.append(
            {
                "type": "body",
                "parameters": [text_parameter(v, n, needs.named) for v, n in zip(body_values, needs.body_params, strict=True)],
            }
        )
    components.extend(build_buttons(needs.buttons, request.buttons))
    if needs.cards:
        components.append(build_carousel(needs, request))
    return components


def _card_components(card: dict, i: int) -> tuple[list[dict], list[dict], list[str]]:
    headers, buttons, body = [], [], []
    for component in card.get("components") or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).lower()
        if kind == "header":
            headers.append(component)
        elif kind == "button":
            buttons.append(component)
        elif kind == "body":
            for param in component.get("parameters") or []:
                if isinstance(param, dict) and isinstance(param.get("text"), str):
                    body.append(param["text"])
    # A simpler shape is accepted too: {"media": {"url"}, "templateParams": [...], "buttons": [...]}.
    if isinstance(card.get("templateParams"), list):
        body.extend(str(v) for v in card["templateParams"])
    if isinstance(card.get("buttons"), list):
        buttons.extend(b for b in card["buttons"] if isinstance(b, dict))
    return headers, buttons, body


def _card_media_url(headers: list[dict], card: dict) -> str | None:
    if isinstance(card.get("media"), dict) and isinstance(card["media"].get("url"), str):
        return card["media"]["url"] or None
    for header in headers:
        for param in header.get("parameters") or []:
            if not isinstance(param, dict):
                continue
            kind = str(param.get("type", "")).lower()
            obj = param.get(kind)
            if isinstance(obj, dict) and isinstance(obj.get("link"), str):
                return obj["link"] or None
    return None


def build_carousel(needs: TemplateNeeds, request: CampaignRequest) -> dict[str, Any]:
    cards = request.carousel_cards
    if len(cards) != len(needs.cards):
        raise WacastError(
            "Carousel cards do not match the campaign",
            "CAROUSEL_CARDS_MISMATCH",
            {"expected": len(needs.cards), "given": len(cards)},
        )
    out = []
    for i, (card_need, card) in enumerate(zip(needs.cards, cards, strict=True)):
        headers, buttons, body = _card_components(card, i)
        components: list[dict[str, Any]] = []
        if card_need.header_format:
            url = _card_media_url(headers, card)
            if not url:
                raise WacastError("Media URL Missing", "MEDIA_URL_MISSING", {"card_index": i})
            components.append(
                {"type": "header", "parameters": [media_parameter(card_need.header_format, Media(url=url))]}
            )
        if len(body) != len(card_need.body_params):
            raise WacastError(
                "Template params does not match the campaign",
                "TEMPLATE_PARAMS_MISMATCH",
                {"card_index": i, "expected": len(card_need.body_params), "given": len(body)},
            )
        if body:
            for j, value in enumerate(body):
                check_param_text(value, f"carouselCards[{i}] body param {j}", BODY_PARAM_MAX)
            components.append(
                {"type": "body", "parameters": [text_parameter(v, n, needs.named) for v, n in zip(body, card_need.body_params, strict=True)]}
            )
        components.extend(build_buttons(card_need.buttons, buttons, where=f"carouselCards[{i}].buttons"))
        out.append({"card_index": i, "components": components})
    return {"type": "carousel", "cards": out}


def media_to_check(needs: TemplateNeeds, components: list[dict]) -> list[tuple[str, str, str]]:
    """(url, header format, field) for every media link in the built components."""
    checks = []
    if needs.needs_media:
        param = components[0]["parameters"][0]
        checks.append((param[param["type"]]["link"], needs.header_format, "media.url"))
    for component in components:
        if component["type"] != "carousel":
            continue
        for card, card_need in zip(component["cards"], needs.cards, strict=True):
            if card_need.header_format:
                param = card["components"][0]["parameters"][0]
                checks.append((param[param["type"]]["link"], card_need.header_format, f"carouselCards[{card['card_index']}].media"))
    return checks


# --- the endpoint's work ----------------------------------------------------------------


class CampaignApiService:
    def __init__(self, db: Database, media: MediaChecker) -> None:
        self.db = db
        self.media = media
        from wacast.campaign_api.group_commit import GroupCommit

        # Accepted requests are written together, one transaction per batch (group_commit.py).
        self.group = GroupCommit(self)

    async def authenticate(self, session: AsyncSession, body: Any):  # noqa: ANN201
        from wacast.api_keys import service as api_keys
        from wacast.kit.errors import Unauthorized

        key = body.get("apiKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key or len(key) > 200:
            raise Unauthorized({"reason": "apiKey missing" if not key else "apiKey invalid"})
        identity = await api_keys.authenticate(session, key)
        if identity is None:
            raise Unauthorized({"reason": "unknown or revoked apiKey"})
        from wacast.kit import ratelimit

        ratelimit.check(identity)  # 429 with Retry-After, per key, in memory
        return identity

    async def accept(self, body: Any) -> Accepted:
        async with self.db.sessionmaker() as session:
            identity = await self.authenticate(session, body)
            request = parse(body)
            snapshot = await load_campaign(session, identity.project_id, request.campaign_name)
            check_live(snapshot)
            try:
                destination = phones.normalize(request.destination, snapshot.default_country)
            except phones.InvalidNumber:
                raise WacastError("Invalid Number", "INVALID_NUMBER", {"destination": request.destination}) from None
            # The contact is read ahead only when a `$Variable` parameter needs its attributes;
            # opt-out and every contact-dependent check run again on the locked row at write time.
            existing = None
            if any(VARIABLE_RE.match(raw.strip()) for raw in request.template_params):
                existing = await contacts_repo.find_by_phone(session, identity.project_id, destination)
            await session.rollback()
        self._check_contact(existing)
        defined_attrs, ignored_attrs = await self._defined_attributes(identity.project_id, request.attributes)
        attributes = {**((existing.attributes or {}) if existing else {}), **defined_attrs}
        contact_name = request.user_name or (existing.name if existing else "")
        components = build_components(snapshot.needs, request, contact_name, attributes)
        checks = media_to_check(snapshot.needs, components)
        if checks:
            await asyncio.gather(*(self.media.check(url, kind, where) for url, kind, where in checks))
        return await self._write(identity, snapshot, request, destination, defined_attrs, ignored_attrs)

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
        defined = _attribute_cache.get(project_id)
        if defined is None:
            async with self.db.sessionmaker() as session:
                defined = await contacts_repo.all_attribute_names(session, project_id)
                await session.rollback()
            _attribute_cache.put(project_id, defined)
        return {k: v for k, v in given.items() if k in defined}, [k for k in given if k not in defined]

    async def _write(self, identity, snapshot, request, destination, attributes, ignored_attrs) -> Accepted:  # noqa: ANN001
        accepted = await self.group.submit(identity, snapshot, request, destination, attributes, ignored_attrs)
        await metrics.message_accepted(identity.project_id)
        return accepted

    async def _write_one(self, identity, snapshot, request, destination, attributes, ignored_attrs) -> Accepted:  # noqa: ANN001
        """One request in its own transaction (the group commit's fallback)."""
        now = utcnow()
        message_id = uuid.uuid4()
        async with self.db.transaction() as session:
            contact = await contacts_repo.upsert_for_send(
                session, identity.project_id, destination,
                name=request.user_name, source=request.source, attributes=attributes, now=now,
            )
            self._check_contact(contact)
            if contact.created:  # customer webhooks: contact.created, in this transaction
                from wacast.webhooks import events as hooks

                await hooks.contacts_created(session, identity.project_id, [{
                    "id": contact.id, "phone": destination, "name": contact.name, "source": request.source, "attributes": contact.attributes,
                }], via="campaign_api")
            # Built again on the locked row: attributes may have changed since the first read.
            components = build_components(snapshot.needs, request, contact.name, contact.attributes or {})
            tag_ids = await contacts_repo.tag_ids_by_name(session, identity.project_id, request.tags)
            await contacts_repo.add_tags(session, contact.id, tag_ids.values())
            held = None if snapshot.template_status == "APPROVED" else f"template {snapshot.template_status} by Meta"
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
            from wacast.api_keys import service as api_keys

            await api_keys.touch(session, identity.key_id, now)
        ignored: dict[str, list[str]] = {}
        unknown_tags = [t for t in dict.fromkeys(request.tags) if t not in tag_ids]
        if unknown_tags:
            ignored["tags"] = unknown_tags
        if ignored_attrs:
            ignored["attributes"] = ignored_attrs
        return Accepted(message_id, ignored)

    async def campaign_details(self, body: Any) -> dict[str, Any]:
        async with self.db.sessionmaker() as session:
            identity = await self.authenticate(session, body)
            name = body.get("campaignName")
            if not isinstance(name, str) or not name:
                raise WacastError("campaignName is required", "FIELD_REQUIRED", {"field": "campaignName"})
            snapshot = await load_campaign(session, identity.project_id, name)
            await session.rollback()
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
