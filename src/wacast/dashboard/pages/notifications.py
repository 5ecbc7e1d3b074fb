"""The notifications panel: the project's warnings, newest first, filtered by kind (and unread),
each marked read or dismissed; the bell's count in the layout's header (`/notifications/count.json`).
The same service functions as REST (notifications/service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard.forms import fields, query_text, uuid_or_404
from wacast.dashboard.web import Agent, DashboardRoute, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.http import JSONResponse
from wacast.notifications import service

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

BackForm = fields("back")


def _back(form) -> str:  # noqa: ANN001
    """Back to the list as it was filtered (only a /notifications address)."""
    back = form.text("back")
    return back if back.startswith("/notifications") and "//" not in back and "\\" not in back else "/notifications"


@router.get("/notifications")
async def notifications_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    kind = query_text(request, "kind") or None
    show = query_text(request, "show") or "all"
    cursor = query_text(request, "cursor") or None
    unread = True if show == "unread" else None
    listed = await service.list_page(session, ctx.project.id, kind=kind, unread=unread, dismissed=show == "dismissed",
                                     cursor=cursor, limit=50)
    return render(ctx, "notifications.html", items=listed.items, next_cursor=listed.next_cursor, kind=kind or "", show=show,
                  kinds=await service.kinds(session, ctx.project.id), unread_count=await service.unread_count(session, ctx.project.id),
                  back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))


@router.get("/notifications/count.json")
async def notifications_count(ctx: Agent, session: ReadSession) -> Response:
    return JSONResponse({"unread": await service.unread_count(session, ctx.project.id)})


@router.post("/notifications/{notification_id}/read")
async def notification_read(notification_id: str, ctx: Agent, form: BackForm, session: WriteSession) -> Response:
    await service.mark_read(session, ctx.project.id, uuid_or_404(notification_id), ctx.user.id)
    return redirect(ctx, _back(form))


@router.post("/notifications/{notification_id}/dismiss")
async def notification_dismiss(notification_id: str, ctx: Agent, form: BackForm, session: WriteSession) -> Response:
    await service.dismiss(session, ctx.project.id, uuid_or_404(notification_id), ctx.user.id)
    return redirect(ctx, _back(form), "Notification dismissed.")


@router.post("/notifications/read-all")
async def notifications_read_all(ctx: Agent, form: BackForm, session: WriteSession) -> Response:
    count = await service.mark_all_read(session, ctx.project.id, ctx.user.id)
    return redirect(ctx, _back(form), f"{count} notification(s) marked read.")
