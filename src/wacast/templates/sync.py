"""Templates from Meta: list /{waba-id}/message_templates through every page and store them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.kit.errors import WacastError
from wacast.projects.models import Project
from wacast.templates import service
from wacast.whatsapp.cloud import GraphClient, GraphError


async def sync_project(session: AsyncSession, project: Project, settings: Settings, client: GraphClient | None = None) -> dict[str, Any]:
    if not (project.waba_id and project.access_token):
        raise WacastError(
            f"Project {project.name} has no Meta credentials (--waba-id and --access-token); sandbox templates are added with `wacast templates add`",
            "NO_META_CREDENTIALS",
        )
    own = client is None
    client = client or GraphClient(settings.graph_api_url, settings.graph_api_version)
    try:
        remote = await client.list_templates(project.waba_id, project.access_token)
    except GraphError as error:
        raise WacastError(f"Meta refused the template listing: ({error.error.code}) {error.error.title}", "META_ERROR", error.error.as_dict()) from None
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
    return {"project": project.name, "synced": len(stored), "skipped": skipped, "templates": stored}
