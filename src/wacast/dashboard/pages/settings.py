"""Project settings (owners): sender, Meta ids and token, country, time zone, rate, opt-out
keywords; saved through the projects service, as the CLI saves them."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard.forms import fields

SettingsForm = fields(
    "default_country", "timezone", "messages_per_second", "opt_out_keywords", "sender_number", "waba_id",
    "phone_number_id", "access_token", "clear_token",
)
from wacast.dashboard.web import DashboardRoute, Owner, redirect, render
from wacast.db.requests import WriteSession
from wacast.kit.errors import WacastError
from wacast.projects import service as projects

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/settings")
async def settings_page(request: Request, ctx: Owner) -> Response:
    return render(ctx, "settings.html", p=ctx.project)


@router.post("/settings")
async def settings_save(request: Request, ctx: Owner, form: SettingsForm, session: WriteSession) -> Response:
    try:
        rate = int(form.text("messages_per_second") or ctx.project.messages_per_second)
    except ValueError:
        raise WacastError("messages per second must be a whole number", "INVALID_RATE") from None
    timezone = form.text("timezone")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise WacastError(f"Unknown time zone {timezone!r} (use names like Asia/Kolkata)", "INVALID_TIMEZONE") from None
    options: dict[str, Any] = {
        "default_country": form.text("default_country") or None,
        "sender_number": form.text("sender_number"),
        "waba_id": form.text("waba_id"),
        "phone_number_id": form.text("phone_number_id"),
        "timezone": timezone or None,
        "messages_per_second": rate,
    }
    token = form.text("access_token")
    if form.checked("clear_token"):
        options["access_token"] = ""  # the service stores an empty value as none
    elif token:
        options["access_token"] = token  # blank keeps the stored token
    keywords = [k.strip().upper() for k in form.text("opt_out_keywords").split(",") if k.strip()]
    if keywords:
        options["opt_out_keywords"] = keywords[:20]
    await projects.update(session, ctx.project.name, **options)
    return redirect(ctx, "/settings", "Settings saved.")
