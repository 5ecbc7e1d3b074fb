"""The queries of account_update events (whatsapp/account_events.py): a WABA's stored state,
its event records, and the hold it puts on the projects on that WABA."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import is_postgres
from wacast.models.accounts import AccountEvent, AccountStatus
from wacast.models.projects import Project


async def status_for_update(session: AsyncSession, waba_id: str) -> AccountStatus | None:
    """A WABA's stored state, locked on PostgreSQL (two workers never apply its events at once)."""
    stmt = select(AccountStatus).where(AccountStatus.waba_id == waba_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_status(session: AsyncSession, row: AccountStatus) -> None:
    session.add(row)
    await session.flush()


async def add_event(session: AsyncSession, **values: Any) -> None:
    session.add(AccountEvent(**values))
    await session.flush()


async def set_hold(session: AsyncSession, project_ids: Iterable[uuid.UUID], reason: str | None, until: datetime | None) -> None:
    """What holds these projects' sends (None: nothing)."""
    ids = list(project_ids)
    if ids:
        await session.execute(update(Project).where(Project.id.in_(ids)).values(account_hold=reason, account_hold_until=until))


async def statuses(session: AsyncSession, waba_ids: Iterable[str | None]) -> dict[str, AccountStatus]:
    """The stored states of these WABAs, by WABA id (for /readyz, /metrics, doctor, the dashboard)."""
    wanted = sorted({w for w in waba_ids if w})
    if not wanted:
        return {}
    rows = (await session.execute(select(AccountStatus).where(AccountStatus.waba_id.in_(wanted)))).scalars().all()
    return {row.waba_id: row for row in rows}


async def recent_events(session: AsyncSession, waba_id: str, since: datetime, limit: int = 5) -> list[AccountEvent]:
    """The WABA's latest events received after `since`, newest first."""
    stmt = (select(AccountEvent).where(AccountEvent.waba_id == waba_id, AccountEvent.received_at >= since)
            .order_by(AccountEvent.id.desc()).limit(limit))
    return list((await session.execute(stmt)).scalars().all())


async def events(session: AsyncSession, waba_id: str) -> list[AccountEvent]:
    """Every recorded event of the WABA, oldest first."""
    return list((await session.execute(select(AccountEvent).where(AccountEvent.waba_id == waba_id).order_by(AccountEvent.id))).scalars())
