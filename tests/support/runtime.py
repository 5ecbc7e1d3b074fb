"""Drivers for the runtime room's loops in tests: they call the loops' public round (`tick`)."""

from __future__ import annotations

from wacast.webhooks.tasks import WebhookSender


async def deliver_all(sender: WebhookSender, max_rounds: int = 1000) -> int:
    """Deliver everything due now; returns the attempts made."""
    total = 0
    for _ in range(max_rounds):
        done = await sender.tick()
        if not done:
            break
        total += done
    return total
