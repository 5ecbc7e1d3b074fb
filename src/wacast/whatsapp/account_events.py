"""Meta's `account_update` events for a WABA: restrictions, bans and informational account
changes, applied to every project on that WABA (issue 15, part 4).

What each event means is whatsapp/account_policy.py's (pure): here the WABA's stored state
(account_statuses) is updated, the event recorded (account_events, informational ones too), the
hold it puts on sending written on each project of the WABA (projects.account_hold, read by the
dispatcher with its lease refresh), sends held by it released when Meta lifts it, and the
customer webhook `account.status.updated` emitted for each of those projects. docs/account-status.md
says it for people.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.messages import repository as messages_repo
from wacast.models.accounts import AccountStatus
from wacast.notifications.service import notify
from wacast.projects import repository as projects_repo
from wacast.webhooks import events as hooks
from wacast.whatsapp import account_policy as policy
from wacast.whatsapp import repository_accounts as repo

log = logging.getLogger("wacast.events")
TOPIC = "account.status.updated"
# The effects people are told about (docs/notifications.md: kind account.hold); a lifted hold
# is told too (info), so the warning is not left standing.
WARNED = {"restricted": "warning", "disabled": "critical", "scheduled_for_disable": "critical", "violation": "warning",
          "deleted": "critical", "offboarded": "critical"}
TOLD = {"lifted", "reinstated", "reconnected"}


async def apply_account_update(session: AsyncSession, waba_id: str, value: dict, notes: list[str]) -> None:
    waba = policy.waba_id(waba_id)
    if waba is None:
        notes.append(f"account_update for an unreadable WABA id {str(waba_id)[:64]!r}: ignored")
        return
    if not isinstance(value, dict):
        value = {}
    now = utcnow()
    row = await repo.status_for_update(session, waba)
    before = policy.state_of(row)
    outcome = policy.apply_event(before, value, now)
    notes.extend(outcome.notes)
    if row is None:
        row = AccountStatus(waba_id=waba, restrictions=[])
        await repo.add_status(session, row)
    _store(row, outcome.state, outcome.event, now)
    await repo.add_event(session, waba_id=waba, event=outcome.event[:60], known=outcome.known, effect=outcome.effect,
                         summary=outcome.summary, phone_number=policy.phone_number(value.get("phone_number")),
                         detail=outcome.detail or None, received_at=now)
    project_ids = await projects_repo.ids_with_waba(session, waba)
    if not project_ids:
        notes.append(f"account event for WABA {waba} that no project uses: recorded")
        return
    held_before, held = policy.hold(before, now), policy.hold(outcome.state, now)
    await repo.set_hold(session, project_ids, held.reason if held else None, held.until if held else None)
    if held_before is not None and held is None:  # Meta lifted it: what the hold kept waiting goes now
        for project_id in project_ids:
            await messages_repo.release_held_for_project(session, project_id, now)
    if outcome.effect != "recorded" or not outcome.known:
        log.info("WABA %s: %s (%d project(s))", waba, outcome.summary, len(project_ids))
    data = policy.status_data(waba, outcome.state, outcome, now)
    for project_id in project_ids:
        await hooks.emit_if_wanted(session, project_id, TOPIC, data)
        if outcome.effect in WARNED or (outcome.effect in TOLD and held_before is not None):
            severity = "critical" if held is not None else WARNED.get(outcome.effect, "info")
            title = f"WhatsApp account {waba}: {outcome.effect.replace('_', ' ')}" + (" (sending held)" if held else "")
            await notify(session, project_id, "account.hold", severity, title, outcome.summary, "/",
                         {"waba_id": waba, "event": outcome.event, "effect": outcome.effect,
                          "hold": held.reason if held else None})
    await session.flush()


def _store(row: AccountStatus, state: policy.AccountState, event: str, now: datetime) -> None:
    row.restrictions = policy.restrictions_json(state.restrictions)
    row.ban_state, row.ban_date, row.ban_since = state.ban_state, state.ban_date, state.ban_since
    row.lifecycle, row.lifecycle_since = state.lifecycle, state.lifecycle_since
    row.violation_type, row.violation_at = state.violation_type, state.violation_at
    row.last_event = event[:60] or None
    row.updated_at = now
