"""The kinds of webhook events Meta sends (a change's `field`), counted as they are applied:
which wacast uses and which it receives but does not use (issue 15, part 6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


class FieldCounts:
    """The fields of one batch of events, each with whether wacast applied it."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, bool]] = Counter()

    def add(self, field: str, handled: bool, n: int = 1) -> None:
        self.counts[(field, handled)] += n


async def record(session: AsyncSession, counts: FieldCounts) -> None:
    """Keep a batch's counts (in the batch's transaction)."""
    return None


@dataclass(frozen=True)
class FieldTotal:
    """How many events of one field wacast has received (`handled`: whether it applies them)."""

    field: str
    handled: bool
    count: int


async def totals(session: AsyncSession) -> list[FieldTotal]:
    """Every field received so far with its count (for /metrics and the dashboard)."""
    return []
