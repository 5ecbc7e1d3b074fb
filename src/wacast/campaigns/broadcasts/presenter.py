"""What a broadcast (or any campaign) looks like to people and programs: its progress and
its description, the same for REST, the dashboard and the CLI; and the send policy's view."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.broadcasts import repository as repo
from wacast.links import tracking as link_tracking
from wacast.models.broadcasts import SendPolicy
from wacast.models.campaigns import Campaign
from wacast.models.projects import Project

STATUSES = ("queued", "sent", "delivered", "read", "failed")


async def progress(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    counts = dict.fromkeys(STATUSES, 0)
    replied = 0
    for status, n, r in await repo.status_counts_with_replies(session, campaign.id):
        counts[status] = counts.get(status, 0) + n
        replied += r
    held_reasons = await repo.held_by_reason(session, campaign.id) if counts["queued"] else {}
    held = sum(held_reasons.values())
    messaged = sum(counts.values())
    is_broadcast = campaign.type == "broadcast"
    total = campaign.total_count if is_broadcast and campaign.total_count is not None else messaged
    skipped = campaign.skipped_count or 0
    done = counts["sent"] + counts["delivered"] + counts["read"] + counts["failed"]
    return {
        "total": total,
        **counts,
        "replied": replied,
        "held": held,
        "held_reasons": held_reasons,  # why they wait: {"quiet hours until 09:00 Asia/Kolkata": 49}
        "skipped": skipped,
        "skip_reasons": campaign.skip_reasons or {},
        "not_yet_queued": max(0, total - messaged - skipped) if is_broadcast and campaign.status not in ("cancelled", "completed") else 0,
        "percent_done": round(100.0 * (done + skipped) / total, 1) if total else (100.0 if campaign.status == "completed" else 0.0),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


async def describe(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    template = await repo.template(session, campaign.template_id)
    out: dict[str, Any] = {
        "id": str(campaign.id),
        "name": campaign.name,
        "type": campaign.type,
        "status": campaign.status,
        "template": {"name": template.name, "language": template.language, "category": template.category} if template else None,
        "created_at": campaign.created_at.isoformat(),
        "progress": await progress(session, campaign),
        # Its click and conversion settings (as GET/PUT /api/v1/campaigns/{id}/tracking show them).
        "tracking": link_tracking.parse(campaign.tracking).as_dict(),
    }
    if campaign.type == "broadcast":
        settings = campaign.broadcast or {}
        out.update({
            "status_reason": campaign.status_reason,
            "audience": {"segment_id": str(campaign.segment_id), "segment": settings.get("segment_name")} if campaign.segment_id else {"csv": True},
            "send_at": _iso(campaign.send_at),
            "started_at": _iso(campaign.started_at),
            "fanout_done_at": _iso(campaign.fanout_done_at),
            "finished_at": _iso(campaign.finished_at),
            "params": settings.get("plan", {}).get("params"),
            "failure_threshold": settings.get("failure_threshold"),
            "failure_window": settings.get("failure_window"),
        })
    return out


def policy_out(policy: SendPolicy | None, project: Project) -> dict[str, Any]:
    return {
        "timezone": project.timezone,
        "quiet_hours": {"start": policy.quiet_start, "end": policy.quiet_end} if policy and policy.quiet_start else None,
        "frequency_cap": {"messages": policy.frequency_cap_count, "days": policy.frequency_cap_days} if policy and policy.frequency_cap_count else None,
        "messaging_tier": (policy.messaging_tier if policy else None) or "unlimited",
    }
