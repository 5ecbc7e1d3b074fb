"""Templates and Meta: list /{waba-id}/message_templates through every page and store them;
create a template on Meta (POST) and keep it as PENDING until Meta's verdict arrives; delete
it there; edit it there (POST /{template-id}: back to review); and `TemplateSync`, the loop that syncs every Cloud API project periodically.

Each call to Meta is a step of its own (`fetch_templates`, `submit`, `delete_on_meta`), so that
a caller can make it outside its write transaction; `sync_project` and `create_template` chain the
steps in one session for the CLI and the dashboard (so do `edit_template`, `duplicate_template`
and `delete_template`)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.kit.loop import run_loop
from wacast.meta.client import GraphClient, GraphError
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.projects import repository as projects
from wacast.templates import repository, service

log = logging.getLogger("wacast.templates.sync")


def _client(settings: Settings, client: GraphClient | None) -> tuple[GraphClient, bool]:
    if client is not None:
        return client, False
    return GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout), True


def _meta_error(action: str, error: GraphError) -> WacastError:
    return WacastError(f"Meta refused the {action}: ({error.error.code}) {error.error.title}", "META_ERROR", error.error.as_dict(), status_code=502)


def _unreachable(action: str, error: httpx.HTTPError) -> WacastError:
    return WacastError(f"Meta could not be reached for the {action}: {type(error).__name__}", "META_UNREACHABLE", status_code=502)


# --- sync ----------------------------------------------------------------------------------


async def fetch_templates(project: Project, settings: Settings, client: GraphClient | None = None) -> list[dict[str, Any]]:
    """Every template of the project's WhatsApp Business Account, as Meta lists them."""
    if not (project.waba_id and project.access_token):
        raise WacastError(
            f"Project {project.name} has no Meta credentials (--waba-id and --access-token); sandbox templates are added with `wacast templates add`",
            "NO_META_CREDENTIALS",
        )
    client, own = _client(settings, client)
    try:
        return await client.list_templates(project.waba_id, project.access_token)
    except GraphError as error:
        raise _meta_error("template listing", error) from None
    except httpx.HTTPError as error:
        raise _unreachable("template listing", error) from None
    finally:
        if own:
            await client.close()


async def store_templates(session: AsyncSession, project: Project, remote: list[dict[str, Any]]) -> dict[str, Any]:
    """Store Meta's listing; a template wacast cannot read is skipped, with the reason."""
    stored, skipped = [], []
    for data in remote:
        try:
            definition = service.validate_definition(data)
        except WacastError as error:
            skipped.append({"name": data.get("name"), "reason": error.message})
            continue
        template = await service.upsert(session, project, definition, status=definition["status"] or "PENDING")
        stored.append({"name": template.name, "language": template.language, "status": template.status})
    project.templates_synced_at = utcnow()  # `wacast doctor` reports how fresh the templates are
    await session.flush()
    return {"project": project.name, "synced": len(stored), "skipped": skipped, "templates": stored}


async def sync_project(session: AsyncSession, project: Project, settings: Settings, client: GraphClient | None = None) -> dict[str, Any]:
    """`wacast templates sync` and the dashboard's sync: fetch, then store, in the caller's session."""
    return await store_templates(session, project, await fetch_templates(project, settings, client))


# --- create and delete ---------------------------------------------------------------------


def creation_body(definition: dict[str, Any]) -> dict[str, Any]:
    """The body of POST /{waba-id}/message_templates."""
    body: dict[str, Any] = {
        "name": definition["name"],
        "language": definition["language"],
        "category": definition["category"],
        "parameter_format": definition["parameter_format"].lower(),
        "components": definition["components"],
    }
    if definition.get("message_send_ttl_seconds") is not None:
        body["message_send_ttl_seconds"] = definition["message_send_ttl_seconds"]
    return body


