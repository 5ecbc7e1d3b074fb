"""Drivers of the broadcast engine for tests and one-shot runs (bench): they use only its
public `tick()`; production code never calls them."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.models.campaigns import Campaign


async def run_until_fanned_out(engine: BroadcastEngine, timeout: float = 60.0) -> None:
    """Tick until no running broadcast has contacts left to queue."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await engine.tick()
        async with engine.db.read() as session:
            left = (
                await session.execute(
                    select(Campaign.id).where(Campaign.type == "broadcast", Campaign.status == "running", Campaign.fanout_done_at.is_(None)).limit(1)
                )
            ).first()
        if left is None:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("broadcasts did not finish fanning out")
