"""The budget warnings, each one function called from one place (billing/budgets.py): the
owner is told when a budget reaches 80 % and when a budget stops a broadcast.

Each is a customer webhook (`budget.warning`, `budget.exceeded`) and a notification (kind
`budget`: the dashboard's panel, `notification.created`, the owners' emails), with the same data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.notifications.service import notify
from wacast.webhooks import events as hooks

WARNING_TOPIC = "budget.warning"
EXCEEDED_TOPIC = "budget.exceeded"


async def budget_warning(session: AsyncSession, project_id: uuid.UUID, data: dict[str, Any], at: datetime) -> None:
    """A budget reached 80 % (once per budget and period)."""
    await hooks.emit_if_wanted(session, project_id, WARNING_TOPIC, {**data, "at": at.isoformat()})
    await notify(session, project_id, "budget", "warning", f"Budget at {data.get('percent')} %: {_where(data)}",
                 data.get("message") or "", _link(data), data, now=at)


async def budget_exceeded(session: AsyncSession, project_id: uuid.UUID, data: dict[str, Any], at: datetime) -> None:
    """A budget stopped a broadcast: the broadcast is paused with the reason (once per budget and period)."""
    await hooks.emit_if_wanted(session, project_id, EXCEEDED_TOPIC, {**data, "at": at.isoformat()})
    await notify(session, project_id, "budget", "critical", f"Budget reached: broadcast {data.get('campaign')} paused",
                 f"{data.get('reason') or ''} Raise the budget (Settings, Billing) or leave it paused.", _link(data), data, now=at)


def _where(data: dict[str, Any]) -> str:
    return f"the month {data.get('period')}" if data.get("scope") == "month" else f"broadcast {data.get('campaign')}"


def _link(data: dict[str, Any]) -> str:
    return f"/broadcasts/{data['campaign_id']}" if data.get("campaign_id") else "/settings/billing"