async def check_creatable(session: AsyncSession, project: Project, definition: dict[str, Any]) -> None:
    """The template can be submitted: a sandbox project has no template of that name and
    language yet (as Meta answers "Content in this language already exists"); a Cloud API
    project has a WABA, and Meta has no such template yet."""
    if project.provider == "sandbox":
        if await service.find_optional(session, project.id, definition["name"], definition["language"]) is not None:
            raise WacastError(
                f"Template {definition['name']} ({definition['language']}) already exists: edit it, or choose another name",
                "TEMPLATE_EXISTS", {"field": "name"}, status_code=409,
            )
        return
    if not project.waba_id:
        raise WacastError(f"Project {project.name} has no --waba-id: Meta needs it to create templates", "NO_META_CREDENTIALS")
    existing = await service.find_optional(session, project.id, definition["name"], definition["language"])
    if existing is not None and existing.meta_id:
        raise WacastError(
            f"Template {definition['name']} ({definition['language']}) already exists on Meta (status {existing.status})",
            "TEMPLATE_EXISTS", {"status": existing.status}, status_code=409,
        )


async def submit(project: Project, definition: dict[str, Any], settings: Settings, client: GraphClient | None = None) -> str:
    """Submit the template for review (a sandbox project approves it at once); returns the
    status to store. Meta's id and category are written into `definition`."""
    if project.provider == "sandbox":
        return "APPROVED"
    client, own = _client(settings, client)
    try:
        answer = await client.create_template(project.waba_id, project.access_token, creation_body(definition))
    except GraphError as error:
        raise _meta_error("template", error) from None
    except httpx.HTTPError as error:
        raise _unreachable("template creation", error) from None
    finally:
        if own:
            await client.close()
    definition["meta_id"] = str(answer.get("id") or "") or None
    if answer.get("category"):
        definition["category"] = str(answer["category"]).upper()
    return str(answer.get("status") or "PENDING").upper()


async def create_template(
    session: AsyncSession, project: Project, data: Any, settings: Settings, client: GraphClient | None = None
) -> Template:
    """`wacast templates create`: submit a template for review. A Cloud API project POSTs it
    to Meta and stores it PENDING (Meta's verdict comes by the message_template_status_update
    webhook or the next sync); a sandbox project approves it at once once it passes Meta's
    rules (service.validate_submission: a template Meta would refuse is refused here)."""
    definition = service.validate_submission(data, settings.public_url)
    await check_creatable(session, project, definition)
    status = await submit(project, definition, settings, client)
    return await service.upsert(session, project, definition, status=status)


async def delete_on_meta(project: Project, template: Template, settings: Settings, client: GraphClient | None = None) -> None:
    """Delete a Cloud API template at Meta too (one Meta already forgot is fine): this language
    only (Meta's hsm_id with the name)."""
    if not (project.provider == "cloud" and template.meta_id and project.waba_id):
        return
    client, own = _client(settings, client)
    try:
        await client.delete_template(project.waba_id, project.access_token, template.name, template.meta_id)
    except GraphError as error:
        if error.error.http_status != 404:
            raise _meta_error("template deletion", error) from None
    except httpx.HTTPError as error:
        raise _unreachable("template deletion", error) from None
    finally:
        if own:
            await client.close()


async def delete_template(session: AsyncSession, project: Project, template: Template, settings: Settings,
                          client: GraphClient | None = None) -> None:
    """`wacast templates delete` and the dashboard's Delete: refused (409 TEMPLATE_IN_USE,
    naming them) while a campaign or broadcast uses it; deleted at Meta, then here."""
    await service.ensure_unused(session, template)
    await delete_on_meta(project, template, settings, client)
    await service.remove(session, template)


def edit_body(template: Template, definition: dict[str, Any]) -> dict[str, Any]:
    """The body of POST /{template-id}: the components, and the category or time-to-live
    when they change."""
    body: dict[str, Any] = {"components": definition["components"]}
    if definition["category"] != template.category:
        body["category"] = definition["category"]
    ttl = definition.get("message_send_ttl_seconds")
    if ttl is not None and ttl != template.message_send_ttl_seconds:
        body["message_send_ttl_seconds"] = ttl
    return body


