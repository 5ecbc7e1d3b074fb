"""Which message earned a conversion (pure, no I/O): last touch, with priority.

Within the attribution window before the conversion, the most recent message the contact
CLICKED wins over any newer message that was only read; without a click, the most recent
READ; else the most recent DELIVERED. A message sent after the conversion never counts, nor
does a touch older than the window (each message's own campaign window).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_WINDOW_DAYS = 7
PRIORITY = ("clicked", "read", "delivered")


@dataclass(frozen=True)
class Touch:
    """A message the contact received, with when it reached each step (None: not reached)."""

    message_id: uuid.UUID
    campaign_id: uuid.UUID | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    clicked_at: datetime | None
    window: timedelta = timedelta(days=DEFAULT_WINDOW_DAYS)

    def at(self, step: str) -> datetime | None:
        return {"clicked": self.clicked_at, "read": self.read_at, "delivered": self.delivered_at}[step]


@dataclass(frozen=True)
class Attribution:
    touch: Touch | None
    step: str  # clicked | read | delivered | none


def attribute(touches: list[Touch], occurred_at: datetime) -> Attribution:
    """The message (and the step of it) that earned a conversion at `occurred_at`."""
    for step in PRIORITY:
        best: tuple[datetime, Touch] | None = None
        for touch in touches:
            when = touch.at(step)
            if when is None or touch.sent_at is None or touch.sent_at > occurred_at:
                continue
            if when > occurred_at or occurred_at - when > touch.window:
                continue
            if best is None or when > best[0]:
                best = (when, touch)
        if best is not None:
            return Attribution(best[1], step)
    return Attribution(None, "none")
