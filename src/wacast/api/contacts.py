"""REST API: /api/v1/contacts, /api/v1/tags, /api/v1/attributes (full-scope keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import (
    NoBody,
    allow_fields,
    answer,
    body_object,
    doc,
    page,
    parse_bool,
)
from wacast.contacts import consent, privacy, service
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit import text
from wacast.kit.errors import WacastError

router = APIRouter(prefix="/api/v1")

# The key is checked first, then the body read, then the session opened: a write transaction
# is never held while a client is still sending its body.
Full = Annotated[ApiIdentity, Depends(require_full)]
JsonObject = Annotated[dict[str, Any], Depends(body_object)]

# The fields each body may have: any other is refused (422 naming it), never ignored.
CONTACT_FIELDS = ("phone", "name", "source", "attributes", "tags", "opted_in", "blocked", "marketing_consent")
CONTACT_CHANGES = ("name", "attributes", "opted_in", "blocked", "marketing_consent")
CONSENT_FIELDS = ("granted", "source", "evidence", "at")
CONSENT_SETTINGS_FIELDS = consent.SETTINGS_FIELDS
TAGS_FIELDS = ("tags",)
NAME_FIELDS = ("name",)

CONTACT = {
    "id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11", "phone": "+917428526285", "name": "Asha Verma", "source": "website",
    "opted_in": True, "blocked": False, "attributes": {"city": "Pune"}, "tags": ["customer", "vip"],
    "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:05:00Z",
}
TAG = {"id": "5d1e8c8e-2b8a-4d7c-8f55-1d2a9b3c4e5f", "name": "vip", "contacts": 42, "created_at": "2026-11-01T09:00:00Z"}
ATTRIBUTE = {"id": "9c7e0d3a-1f2b-4c5d-8e9f-0a1b2c3d4e5f", "name": "city", "contacts": 120, "created_at": "2026-11-01T09:00:00Z"}


def _attribute_filters(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise WacastError("attribute filters are name:value (e.g. attribute=city:Pune)", "VALIDATION_ERROR", {"field": "attribute"}, status_code=422)
        out[text.check("attribute", name, max_len=service.MAX_LABEL)] = text.check("attribute", value, max_len=service.MAX_ATTRIBUTE_VALUE)
    return out


# --- contacts ------------------------------------------------------------------------------


@router.get("/contacts", tags=["Contacts"], summary="List contacts (filters, search, cursor pages)",
            **doc({"data": [CONTACT], "next_cursor": "MjAyNi0xMS0yN1QxMDowMDowMCswMDowMHwwYjhm..."}, 403, 422))
async def list_contacts(
    identity: Full,
    session: ReadSession,
    tag: str | None = Query(None, description="only contacts with this tag"),
    source: str | None = Query(None, description="only contacts with this source"),
    attribute: list[str] = Query([], description="name:value, repeatable (AND)"),
    opted_in: str | None = Query(None, description="true or false"),
    blocked: str | None = Query(None, description="true or false"),
    search: str | None = Query(None, description="part of the phone number or of the name"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(50, description="1 to 200"),
) -> Any:
    for label, value in (("tag", tag), ("source", source), ("search", search)):
        if value is not None:
            text.check(label, value, max_len=service.MAX_ATTRIBUTE_VALUE)
    flt = service.ContactFilter(
        tag=tag, source=source, attributes=_attribute_filters(attribute), opted_in=parse_bool(opted_in, "opted_in"),
        blocked=parse_bool(blocked, "blocked"), search=search,
    )
    return page(await service.list_contacts(session, identity.project_id, flt, cursor=cursor, limit=limit))


@router.get("/contacts/{contact}", tags=["Contacts"], summary="A contact by id or by phone number",
            **doc(CONTACT, 403, 404))
async def get_contact(contact: str, identity: Full, session: ReadSession) -> Any:
    return answer(await service.get(session, identity.project_id, contact))


@router.post("/contacts", status_code=201, tags=["Contacts"], summary="Create a contact",
             **doc(CONTACT, 400, 403, 409, 422, status=201, request_example={
                 "phone": "+917428526285", "name": "Asha Verma", "source": "website", "attributes": {"city": "Pune"}, "tags": ["vip"],
             }, fields=CONTACT_FIELDS))
async def create_contact(identity: Full, data: JsonObject, session: WriteSession) -> Any:
    allow_fields(data, CONTACT_FIELDS)
    if data.get("tags") is not None and not isinstance(data["tags"], list):
        raise WacastError("tags must be a list of tag names", "VALIDATION_ERROR", {"field": "tags"}, status_code=422)
    for flag in ("opted_in", "blocked"):
        if flag in data and not isinstance(data[flag], bool):
            raise WacastError(f"{flag} must be true or false", "VALIDATION_ERROR", {"field": flag}, status_code=422)
    out = await service.create(
        session, identity.project_id, data.get("phone"), name=data.get("name"), source=data.get("source"),
        attributes=data.get("attributes"), tags=data.get("tags"), opted_in=data.get("opted_in", True), blocked=data.get("blocked", False),
        marketing_consent=data.get("marketing_consent"),
    )
    return answer(out, 201)


@router.patch("/contacts/{contact}", tags=["Contacts"], summary="Change name, attributes (merged; null removes), opted_in, blocked",
              **doc(CONTACT, 400, 403, 404, 422, request_example={"name": "Asha V.", "attributes": {"city": "Mumbai"}, "opted_in": False}, fields=CONTACT_CHANGES))
async def update_contact(contact: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    allow_fields(data, CONTACT_CHANGES)
    out = await service.update_contact(session, identity.project_id, contact, **data)
    return answer(out)


@router.delete("/contacts/{contact}", status_code=204, response_class=Response, tags=["Contacts"],
               summary="Delete a contact (with its message history)", **doc(None, 403, 404, status=204, write=True))
async def delete_contact(contact: str, identity: Full, _: NoBody, session: WriteSession) -> Response:
    await service.delete_contact(session, identity.project_id, contact)
    return Response(status_code=204)


# --- marketing consent, export and erasure (docs/consent.md) ---------------------------------


CONSENT_ENTRY = {"granted": True, "method": "rest", "source": "checkout form", "evidence": "ticked 'send me offers' on order 1042",
                 "given_at": "2026-11-27T09:58:00Z", "recorded_at": "2026-11-27T10:00:00Z"}


@router.get("/contacts/{contact}/consent", tags=["Contacts"], summary="A contact's marketing consent and its history (evidence)",
            **doc({"marketing_consent": True, "consent_at": "2026-11-27T09:58:00Z", "history": [CONSENT_ENTRY]}, 403, 404))
async def get_consent(contact: str, identity: Full, session: ReadSession) -> Any:
    found = await service.get(session, identity.project_id, contact)
    history = await consent.history(session, identity.project_id, found.id)
    return answer({"marketing_consent": found.marketing_consent, "consent_at": found.consent_at, "history": history})


@router.post("/contacts/{contact}/consent", tags=["Contacts"], summary="Record a grant or withdrawal of marketing consent, with its evidence",
             **doc(CONTACT, 400, 403, 404, 422, request_example={"granted": True, "source": "checkout form",
                                                                 "evidence": "ticked 'send me offers' on order 1042", "at": "2026-11-27T09:58:00Z"},
                   fields=CONSENT_FIELDS))
async def post_consent(contact: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    allow_fields(data, CONSENT_FIELDS)
    return answer(await consent.set_consent(session, identity.project_id, contact, data, method="rest"))


@router.get("/contacts/{contact}/export", tags=["Contacts"], summary="Everything wacast holds about a contact (JSON)",
            **doc({"exported_at": "2026-11-27T10:00:00Z", "contact": CONTACT, "consent_history": [CONSENT_ENTRY], "messages": [],
                   "replies": [], "reactions": [], "media": [], "links": [], "clicks": [], "conversions": [], "webhooks": []}, 403, 404))
async def export_contact(contact: str, identity: Full, session: ReadSession) -> Any:
    return answer(await privacy.export_person(session, identity.project_id, contact))


@router.post("/contacts/{contact}/erase", tags=["Contacts"],
             summary="Erase a contact's personal data everywhere; its messages stay as anonymous counts",
             **doc({"id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11", "erased_at": "2026-11-27T10:00:00Z", "messages_kept": 3}, 403, 404, write=True))
async def erase_contact(contact: str, identity: Full, _: NoBody, session: WriteSession) -> Any:
    return answer(await privacy.erase_person(session, identity.project_id, contact))


@router.get("/consent-settings", tags=["Contacts"], summary="Whether MARKETING sends need consent, and the double opt-in payloads",
            **doc({"require_marketing_consent": True, "consent_payloads": ["YES_OFFERS"]}, 403))
async def get_consent_settings(identity: Full, session: ReadSession) -> Any:
    return answer(await consent.get_settings(session, identity.project_id))


@router.put("/consent-settings", tags=["Contacts"], summary="Set require_marketing_consent and/or consent_payloads (fields given are changed)",
            **doc({"require_marketing_consent": True, "consent_payloads": ["YES_OFFERS"]}, 400, 403, 422,
                  request_example={"require_marketing_consent": True, "consent_payloads": ["YES_OFFERS"]}, fields=CONSENT_SETTINGS_FIELDS))
async def put_consent_settings(identity: Full, data: JsonObject, session: WriteSession) -> Any:
    allow_fields(data, CONSENT_SETTINGS_FIELDS)
    return answer(await consent.update_settings(session, identity.project_id, data))


def _tag_names(data: dict[str, Any]) -> list[str]:
    allow_fields(data, TAGS_FIELDS)
    tags = data.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise WacastError("tags must be a non-empty list of tag names", "VALIDATION_ERROR", {"field": "tags"}, status_code=422)
    return tags


@router.post("/contacts/{contact}/tags", tags=["Contacts"], summary="Add tags to a contact",
             **doc(CONTACT, 400, 403, 404, 422, request_example={"tags": ["vip"]}, fields=TAGS_FIELDS))
async def add_tags(contact: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    names = _tag_names(data)
    out = await service.add_tags(session, identity.project_id, contact, names)
    return answer(out)


@router.delete("/contacts/{contact}/tags/{tag}", tags=["Contacts"], summary="Remove a tag from a contact",
               **doc(CONTACT, 400, 403, 404, write=True))
async def remove_tag(contact: str, tag: str, identity: Full, _: NoBody, session: WriteSession) -> Any:
    out = await service.remove_tags(session, identity.project_id, contact, [tag])
    return answer(out)


@router.post("/contacts/{contact}/tags/remove", tags=["Contacts"], summary="Remove several tags from a contact",
             **doc(CONTACT, 400, 403, 404, 422, request_example={"tags": ["vip", "customer"]}, fields=TAGS_FIELDS))
async def remove_tags(contact: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    names = _tag_names(data)
    out = await service.remove_tags(session, identity.project_id, contact, names)
    return answer(out)


# --- tags and attributes -------------------------------------------------------------------


def _name_of(data: dict[str, Any]) -> Any:
    allow_fields(data, NAME_FIELDS)
    return data.get("name")


@router.get("/tags", tags=["Tags"], summary="All tags with their contact counts", **doc({"data": [TAG]}, 403))
async def list_tags(identity: Full, session: ReadSession) -> Any:
    return answer({"data": await service.list_tags(session, identity.project_id)})


@router.get("/tags/{tag}", tags=["Tags"], summary="A tag by id or name", **doc(TAG, 403, 404))
async def get_tag(tag: str, identity: Full, session: ReadSession) -> Any:
    return answer(await service.get_tag(session, identity.project_id, tag))


@router.post("/tags", status_code=201, tags=["Tags"], summary="Create a tag",
             **doc(TAG, 400, 403, 409, 422, status=201, request_example={"name": "vip"}, fields=NAME_FIELDS))
async def create_tag(identity: Full, data: JsonObject, session: WriteSession) -> Any:
    name = _name_of(data)
    out = await service.create_tag(session, identity.project_id, name)
    return answer(out, 201)


@router.patch("/tags/{tag}", tags=["Tags"], summary="Rename a tag", **doc(TAG, 400, 403, 404, 409, 422, request_example={"name": "gold"}, fields=NAME_FIELDS))
async def rename_tag(tag: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    name = _name_of(data)
    out = await service.rename_tag(session, identity.project_id, tag, name)
    return answer(out)


@router.delete("/tags/{tag}", status_code=204, response_class=Response, tags=["Tags"], summary="Delete a tag (contacts lose it)",
               **doc(None, 403, 404, status=204, write=True))
async def delete_tag(tag: str, identity: Full, _: NoBody, session: WriteSession) -> Response:
    await service.delete_tag(session, identity.project_id, tag)
    return Response(status_code=204)


@router.get("/attributes", tags=["Attributes"], summary="All contact attributes with how many contacts have a value",
            **doc({"data": [ATTRIBUTE]}, 403))
async def list_attributes(identity: Full, session: ReadSession) -> Any:
    return answer({"data": await service.list_attributes(session, identity.project_id)})


@router.get("/attributes/{attribute}", tags=["Attributes"], summary="An attribute by id or name", **doc(ATTRIBUTE, 403, 404))
async def get_attribute(attribute: str, identity: Full, session: ReadSession) -> Any:
    return answer(await service.get_attribute(session, identity.project_id, attribute))


@router.post("/attributes", status_code=201, tags=["Attributes"], summary="Create a contact attribute",
             **doc(ATTRIBUTE, 400, 403, 409, 422, status=201, request_example={"name": "city"}, fields=NAME_FIELDS))
async def create_attribute(identity: Full, data: JsonObject, session: WriteSession) -> Any:
    name = _name_of(data)
    out = await service.create_attribute(session, identity.project_id, name)
    return answer(out, 201)


@router.patch("/attributes/{attribute}", tags=["Attributes"], summary="Rename an attribute (contacts' values move with it)",
              **doc(ATTRIBUTE, 400, 403, 404, 409, 422, request_example={"name": "town"}, fields=NAME_FIELDS))
async def rename_attribute(attribute: str, identity: Full, data: JsonObject, session: WriteSession) -> Any:
    name = _name_of(data)
    out = await service.rename_attribute(session, identity.project_id, attribute, name)
    return answer(out)


@router.delete("/attributes/{attribute}", status_code=204, response_class=Response, tags=["Attributes"],
               summary="Delete an attribute and every contact's value of it", **doc(None, 403, 404, status=204, write=True))
async def delete_attribute(attribute: str, identity: Full, _: NoBody, session: WriteSession) -> Response:
    await service.delete_attribute(session, identity.project_id, attribute)
    return Response(status_code=204)
