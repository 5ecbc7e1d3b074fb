"""Meta's `phone_number_quality_update` events applied (issue 17, part 5): a number that
protects itself.

Each event (read by whatsapp/number_quality_policy.py, pure) updates the number's stored state
(number_qualities), is recorded as the number's history (number_quality_events: its rating
over time, shown on the dashboard's settings page), keeps the business portfolio's messaging
limit the event reports (portfolio_limits: shared by its numbers, read by the broadcast
estimate), and writes the rating on each project that sends from the number
(projects.number_quality). What the rating does to sends is the project's `on_quality_drop`
(projects/guardrails.py): `slow` (marketing at half the pace: the dispatcher), `pause` (running
marketing broadcasts paused here, new ones by the engine), `continue`. API (utility) messages
always continue. docs/number-quality.md says it for people.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.broadcasts import service as broadcasts
from wacast.kit.clock import utcnow
from wacast.models.projects import Project
from wacast.models.quality import NumberQuality
from wacast.notifications.service import notify
from wacast.projects import guardrails
from wacast.projects import repository_guardrails as repo
from wacast.whatsapp import number_quality_policy as policy
from wacast.whatsapp.account_policy import waba_id as clean_waba_id

log = logging.getLogger("wacast.events")


async def apply_quality_update(session: AsyncSession, waba_id: str, value: dict, notes: list[str]) -> None:
    waba = clean_waba_id(waba_id)
    if waba is None:
        notes.append(f"phone_number_quality_update for an unreadable WABA id {str(waba_id)[:64]!r}: ignored")
        return
    if not isinstance(value, dict):
        value = {}
    number = policy.display_number(value.get("display_phone_number"))
    if number is None:
        notes.append("phone_number_quality_update without a readable display_phone_number: ignored")
        return
    now = utcnow()
    row = await repo.number_for_update(session, number)
    read = policy.read_event(value, number, row.quality if row else None, row.flagged if row else False)
    if not read.known:
        notes.append(f"phone_number_quality_update event {read.event or '(none)'} not known: limits kept, rating unchanged")
    if row is None:
        row = NumberQuality(display_phone_number=number, waba_id=waba, quality="UNKNOWN", flagged=False)
        await repo.add_number(session, row)
    row.waba_id, row.quality, row.flagged = waba, read.quality, read.flagged
    row.current_limit = read.current_limit or row.current_limit
    row.last_event, row.updated_at = (read.event or None), now
    if read.portfolio_tier:
        await repo.set_portfolio_limit(session, waba, read.portfolio_tier, guardrails.limit_of(read.portfolio_tier), now)
    projects = await repo.projects_of_number(session, waba, number)
    if not projects:
        notes.append(f"quality event for number {number} that no project of WABA {waba} sends from: recorded")
    actions = set()
    for project in projects:
        actions.add(await _protect(session, project, read))
    action = next(iter(actions)) if len(actions) == 1 else ("mixed" if actions else "none")
    await repo.add_quality_event(session, display_phone_number=number, waba_id=waba, event=read.event[:30], rating=read.rating,
                                 previous_rating=read.previous_rating, current_limit=read.current_limit, old_limit=read.old_limit,
                                 portfolio_limit=read.portfolio_tier, action=action or "none", received_at=now)
    await session.flush()


async def _protect(session: AsyncSession, project: Project, read: policy.QualityEvent) -> str:
    """Write the rating on the project and apply its on_quality_drop; what it did."""
    before = project.number_quality
    project.number_quality = read.rating
    action = guardrails.quality_action(read.rating, project.on_quality_drop)
    if action is None:  # back to GREEN (or unrated): marketing goes at the full pace again
        if guardrails.is_down(before):
            await repo.clear_slowed_reasons(session, [project.id], guardrails.SLOWED_PREFIX)
            log.info("number %s of project %s: quality %s, marketing back to the full pace", read.number, project.name, read.rating)
        return "none"
    paused: list[str] = []
    if action in ("slow", "pause"):
        reason = guardrails.quality_reason(read.rating, action) or ""
        for campaign in await repo.running_marketing_broadcasts(session, [project.id]):
            if action == "pause":
                await broadcasts.pause(session, campaign, reason)
                paused.append(campaign.name)
            elif campaign.status == "running":
                campaign.status_reason = reason
    if guardrails.fell(before, read.rating) or before is None:
        await warn_quality_drop(session, project, read, action, paused)
    return action


async def warn_quality_drop(session: AsyncSession, project: Project, read: policy.QualityEvent, action: str,
                            paused: list[str]) -> None:
    """The one place a quality drop is told to the owner (the dashboard shows the number's
    state and history; /metrics has wacast_number_quality) and in the notifications panel,
    by `notification.created` and by email to the owners."""
    log.warning("number %s of project %s: quality %s (was %s), marketing %s%s", read.number, project.name, read.rating,
                read.previous_rating, action, f"; paused: {', '.join(paused)}" if paused else "")
    fell = guardrails.fell(read.previous_rating, read.rating)
    if not (fell or paused or read.rating in ("YELLOW", "RED", "FLAGGED")):
        return  # a first rating that is good is nothing to tell
    words = {"slow": "marketing broadcasts go at half pace", "pause": "marketing broadcasts are paused",
             "continue": "sending goes on as before"}.get(action, action)
    text = (f"Meta rates number {read.number} {read.rating} (was {read.previous_rating or 'unknown'}): {words}; "
            "API (utility) messages keep flowing.")
    if paused:
        text += f" Paused: {', '.join(paused)}."
    await notify(session, project.id, "number.quality", "critical" if read.rating in ("RED", "FLAGGED") or paused else
                 ("warning" if fell else "info"), f"Number {read.number}: quality {read.rating}", text, "/settings",
                 {"number": read.number, "rating": read.rating, "previous_rating": read.previous_rating, "action": action,
                  "paused": paused})


async def number_view(session: AsyncSession, project: Project, history: int = 30) -> dict | None:
    """The dashboard's view of the project's number: its rating now and over time, and the
    portfolio's messaging limit (None: Meta has sent nothing about it yet)."""
    limit = await repo.portfolio_limit(session, project.waba_id)
    numbers = await repo.numbers_of_waba(session, project.waba_id) if project.waba_id else []
    if not numbers and limit is None and project.number_quality is None:
        return None
    out = []
    for row in numbers:
        rating = guardrails.rating_of(row.quality, row.flagged)
        events = await repo.number_history(session, row.display_phone_number, history)
        out.append({"number": row.display_phone_number, "rating": rating, "words": guardrails.RATING_WORDS.get(rating, rating),
                    "current_limit": row.current_limit, "updated_at": row.updated_at,
                    "action": guardrails.quality_action(rating, project.on_quality_drop),
                    "history": [{"at": e.received_at, "event": e.event, "rating": e.rating, "previous": e.previous_rating,
                                 "limit": e.portfolio_limit or e.current_limit, "action": e.action} for e in events]})
    return {"numbers": out, "portfolio": ({"tier": limit.tier, "daily_limit": limit.daily_limit, "updated_at": limit.updated_at}
                                          if limit else None)}


async def guardrails_banner(session: AsyncSession, project: Project) -> dict | None:
    """The overview's banner: templates whose sends a category change holds, and the number's
    quality when it is down (with what it does to marketing); None when nothing to say."""
    held = [{"id": t.id, "name": t.name, "language": t.language, "reason": t.category_hold}
            for t in await repo.category_held_templates(session, project.id)]
    rating = project.number_quality
    action = guardrails.quality_action(rating, project.on_quality_drop)
    quality = None
    if action is not None and rating:
        quality = {"rating": rating, "words": guardrails.RATING_WORDS.get(rating, rating), "action": action,
                   "action_words": guardrails.QUALITY_WORDS[action]}
    if not held and quality is None:
        return None
    return {"held_templates": held, "quality": quality}
