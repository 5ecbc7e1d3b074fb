"""Templates and Meta: list /{waba-id}/message_templates through every page and store them;
create a template on Meta (POST) and keep it as PENDING until Meta's verdict arrives."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.models.projects import Project
from wacast.templates import service
from wacast.models.templates import Template
from wacast.meta.client import GraphClient, GraphError


def _client(settings: Settings, client: GraphClient | None) -> tuple[GraphClient, bool]:
    if client is not None:
        return client, False
    return GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout), True


def _meta_error(action: str, error: GraphError) -> WacastError:
    return WacastError(f"Meta refused the {action}: ({error.error.code}) {error.error.title}", "META_ERROR", error.error.as_dict(), status_code=502)


def _unreachable(action: str, error: httpx.HTTPError) -> WacastError:
    return WacastError(f"Meta could not be reached for the {action}: {type(error).__name__}", "META_UNREACHABLE", status_code=502)


async def sync_project(session: AsyncSession, project: Project, settings: Settings, client: GraphClient | None = None) -> dict[str, Any]:
    if not (project.waba_id and project.access_token):
        raise WacastError(
            f"Project {project.name} has no Meta credentials (--waba-id and --access-token); sandbox templates are added with `wacast templates add`",
            "NO_META_CREDENTIALS",
        )
    client, own = _client(settings, client)
    try:
        remote = await client.list_templates(project.waba_id, project.access_token)
    except GraphError as error:
        raise _meta_error("template listing", error) from None
    except httpx.HTTPError as error:
        raise _unreachable("template listing", error) from None
    finally:
        if own:
            await client.close()
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
    return {"project": project.name, "synced": len(stored), "skipped": skipped, "templates": stored}


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


async def create_template(
    session: AsyncSession, project: Project, data: Any, settings: Settings, client: GraphClient | None = None
) -> Template:
    """`wacast templates create`: submit a template for review. A Cloud API project POSTs it
    to Meta and stores it PENDING (Meta's verdict comes by the message_template_status_update
    webhook or the next sync); a sandbox project approves it at once."""
    definition = service.validate_definition(data)
    if project.provider == "sandbox":
        return await service.upsert(session, project, definition, status="APPROVED")
    if not project.waba_id:
        raise WacastError(f"Project {project.name} has no --waba-id: Meta needs it to create templates", "NO_META_CREDENTIALS")
    existing = await service.find_optional(session, project.id, definition["name"], definition["language"])
    if existing is not None and existing.meta_id:
        raise WacastError(
            f"Template {definition['name']} ({definition['language']}) already exists on Meta (status {existing.status})",
            "TEMPLATE_EXISTS", {"status": existing.status}, status_code=409,
        )
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
    return await service.upsert(session, project, definition, status=str(answer.get("status") or "PENDING").upper())
