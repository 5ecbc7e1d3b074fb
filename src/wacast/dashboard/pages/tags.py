"""Tags and contact attributes: the lists with their counts; create, rename, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.contacts import service as contacts
from wacast.dashboard.forms import Posted, uuid_or_404
from wacast.dashboard.web import Agent, DashboardRoute, Manager, redirect, render
from wacast.db.requests import ReadSession, WriteSession

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/tags")
async def tags_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    tags = await contacts.list_tags(session, ctx.project.id)
    attributes = await contacts.list_attributes(session, ctx.project.id)
    return render(ctx, "tags.html", tags=tags, attributes=attributes)


@router.post("/tags")
async def tag_create(request: Request, ctx: Manager, form: Posted, session: WriteSession) -> Response:
    kind, name = form.text("kind", strip=False), form.text("name", strip=False)
    if kind == "attribute":
        made = await contacts.create_attribute(session, ctx.project.id, name)
    else:
        made = await contacts.create_tag(session, ctx.project.id, name)
    return redirect(ctx, "/tags", f"{'Attribute' if kind == 'attribute' else 'Tag'} {made.name} created.")


@router.post("/tags/{kind}/{item_id}/rename")
async def tag_rename(request: Request, kind: str, item_id: str, ctx: Manager, form: Posted, session: WriteSession) -> Response:
    name = form.text("name", strip=False)
    if kind == "attribute":
        made = await contacts.rename_attribute(session, ctx.project.id, uuid_or_404(item_id), name)
    else:
        made = await contacts.rename_tag(session, ctx.project.id, uuid_or_404(item_id), name)
    return redirect(ctx, "/tags", f"Renamed to {made.name}.")


@router.post("/tags/{kind}/{item_id}/delete")
async def tag_delete(request: Request, kind: str, item_id: str, ctx: Manager, session: WriteSession) -> Response:
    if kind == "attribute":
        await contacts.delete_attribute(session, ctx.project.id, uuid_or_404(item_id))
    else:
        await contacts.delete_tag(session, ctx.project.id, uuid_or_404(item_id))
    return redirect(ctx, "/tags", f"{'Attribute' if kind == 'attribute' else 'Tag'} deleted.")
