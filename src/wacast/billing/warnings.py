"""The budget warnings, each one function called from one place (billing/budgets.py): the
owner is told when a budget reaches 80 % and when a budget stops a broadcast.

Today each is a customer webhook (`budget.warning`, `budget.exceeded`). The notifications
panel and email (issue 17, part 6) join here: call `notifications.notify(...)` inside these two
functions, with the same `data`, and every warning reaches every channel.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.webhooks import events as hooks

WARNING_TOPIC = "budget.warning"
EXCEEDED_TOPIC = "budget.exceeded"


async def budget_warning(session: AsyncSession, project_id: uuid.UUID, data: dict[str, Any], at: datetime) -> None:
    """A budget reached 80 % (once per budget and period)."""
    await hooks.emit_if_wanted(session, project_id, WARNING_TOPIC, {**data, "at": at.isoformat()})


async def budget_exceeded(session: AsyncSession, project_id: uuid.UUID, data: dict[str, Any], at: datetime) -> None:
    """A budget stopped a broadcast: the broadcast is paused with the reason (once per budget and period)."""
    await hooks.emit_if_wanted(session, project_id, EXCEEDED_TOPIC, {**data, "at": at.isoformat()})
