"""Set-up through wacast's own services (nothing mocked): projects, keys, templates, campaigns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from wacast.api_keys import service as api_keys
from wacast.campaigns import service as campaigns
from wacast.contacts import repository as contacts
from wacast.db.engine import Database
from wacast.projects import service as projects
from wacast.templates import service as templates

BODY_2 = {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}

TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "order_update": [BODY_2],
    "no_params": [{"type": "BODY", "text": "Thanks for signing up!"}],
    "text_header": [{"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"}, BODY_2],
    "image_header": [{"type": "HEADER", "format": "IMAGE"}, BODY_2],
    "video_header": [{"type": "HEADER", "format": "VIDEO"}, {"type": "BODY", "text": "Watch this, {{1}}."}],
    "document_header": [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Your invoice {{1}} is attached."}],
    "location_header": [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Visit us, {{1}}!"}],
    "url_button": [
        BODY_2,
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://shop.example.com/track/{{1}}"}]},
    ],
    "copy_code": [
        {"type": "BODY", "text": "Use code below, {{1}}."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}, {"type": "COPY_CODE", "example": "SAVE20"}]},
    ],
    "carousel": [
        {"type": "BODY", "text": "Picked for you, {{1}}"},
        {"type": "CAROUSEL", "cards": [
            {"components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Card one {{1}}"},
                            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Buy", "url": "https://x.example/{{1}}"}]}]},
            {"components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Card two"},
                            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "More"}]}]},
        ]},
    ],
}
NAMED_TEMPLATE = {
    "name": "named_order",
    "parameter_format": "NAMED",
    "components": [{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} shipped."}],
}


@dataclass
class Setup:
    project_id: uuid.UUID
    project_name: str
    api_key: str


async def make_project(db: Database, name: str = "acme", *, country: str = "IN", **options: Any) -> Setup:
    async with db.transaction() as session:
        project = await projects.create(session, name, default_country=country, **options)
        _, plain = await api_keys.create_key(session, project.id, "full", "test")
        for template_name, components in TEMPLATES.items():
            category = "MARKETING" if template_name in ("carousel", "image_header") else "UTILITY"
            await templates.add_from_definition(
                session, project, {"name": template_name, "language": "en", "category": category, "components": components}
            )
            await campaigns.create(session, project.id, template_name, template_name, live=True)
        await templates.add_from_definition(session, project, {**NAMED_TEMPLATE, "language": "en", "category": "UTILITY"})
        await campaigns.create(session, project.id, "named_order", "named_order", live=True)
        await contacts.create_tags(session, project.id, ["customer", "vip"])
        await contacts.create_attributes(session, project.id, ["city", "plan", "order_id"])
        return Setup(project.id, project.name, plain)


def body(setup: Setup, campaign: str = "order_update", **fields: Any) -> dict[str, Any]:
    data = {
        "apiKey": setup.api_key,
        "campaignName": campaign,
        "destination": "+917428526285",
        "userName": "Asha Verma",
        "templateParams": ["Asha", "ORD-1"],
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not ...}


async def table_counts(db: Database) -> dict[str, int]:
    """Row counts of every table a send could write to (to prove a rejection wrote nothing)."""
    from sqlalchemy import func, select

    from wacast.models.contacts import Contact, ContactTag
    from wacast.models.messages import Message, MessageEvent

    counts = {}
    async with db.sessionmaker() as session:
        for model in (Contact, ContactTag, Message, MessageEvent):
            counts[model.__tablename__] = (await session.execute(select(func.count()).select_from(model))).scalar_one()
    return counts
