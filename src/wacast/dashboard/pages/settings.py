"""Project settings (owners): sender, Meta ids and token, country, time zone, rate, opt-out
keywords, saved through the projects service as the CLI saves them; and the send policy of
broadcasts (quiet hours, frequency cap, messaging tier), saved through the broadcasts
service as `PUT /api/v1/send-policy` and `wacast broadcasts policy` save it."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.dashboard.forms import fields

from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns.broadcasts import policy as policies
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.dashboard.web import DashboardRoute, Owner, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.projects import guardrails, marketing_rules
from wacast.projects import service as projects
from wacast.whatsapp import event_kinds
from wacast.whatsapp.number_quality import number_view

SettingsForm = fields(
    "default_country", "timezone", "messages_per_second", "opt_out_keywords", "sender_number", "waba_id",
    "phone_number_id", "access_token", "clear_token",
)
PolicyForm = fields("quiet_start", "quiet_end", "cap_messages", "cap_days", "messaging_tier")
GuardrailsForm = fields("on_category_change", "on_quality_drop", "marketing_region_policy")

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/settings")
async def settings_page(request: Request, ctx: Owner, session: ReadSession) -> Response:
    view = await broadcasts.policy_view(session, ctx.project.id, await broadcasts.get_policy(session, ctx.project.id))
    return render(ctx, "settings.html", p=ctx.project, policy=policy_form_values(view), tiers=policies.TIERS,
                  events=await meta_events_view(session), **await guardrails_context(session, ctx.project))


async def guardrails_context(session: AsyncSession, project: Any) -> dict[str, Any]:
    """The guardrails' section: the two choices, and the number's quality over time with the
    portfolio's messaging limit (whatsapp/number_quality.number_view)."""
    return {"guard": projects.guardrail_settings(project), "quality": await number_view(session, project),
            "category_words": guardrails.CATEGORY_WORDS, "quality_words": guardrails.QUALITY_WORDS,
            "region_words": marketing_rules.POLICY_WORDS, "blocked_since": marketing_rules.BLOCKED_SINCE}


@router.post("/settings/guardrails")
async def guardrails_save(request: Request, ctx: Owner, form: GuardrailsForm, session: WriteSession) -> Response:
    await projects.set_guardrails(session, ctx.project.id, on_category_change=form.text("on_category_change") or None,
                                  on_quality_drop=form.text("on_quality_drop") or None,
                                  marketing_region_policy=form.text("marketing_region_policy") or None)
    campaigns_repo.forget_snapshots()  # the campaign API reads the policy with its campaign snapshot
    return redirect(ctx, "/settings#guardrails", "Guardrails saved.")


async def meta_events_view(session: AsyncSession) -> dict[str, Any]:
    """Meta's webhook fields received (every project's: the counts are the server's), those
    wacast does not use in words (what each is, why not used, count, last seen), and the used
    ones in a line."""
    totals = await event_kinds.totals(session)
    unused = [{"field": t.field, "what": t.info.what, "why": t.info.how, "count": t.count, "last_seen_at": t.last_seen_at}
              for t in totals if not t.handled]
    used = [{"field": t.field, "count": t.count} for t in totals if t.handled]
    return {"unused": unused, "used": used}


def policy_form_values(view: dict[str, Any]) -> dict[str, str]:
    """The send policy as the form's fields show it (empty: off)."""
    quiet, cap = view["quiet_hours"] or {}, view["frequency_cap"] or {}
    return {
        "quiet_start": quiet.get("start") or "", "quiet_end": quiet.get("end") or "",
        "cap_messages": str(cap.get("messages") or ""), "cap_days": str(cap.get("days") or ""),
        "messaging_tier": str(view["messaging_tier"]),
    }


def policy_body(form: Any) -> dict[str, Any]:
    """The form as a `PUT /api/v1/send-policy` body: both times empty turn quiet hours off,
    both cap fields empty turn the cap off; anything else half filled is an error."""
    start, end = form.text("quiet_start"), form.text("quiet_end")
    if bool(start) != bool(end):
        raise WacastError("Quiet hours need both a start and an end (or neither, to turn them off)", "FIELD_INVALID", {"field": "quiet_hours"})
    messages, days = form.text("cap_messages"), form.text("cap_days")
    if bool(messages) != bool(days):
        raise WacastError("The frequency cap needs both a number of messages and of days (or neither)", "FIELD_INVALID", {"field": "frequency_cap"})
    cap = None
    if messages:
        try:
            cap = {"messages": int(messages), "days": int(days)}
        except ValueError:
            raise WacastError("The frequency cap takes whole numbers", "FIELD_INVALID", {"field": "frequency_cap"}) from None
    tier_text = form.text("messaging_tier") or "unlimited"
    tier: Any = int(tier_text) if tier_text.isdigit() else tier_text
    return {"quiet_hours": {"start": start, "end": end} if start else None, "frequency_cap": cap, "messaging_tier": tier}


@router.post("/settings/send-policy")
async def send_policy_save(request: Request, ctx: Owner, form: PolicyForm, session: WriteSession) -> Response:
    typed = {name: form.text(name) for name in ("quiet_start", "quiet_end", "cap_messages", "cap_days", "messaging_tier")}
    try:
        await broadcasts.set_policy(session, ctx.project.id, policy_body(form))
    except WacastError as error:
        # Shown on the page with what was typed, not a redirect that would clear the form.
        # Nothing was written: the body is checked whole before the policy changes.
        return render(ctx, "settings.html", status_code=400, p=ctx.project, policy=typed, tiers=policies.TIERS,
                      policy_error=f"{error.message} ({error.code})", events=await meta_events_view(session), **await guardrails_context(session, ctx.project))
    return redirect(ctx, "/settings#send-policy", "Send policy saved. Messages held by quiet hours follow the new window.")


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
