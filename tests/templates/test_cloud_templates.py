"""Templates and Meta: sync through every page of cursors, create and submit (POST), the
message_template_status_update webhook, and the rule that a campaign goes live only on an
APPROVED template. Through the CLI too. The periodic sync: tests/templates/test_template_sync.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from wacast.campaigns import service as campaigns
from wacast.models.campaigns import CampaignStatus
from wacast.kit.errors import WacastError
from wacast.projects import service as projects
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates.sync import create_template, sync_project
from wacast.whatsapp.inbound import InboundEvents
from tests.support.cloud import make_cloud_project
from tests.support.factories import TEMPLATES

WACAST = [sys.executable, "-m", "wacast.cli"]
NEW_TEMPLATE = {"name": "spring_sale", "language": "en_US", "category": "MARKETING", "parameter_format": "NAMED",
                "components": [{"type": "HEADER", "format": "TEXT", "text": "Spring sale"},
                               {"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off until Sunday.",
                                "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Asha"},
                                                                       {"param_name": "discount", "example": "20%"}]}},
                               {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}]}


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


async def templates_of(db, project_id) -> dict[str, Template]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Template).where(Template.project_id == project_id))).scalars().all()
    return {t.name: t for t in rows}


async def test_sync_walks_every_page_and_keeps_metas_fields(db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    n = len(TEMPLATES) + 1
    # page_size 2: ceil(n / 2) listings, each after the previous page's cursor, none after the last.
    assert len(fake_meta.template_requests) == (n + 1) // 2
    assert "after" not in fake_meta.template_requests[0]
    assert all("after" in r for r in fake_meta.template_requests[1:])
    assert "message_send_ttl_seconds" in fake_meta.template_requests[0]["fields"]
    stored = await templates_of(db, setup.project_id)
    assert set(stored) == set(TEMPLATES) | {"named_order"}
    carousel = stored["carousel"]
    assert (carousel.language, carousel.category, carousel.status, carousel.parameter_format, carousel.quality) == (
        "en", "MARKETING", "APPROVED", "POSITIONAL", "GREEN")
    assert carousel.components == TEMPLATES["carousel"]
    assert carousel.meta_id == next(t["id"] for t in fake_meta.templates if t["name"] == "carousel")
    assert stored["named_order"].parameter_format == "NAMED"

    # Meta changes: a new template, a paused one, a quality drop. A sync follows, no duplicates.
    fake_meta.add_template("late_arrival", [{"type": "BODY", "text": "Hello"}], status="PENDING", message_send_ttl_seconds=3600)
    fake_meta.set_status("order_update", "PAUSED")
    next(t for t in fake_meta.templates if t["name"] == "carousel")["quality_score"] = {"score": "RED", "date": 1750000001}
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        result = await sync_project(session, project, settings)
        assert project.templates_synced_at is not None
    assert result["synced"] == n + 1 and result["skipped"] == []
    stored = await templates_of(db, setup.project_id)
    assert len(stored) == n + 1
    assert stored["order_update"].status == "PAUSED" and stored["carousel"].quality == "RED"
    assert (stored["late_arrival"].status, stored["late_arrival"].message_send_ttl_seconds) == ("PENDING", 3600)


async def test_sync_refused_by_meta_is_a_clear_error(db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        project.access_token = "expired-token"
    with pytest.raises(WacastError) as refused:
        async with db.transaction() as session:
            await sync_project(session, await session.get(Project, setup.project_id), settings)
    assert refused.value.code == "META_ERROR" and refused.value.details["code"] == 190
    async with db.transaction() as session:
        sandbox = await projects.create(session, "sandboxed")
    with pytest.raises(WacastError) as no_credentials:
        async with db.transaction() as session:
            await sync_project(session, await session.get(Project, sandbox.id), settings)
    assert no_credentials.value.code == "NO_META_CREDENTIALS"


async def test_create_submits_to_meta_and_waits_for_its_verdict(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        template = await create_template(session, project, NEW_TEMPLATE, settings)
    assert template.status == "PENDING" and template.meta_id
    [posted] = fake_meta.created
    assert posted == {"name": "spring_sale", "language": "en_US", "category": "MARKETING", "parameter_format": "named",
                      "components": NEW_TEMPLATE["components"]}
    # Not approved yet: a campaign on it can be drafted, not set live.
    async with db.transaction() as session:
        await campaigns.create(session, setup.project_id, "spring", "spring_sale")
    with pytest.raises(WacastError) as not_live:
        async with db.transaction() as session:
            await campaigns.set_status(session, setup.project_id, "spring", CampaignStatus.live)
    assert not_live.value.code == "TEMPLATE_NOT_APPROVED" and not_live.value.details == {"template_status": "PENDING"}
    # Submitting the same template again is refused; nothing is POSTed.
    with pytest.raises(WacastError) as again:
        async with db.transaction() as session:
            await create_template(session, await session.get(Project, setup.project_id), NEW_TEMPLATE, settings)
    assert again.value.status_code == 409 and len(fake_meta.created) == 1

    # Meta's verdicts arrive as signed webhooks, routed by WABA id (entry.id).
    processor = InboundEvents(db, settings)
    await fake_meta.post_webhook(fake_meta.template_status_body("spring_sale", "REJECTED", language="en_US", reason="INVALID_FORMAT"), client=client)
    await processor.tick()
    rejected = (await templates_of(db, setup.project_id))["spring_sale"]
    assert (rejected.status, rejected.rejected_reason) == ("REJECTED", "INVALID_FORMAT")
    await fake_meta.post_webhook(fake_meta.template_status_body("spring_sale", "APPROVED", language="en_US"), client=client)
    await fake_meta.post_webhook(fake_meta.template_quality_body("spring_sale", "YELLOW", language="en_US"), client=client)
    await fake_meta.post_webhook(fake_meta.template_status_body("spring_sale", "APPROVED", language="en_US", waba_id="someone-else"), client=client)
    await processor.tick()
    approved = (await templates_of(db, setup.project_id))["spring_sale"]
    assert (approved.status, approved.quality) == ("APPROVED", "YELLOW")
    async with db.transaction() as session:
        live = await campaigns.set_status(session, setup.project_id, "spring", CampaignStatus.live)
    assert live.status == "live"


async def test_sandbox_projects_approve_created_templates_at_once(db, settings, fake_meta):
    async with db.transaction() as session:
        project = await projects.create(session, "sandboxed")
        template = await create_template(session, project, NEW_TEMPLATE, settings)
    assert template.status == "APPROVED" and fake_meta.created == []
    with pytest.raises(WacastError) as invalid:
        async with db.transaction() as session:
            await create_template(session, await session.get(Project, project.id), {**NEW_TEMPLATE, "name": "Bad Name"}, settings)
    assert invalid.value.code == "TEMPLATE_INVALID"


def cli(env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*WACAST, *args], env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_the_operator_commands_meta_needs(db_url, fake_meta, tmp_path: Path):
    """`wacast projects create/update` with Meta credentials, `templates sync`, `templates create`,
    `campaigns live` refused until approved, `campaigns show` with the hold reason, `--clear-halt`."""
    from tests.support.cloud import publish_templates

    publish_templates(fake_meta)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url, WACAST_GRAPH_API_URL=fake_meta.base_url)
    created = json.loads(cli(env, "projects", "create", "shop", "--waba-id", fake_meta.waba_id, "--phone-number-id", "1098765",
                             "--access-token", fake_meta.token, "--messages-per-second", "250", "--json").stdout)
    assert created["provider"] == "cloud" and created["messages_per_second"] == 250
    synced = json.loads(cli(env, "templates", "sync", "--project", "shop", "--json").stdout)
    assert synced["synced"] == len(TEMPLATES) + 1
    file = tmp_path / "spring.json"
    file.write_text(json.dumps(NEW_TEMPLATE))
    submitted = json.loads(cli(env, "templates", "create", "--project", "shop", "--file", str(file), "--json").stdout)
    assert submitted["status"] == "PENDING" and submitted["meta_id"] and fake_meta.created[0]["name"] == "spring_sale"
    cli(env, "campaigns", "create", "--project", "shop", "--name", "spring", "--template", "spring_sale")
    refused = cli(env, "campaigns", "live", "spring", "--project", "shop", ok=False)
    assert refused.returncode == 2 and "not APPROVED" in refused.stderr
    fake_meta.set_status("spring_sale", "APPROVED", language="en_US")
    fake_meta.set_status("order_update", "PAUSED")
    cli(env, "templates", "sync", "--project", "shop")
    assert json.loads(cli(env, "campaigns", "live", "spring", "--project", "shop", "--json").stdout)["status"] == "live"
    cli(env, "campaigns", "create", "--project", "shop", "--name", "orders", "--template", "order_update")
    shown = json.loads(cli(env, "campaigns", "show", "orders", "--project", "shop", "--json").stdout)
    assert shown["hold_reason"] == "template order_update is PAUSED" and shown["template"]["status"] == "PAUSED"
    text = cli(env, "campaigns", "show", "orders", "--project", "shop").stdout
    assert "held:" in text and "PAUSED" in text
    updated = json.loads(cli(env, "projects", "update", "shop", "--opt-out-keywords", "stop, arret", "--opt-out-payloads", "STOP_PROMOS",
                             "--clear-halt", "--json").stdout)
    assert updated["opt_out_keywords"] == ["STOP", "ARRET"] and updated["opt_out_payloads"] == ["STOP_PROMOS"]
    assert updated["halted_reason"] is None
