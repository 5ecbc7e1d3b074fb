"""The demo project `make run` starts with: sandbox sender, two templates, a live campaign,
an API key and an owner login. Idempotent: a second run reuses what is there."""

from __future__ import annotations

import json
import secrets
import shlex
from pathlib import Path
from typing import Any

from wacast.api_keys import service as api_keys
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns import service as campaigns
from wacast.config import Settings
from wacast.contacts import repository as contacts
from wacast.db.engine import Database
from wacast.kit.errors import NotFound
from wacast.projects import service as projects
from wacast.templates import service as templates
from wacast.users import service as users

DEMO_PROJECT = "demo"
DEMO_CAMPAIGN = "order_update"
DEMO_EMAIL = "owner@demo.wacast.local"
TEMPLATES_FILE = Path(__file__).with_name("templates.json")


def credentials_file(settings: Settings) -> Path:
    path = settings.sqlite_path
    return (path.parent if path else Path("data")) / "demo-credentials.json"


async def seed_demo(db: Database, settings: Settings) -> dict[str, Any]:
    creds_path = credentials_file(settings)
    saved = json.loads(creds_path.read_text()) if creds_path.exists() else {}
    async with db.transaction() as session:
        try:
            project = await projects.get_by_name(session, DEMO_PROJECT)
        except NotFound:
            project = await projects.create(session, DEMO_PROJECT, default_country="IN", sender_number="+15550100001")
        for definition in json.loads(TEMPLATES_FILE.read_text()):
            await templates.add_from_definition(session, project, definition)
        await contacts.create_tags(session, project.id, ["customer", "lead", "vip"])
        await contacts.create_attributes(session, project.id, ["city", "plan"])
        for name, template in ((DEMO_CAMPAIGN, "order_update"), ("festive_offer", "festive_offer")):
            if await campaigns_repo.get_by_name(session, project.id, name) is None:
                await campaigns.create(session, project.id, name, template, live=True)
        # The key is stored hashed; keep the plain demo key in the data folder so every
        # `make run` can print it again. Create a new one if it was revoked or lost.
        api_key = saved.get("api_key")
        if not (api_key and await api_keys.authenticate(session, api_key)):
            _, api_key = await api_keys.create_key(session, project.id, "full", "demo key (make run)")
        password = saved.get("password") or secrets.token_urlsafe(9)
        await users.create_or_update(session, project.id, DEMO_EMAIL, password, "owner", "Demo owner")
    creds_path.parent.mkdir(parents=True, exist_ok=True)
    creds_path.write_text(json.dumps({"api_key": api_key, "password": password}))
    creds_path.chmod(0o600)
    base = f"http://{settings.host}:{settings.port}"
    body = {
        "apiKey": api_key,
        "campaignName": DEMO_CAMPAIGN,
        "destination": "+917428526285",
        "userName": "Asha Verma",
        "templateParams": ["$FirstName", "ORD-1042"],
        "source": "website",
        "tags": ["customer"],
        "attributes": {"city": "Pune"},
        "paramsFallbackValue": {"FirstName": "there"},
    }
    curl = (
        f"curl -s -X POST {base}/campaign/t1/api/v2 -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )
    # The message's status, by the submitted_message_id the first curl answers with.
    follow_curl = f"curl -s -H {shlex.quote('Authorization: Bearer ' + api_key)} {base}/api/v1/messages/<submitted_message_id>"
    return {"project": DEMO_PROJECT, "campaign": DEMO_CAMPAIGN, "api_key": api_key, "email": DEMO_EMAIL, "password": password,
            "curl": curl, "follow_curl": follow_curl}
