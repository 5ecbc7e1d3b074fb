"""The broadcast engine: a loop (kit/loop.py) that starts due schedules, fans out running
broadcasts, holds messages during quiet hours, auto-pauses on failures and finishes what is
done. Driven only by the database: it runs next to the dispatcher in `wacast serve` and in
every `wacast worker`.

The engine walks the audience in keyset batches (contacts by id, or CSV rows by position).
Each batch is ONE transaction that queues the batch's messages in the outbox AND moves the
checkpoint on the campaign row, so a crash or restart resumes exactly where it stopped; a
unique (broadcast_id, contact_id) index makes a second queueing of a contact impossible.

Several engines share the work safely: a campaign is fanned out by the holder of its lease
(`lease_holder`/`lease_until`), and each batch re-checks the lease and status on the
(locked) campaign row. The dispatcher sends broadcast messages with a higher priority number
than API-campaign messages, so transactional sends overtake a running broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import budgets
from wacast.campaigns.broadcasts import policy as policies
from wacast.campaigns.broadcasts import repository as repo
from wacast.campaigns.broadcasts import service
from wacast.campaigns.broadcasts.plan import Plan, components_for
from wacast.campaigns.broadcasts.service import BroadcastStatus
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts import segments
from wacast.kit.clock import utcnow
from wacast.kit.phone import sends_by_user_id
from wacast.kit.errors import WacastError
from wacast.kit.loop import run_loop
from wacast.links import send_links
from wacast.links import service as links
from wacast.messages import repository as messages_repo
from wacast.models.broadcasts import SendPolicy
from wacast.models.campaigns import Campaign
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.notifications.service import notify
from wacast.projects import guardrails, marketing_rules
from wacast.templates import statuses as template_statuses
from wacast.templates.params import TemplateNeeds, analyze

log = logging.getLogger("wacast.broadcasts")

# API-campaign (transactional) messages have priority 0; lower goes first.
BROADCAST_PRIORITY = 10
# What messages.destination holds: a BSUID longer than this cannot be sent to.
MAX_DESTINATION = 100
# The skip reasons of people the broadcast cannot reach: a number WhatsApp said changed (the
# contact moved: a send would reach whoever has the old number now), and a person with no
# phone number where sending by business-scoped user id is not allowed (kit/phone.sends_by_user_id).
NUMBER_CHANGED = "number_changed"
NO_PHONE_NUMBER = "no_phone_number"


@dataclass
class _Context:
    needs: TemplateNeeds
    template: Template
    plan: Plan
    project: Project


@dataclass
class _Audience:
    """One keyset window of the audience: its sendable rows, their CSV values, the new
    checkpoint, and whether the audience is exhausted."""

    rows: list[Any]
    values: list[dict]
    checkpoint: str | None
    exhausted: bool


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:bc"


@dataclass
class BroadcastEngine:
    db: Any
    settings: Any
    # `notify` wakes the dispatcher (messages were queued).
    notify: Callable[[], Any] | None = None
    worker_id: str = field(default_factory=_worker_id)
    name: str = "broadcasts"
    # Set to wake the engine (a broadcast was created or resumed).
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def poll_seconds(self) -> float:
        return self.settings.broadcast_poll_seconds

    @property
    def batch_size(self) -> int:
        return self.settings.broadcast_batch_size

    @property
    def blocked_regions(self) -> frozenset[str]:
        """WACAST_MARKETING_BLOCKED_REGIONS: MARKETING sends to these regions are skipped."""
        return self.settings.blocked_marketing_regions

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)

    async def close(self) -> None:
        """Nothing to hand back: each round releases the leases it took."""

    async def tick(self, max_batches: int | None = None) -> int:
        """One round: start due schedules, fan out running broadcasts, hold quiet hours,
        auto-pause on failures, finish what is done. Returns work done (0 when idle)."""
        now = utcnow()
        work = 0
        async with self.db.transaction() as session:
            for campaign in await repo.start_due_schedules(session, now):
                await service.start_scheduled(session, campaign, now)
                work += 1
            due = await repo.due_for_fan_out(session, now, self.worker_id)
            # Idle rounds stay one short transaction: the sweeps below run only when needed.
            running = await repo.any_running(session)
            quiet = await repo.any_quiet_hours(session)
        budget = max_batches if max_batches is not None else self.settings.broadcast_batches_per_tick
        for campaign_id in due:
            if budget <= 0:
                break
            if not await self._take_lease(campaign_id):
                continue
            try:
                while budget > 0:
                    budget -= 1
                    queued = await self.fan_out_batch(campaign_id)
                    if queued is None:
                        break
                    work += 1
            finally:
                await self._release_lease(campaign_id)
        if quiet:
            work += await self.hold_quiet_hours()
        if running:
            work += await self.watch_running()
        return work

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.broadcast_lease_seconds)

    async def _take_lease(self, campaign_id: uuid.UUID) -> bool:
        now = utcnow()
        async with self.db.transaction() as session:
            return await repo.take_lease(session, campaign_id, self.worker_id, now, self._lease_end(now))

    async def _release_lease(self, campaign_id: uuid.UUID) -> None:
        async with self.db.transaction() as session:
            await repo.release_lease(session, campaign_id, self.worker_id)

    async def _context(self, session: AsyncSession, campaign: Campaign) -> _Context:
        template = await repo.template(session, campaign.template_id)
        project = await repo.project(session, campaign.project_id)
        return _Context(analyze(template.components, template.parameter_format), template, Plan.from_json(campaign.broadcast["plan"]), project)

    async def _audience(self, session: AsyncSession, campaign: Campaign, limit: int) -> _Audience:
        """The next keyset window of the audience.

        A window is `limit` contacts in id order, read from the (project_id, id) index; the
        segment's filter is applied inside the window only. Each batch costs O(limit) however
        selective the filter is, and the whole fan-out O(audience)."""
        settings = campaign.broadcast or {}
        if settings.get("audience") == "csv":
            rows = await repo.csv_window(session, campaign.id, int(campaign.checkpoint or 0), limit)
            checkpoint = str(rows[-1].position) if rows else campaign.checkpoint
            return _Audience(rows, [r.values or {} for r in rows], checkpoint, len(rows) < limit)
        after = uuid.UUID(campaign.checkpoint) if campaign.checkpoint else None
        ids = await repo.contact_window(session, campaign.project_id, after, limit)
        if not ids:
            return _Audience([], [], campaign.checkpoint, True)
        rows = await repo.segment_members_between(session, campaign.project_id, settings.get("filter") or {}, ids[0], ids[-1])
        return _Audience(rows, [{} for _ in rows], str(ids[-1]), len(ids) < limit)

    async def _capped(self, session: AsyncSession, ctx: _Context, policy: SendPolicy | None, contact_ids: list[uuid.UUID], now: datetime) -> set[uuid.UUID]:
        """Contacts at the frequency cap (marketing messages in the last D days)."""
        if not contact_ids or not policies.frequency_cap_applies(policy, ctx.template.category):
            return set()
        since = now - timedelta(days=policy.frequency_cap_days or 1)
        return policies.at_frequency_cap(policy, await repo.marketing_counts_since(session, contact_ids, since))

    async def fan_out_batch(self, campaign_id: uuid.UUID) -> int | None:
        """Queue one batch and move the checkpoint, in one transaction. None: nothing to do now."""
        now = utcnow()
        async with self.db.transaction() as session:
            campaign = await repo.lock_campaign(session, campaign_id)
            if (
                campaign is None or campaign.status != BroadcastStatus.running or campaign.fanout_done_at is not None
                or campaign.lease_holder != self.worker_id
            ):
                return None
            ctx = await self._context(session, campaign)
            policy = await repo.send_policy(session, campaign.project_id)
            if campaign.started_at is None:
                campaign.started_at = now
                if (campaign.broadcast or {}).get("filter") is not None:
                    # The audience as it is when sending starts (a schedule may be days old).
                    campaign.total_count = (await segments.count(session, campaign.project_id, campaign.broadcast["filter"]))["sendable"]
            if not template_statuses.can_send(ctx.template.status):
                campaign.status_reason = f"waiting: template {ctx.template.name} is {ctx.template.status}"
                return None
            if hold := guardrails.category_hold(ctx.template):  # Meta's recategorisation, not accepted yet
                campaign.status_reason = f"waiting: {hold}"[:500]
                return None
            rating, choice = ctx.project.number_quality, ctx.project.on_quality_drop
            if guardrails.pauses_broadcast(rating, choice, ctx.template.category):  # the number protects itself
                await service.pause(session, campaign, guardrails.quality_reason(rating, "pause") or "paused: number quality")
                return None
            limit = self.batch_size
            room = None
            if policy is not None and policy.messaging_tier:
                room = policies.tier_room(policy, await repo.contacts_messaged_since(session, campaign.project_id, now - timedelta(hours=24)))
            if room is not None:
                if room <= 0:
                    reason = policies.tier_reason(policy)
                    if campaign.status_reason != reason:
                        campaign.status_reason = reason
                    return None
                # Scan at most `room` contacts: no more than `room` new ones can be queued.
                limit = min(limit, room)
            audience = await self._audience(session, campaign, limit)
            over_budget = await budgets.check_broadcast_batch(session, campaign, ctx.template.category, [r.phone for r in audience.rows], now)
            if over_budget is not None:  # billing/budgets.py: the batch would pass a budget; the checkpoint stays
                await service.pause(session, campaign, over_budget)
                return None
            queued = await self._queue(session, campaign, ctx, policy, audience, now)
            campaign.checkpoint = audience.checkpoint
            if campaign.status_reason and campaign.status_reason.startswith(("waiting", guardrails.SLOWED_PREFIX)):
                campaign.status_reason = None
            if guardrails.slot_cost(rating, choice, ctx.template.category) > 1:
                campaign.status_reason = guardrails.quality_reason(rating, "slow")
            if audience.exhausted:
                campaign.fanout_done_at = now
            campaign.updated_at = now
            campaign.lease_until = self._lease_end(now)
        if queued and self.notify is not None:
            self.notify()
        return None if audience.exhausted else queued

    async def _queue(self, session: AsyncSession, campaign: Campaign, ctx: _Context, policy: SendPolicy | None, audience: _Audience, now: datetime) -> int:
        """Queue the window's messages (skipping, with a counted reason, whom not to send to)."""
        contact_ids = [r.id for r in audience.rows]
        # Opted-out and blocked contacts are never sent to (CSV audiences included).
        sendable = await repo.sendable_ids(session, contact_ids)
        capped = await self._capped(session, ctx, policy, contact_ids, now)
        # A project that requires consent for marketing skips those without it (no_consent).
        require = bool(ctx.project.require_marketing_consent)
        consented = (await consent_repo.with_consent(session, contact_ids)
                     if policies.consent_required(require, ctx.template.category) else set())
        no_consent = policies.skips_for_consent(require, ctx.template.category, contact_ids, consented)
        already = await repo.already_queued(session, campaign.id, contact_ids)
        zone = segments.project_zone(ctx.project.timezone)
        until = policies.quiet_until(policy, zone, now)
        held_reason = policies.quiet_reason(until, zone, ctx.project.timezone) if until else None
        # Whom to send to: the phone number, else the BSUID where the template may go by it.
        user_ids = await contacts_repo.without_phone(session, [r.id for r in audience.rows if r.phone is None])
        by_user_id = sends_by_user_id(ctx.template.category)
        moved = await contacts_repo.moved_numbers(session, campaign.project_id, [r.phone for r in audience.rows if r.phone])
        # Meta does not deliver MARKETING templates to some regions (US numbers since 2025-04).
        region_blocked = marketing_rules.blocked_among((r.phone for r in audience.rows), ctx.template.category,
                                                       ctx.project.marketing_region_policy, self.blocked_regions)
        # The broadcast's tracked links (its template's tracked buttons, body URLs): a token per
        # link and message, minted in this batch's transaction.
        tracking = await links.send_links(session, campaign.id, self.settings.public_url)
        link_rows: list[dict[str, Any]] = []
        messages = []
        skips: dict[str, int] = dict(campaign.skip_reasons or {})
        skipped = 0
        for row, row_values in zip(audience.rows, audience.values, strict=True):
            reason = None
            if row.id not in sendable:
                reason = "opted out or blocked"
            elif row.id in already:
                reason = "already in this broadcast"
            elif row.id in capped:
                reason = "frequency cap"
            elif row.id in no_consent:
                reason = policies.NO_CONSENT
            elif row.phone in region_blocked:
                reason = marketing_rules.MARKETING_REGION_BLOCKED
            elif row.phone is None and not (by_user_id and user_ids.get(row.id) and len(user_ids[row.id]) <= MAX_DESTINATION):
                reason = NO_PHONE_NUMBER
            elif row.phone in moved:
                reason = NUMBER_CHANGED
            if reason is None:
                try:
                    components = components_for(ctx.needs, ctx.plan, row, row_values)
                    if tracking is not None:
                        send_links.plan(components, tracking)  # a destination that is no URL skips the contact, counted
                except WacastError as error:
                    reason = f"{error.code}: {error.message}"[:200]
            if reason is not None:
                skips[reason] = skips.get(reason, 0) + 1
                skipped += 1
                continue
            message_id = uuid.uuid4()
            components, rows = links.with_links(tracking, project_id=campaign.project_id, message_id=message_id,
                                                contact_id=row.id, components=components)
            link_rows.extend(rows)
            messages.append({
                "id": message_id, "project_id": campaign.project_id, "campaign_id": campaign.id, "broadcast_id": campaign.id,
                "contact_id": row.id, "template_id": ctx.template.id, "destination": row.phone or user_ids[row.id],
                "payload": {"template": ctx.template.name, "language": ctx.template.language, "category": ctx.template.category, "components": components},
                "priority": BROADCAST_PRIORITY, "next_attempt_at": until or now, "held_reason": held_reason,
            })
        await messages_repo.insert_queued_many(session, messages, now)
        await links.insert_links(session, link_rows)
        campaign.queued_count = (campaign.queued_count or 0) + len(messages)
        campaign.skipped_count = (campaign.skipped_count or 0) + skipped
        campaign.skip_reasons = skips
        return len(messages)

    async def hold_quiet_hours(self) -> int:
        """During a project's quiet hours, due broadcast messages wait for the window's end."""
        now = utcnow()
        held = 0
        async with self.db.transaction() as session:
            for policy, project in await repo.quiet_policies(session):
                zone = segments.project_zone(project.timezone)
                until = policies.quiet_until(policy, zone, now)
                if until is None:
                    continue
                held += await repo.hold_due_broadcast_messages(session, project.id, until, policies.quiet_reason(until, zone, project.timezone), now)
        return held

    async def watch_running(self) -> int:
        """Auto-pause on a high failure rate; mark finished broadcasts completed."""
        now = utcnow()
        work = 0
        async with self.db.transaction() as session:
            for campaign in await repo.running_broadcasts(session):
                settings = campaign.broadcast or {}
                window = int(settings.get("failure_window") or self.settings.broadcast_failure_window)
                threshold = float(settings.get("failure_threshold") or self.settings.broadcast_failure_threshold)
                if await self._quality_pauses(session, campaign):
                    work += 1
                    continue
                total, failed = await repo.recent_outcomes(session, campaign.id, window)
                if policies.failing_too_much(total, failed, window, threshold):
                    reason = f"auto-paused: {failed} of the last {total} sends failed (threshold {threshold:.0%})"
                    await service.pause(session, campaign, reason)
                    await notify(session, campaign.project_id, "broadcast.paused", "warning", f"Broadcast {campaign.name} paused",
                                 f"wacast {reason}. Look at the failures, then resume it.", f"/broadcasts/{campaign.id}",
                                 {"campaign_id": str(campaign.id), "name": campaign.name, "reason": reason})
                    log.warning("broadcast %s auto-paused: %s/%s failed", campaign.name, failed, total)
                    work += 1
                    continue
                if campaign.fanout_done_at is not None and not await repo.has_queued(session, campaign.id):
                    await service.complete(session, campaign, now)
                    work += 1
        return work

    async def _quality_pauses(self, session: AsyncSession, campaign: Campaign) -> bool:
        """A marketing broadcast running (resumed, or fanned out) on a number whose quality is
        down under `on_quality_drop = pause` is paused again, with the reason."""
        project = await repo.project(session, campaign.project_id)
        rating, choice = project.number_quality, project.on_quality_drop
        if guardrails.quality_action(rating, choice) != "pause":
            return False
        template = await repo.template(session, campaign.template_id)
        if not guardrails.pauses_broadcast(rating, choice, template.category):
            return False
        await service.pause(session, campaign, guardrails.quality_reason(rating, "pause") or "paused: number quality")
        log.warning("broadcast %s paused: the number's quality is %s", campaign.name, rating)
        return True
