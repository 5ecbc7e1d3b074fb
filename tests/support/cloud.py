"""A Cloud API project wired to the fake Meta: templates live on the fake, reach wacast by a
real sync (several pages), and campaigns go live on them (nothing mocked)."""

from __future__ import annotations

import copy
from typing import Any

from wacast.api_keys import service as api_keys
from wacast.campaigns import service as campaigns
from wacast.config import Settings
from wacast.db.engine import Database
from wacast.projects import service as projects
from wacast.templates.sync import sync_project
from tests.support.factories import NAMED_TEMPLATE, TEMPLATES, Setup
from tests.support.fake_meta import FakeMeta

MARKETING = ("carousel", "image_header")


def publish_templates(fake: FakeMeta) -> None:
    """The factories' templates (every component kind), approved on the fake Meta."""
    if any(t["name"] == "order_update" for t in fake.templates):
        return
    for name, components in TEMPLATES.items():
        fake.add_template(name, copy.deepcopy(components), category="MARKETING" if name in MARKETING else "UTILITY",
                          quality_score={"score": "GREEN", "date": 1750000000})
    fake.add_template(NAMED_TEMPLATE["name"], copy.deepcopy(NAMED_TEMPLATE["components"]), parameter_format="NAMED")


async def make_cloud_project(db: Database, settings: Settings, fake: FakeMeta, name: str = "acme", *,
                             phone_number_id: str = "1098765", messages_per_second: int = 80,
                             campaigns_for: tuple[str, ...] | None = None, **options: Any) -> Setup:
    publish_templates(fake)
    async with db.transaction() as session:
        project = await projects.create(session, name, default_country="IN", waba_id=fake.waba_id, phone_number_id=phone_number_id,
                                        access_token=fake.token, messages_per_second=messages_per_second, **options)
        await sync_project(session, project, settings)
        _, plain = await api_keys.create_key(session, project.id, "full", "test")
        for template in campaigns_for if campaigns_for is not None else [t["name"] for t in fake.templates if t["status"] == "APPROVED"]:
            await campaigns.create(session, project.id, template, template, live=True)
        return Setup(project.id, project.name, plain)