async def submit_edit(project: Project, template: Template, definition: dict[str, Any], settings: Settings,
                      client: GraphClient | None = None) -> str:
    """Send the edit to Meta for review; the status to store: PENDING (Meta reviews the edit,
    its verdict comes as for a new template), APPROVED at once in a sandbox project."""
    if project.provider == "sandbox":
        return "APPROVED"
    if not (template.meta_id and project.access_token):
        raise WacastError(
            f"Template {template.name} has no Meta id: sync the templates from Meta first (`wacast templates sync`)",
            "TEMPLATE_NOT_ON_META", status_code=409,
        )
    client, own = _client(settings, client)
    try:
        await client.edit_template(template.meta_id, project.access_token, edit_body(template, definition))
    except GraphError as error:
        raise _meta_error("template edit", error) from None
    except httpx.HTTPError as error:
        raise _unreachable("template edit", error) from None
    finally:
        if own:
            await client.close()
    return "PENDING"


async def edit_template(session: AsyncSession, project: Project, template: Template, data: Any, settings: Settings,
                        client: GraphClient | None = None) -> Template:
    """`wacast templates edit` and the dashboard's Edit: new components (Meta's rules checked
    first), submitted to Meta; an approved template goes back to review (PENDING: its sends
    wait until Meta approves the edit). A sandbox project approves the edit at once."""
    definition = service.prepare_edit(template, data, settings.public_url)
    status = await submit_edit(project, template, definition, settings, client)
    return await service.apply_edit(session, template, definition, status)


async def duplicate_template(session: AsyncSession, project: Project, template: Template, name: str, settings: Settings,
                             language: str | None = None, client: GraphClient | None = None) -> Template:
    """`wacast templates duplicate` and REST: the template under a new name (or language),
    created and submitted like any new template."""
    return await create_template(session, project, service.duplicate_definition(template, name, language), settings, client)


# --- the periodic sync ---------------------------------------------------------------------


class TemplateSync:
    """Every WACAST_TEMPLATE_SYNC_MINUTES (0 turns it off), sync the templates of each Cloud API
    project from Meta, then let the sends held for a template approved again go at once.

    One project per round, stalest first. A project is claimed in the database before Meta is
    asked (its `templates_synced_at` moves to now while still due), so that of several
    processes running this loop one syncs it; a failed sync puts the old time back and is
    retried by this process after min(the interval, 5 minutes). Meta's listing is fetched
    before the write transaction opens: no write lock is held while Meta answers."""

    name = "template sync"
    RETRY_SECONDS = 300.0

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self.attempted: dict[uuid.UUID, float] = {}  # project -> time.monotonic() of the last attempt

    @property
    def poll_seconds(self) -> float:
        """How often due projects are looked for: a project is synced at most this late."""
        minutes = self.settings.template_sync_minutes
        return 60.0 if minutes <= 0 else min(60.0, max(1.0, minutes * 60 / 10))

    async def tick(self) -> int:
        minutes = self.settings.template_sync_minutes
        if minutes <= 0:
            return 0
        retry_after = min(minutes * 60, self.RETRY_SECONDS)
        cutoff = utcnow() - timedelta(minutes=minutes)
        async with self.db.read() as session:
            due = [(p.id, p.templates_synced_at) for p in await repository.projects_due_for_sync(session, cutoff)]
        for project_id, last_synced in due:
            if time.monotonic() - self.attempted.get(project_id, float("-inf")) < retry_after:
                continue
            self.attempted[project_id] = time.monotonic()
            async with self.db.transaction() as session:
                if not await repository.claim_sync(session, project_id, cutoff, utcnow()):
                    continue  # another process synced it just now
            await self._sync(project_id, last_synced)
            return 1
        return 0

    async def _sync(self, project_id: uuid.UUID, last_synced: datetime | None) -> None:
        try:
            async with self.db.read() as session:
                project = await projects.get(session, project_id)
                if project is None:
                    return
                remote = await fetch_templates(project, self.settings)
            async with self.db.transaction() as session:
                project = await projects.get(session, project_id)
                if project is None:
                    return
                result = await store_templates(session, project, remote)
                await repository.release_held_sends(session, project_id, utcnow())
            log.info("templates of %s synced: %s", result["project"], result["synced"])
        except Exception:  # one project's failure (Meta down, a bad token) must not stop the others
            log.exception("template sync of project %s failed", project_id)
            async with self.db.transaction() as session:
                await repository.set_synced_at(session, project_id, last_synced)

    async def close(self) -> None:
        """Nothing is held between rounds (each sync opens and closes its own client)."""

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)
