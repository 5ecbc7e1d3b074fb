"""The budget policy (pure, no I/O): whether the next batch of a broadcast fits its budget and
the project's monthly one, when the owner is warned (80 %), and the words of a pause.

`spent` is what the budget has already used: the cost of the messages Meta priced (at the rate
card in force at each one's time) plus the estimate of those queued or sent and not yet priced;
`next_batch` is the estimate of the batch about to be queued. A batch that would take spent
past the budget is not queued: the broadcast pauses with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from wacast.billing.pricing import money

WARN_SHARE_PERCENT = 80


@dataclass(frozen=True)
class Verdict:
    state: str  # ok | warn | exceed
    used_micros: int  # spent + the next batch
    budget_micros: int

    @property
    def percent(self) -> int:
        return int(self.used_micros * 100 // self.budget_micros) if self.budget_micros > 0 else 100


def judge(budget_micros: int, spent_micros: int, next_batch_micros: int) -> Verdict:
    """exceed: spent + next batch is over the budget; warn: it reaches 80 % of it; else ok."""
    used = spent_micros + next_batch_micros
    if used > budget_micros:
        return Verdict("exceed", used, budget_micros)
    if used * 100 >= budget_micros * WARN_SHARE_PERCENT:
        return Verdict("warn", used, budget_micros)
    return Verdict("ok", used, budget_micros)


def month_of(at: datetime) -> str:
    """The budget month of a time: the calendar month in UTC ("2026-12")."""
    return at.astimezone(UTC).strftime("%Y-%m")


def month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month_start(at: datetime) -> datetime:
    start = month_start(at)
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def scope_words(scope: str) -> str:
    return "the project's monthly budget" if scope == "month" else "this broadcast's budget"


def pause_reason(scope: str, verdict: Verdict, spent_micros: int, currency: str) -> str:
    """The broadcast's status_reason when a budget stops it."""
    return (f"paused: budget: the next batch would take {scope_words(scope)} past {money(verdict.budget_micros)} {currency} "
            f"(spent {money(spent_micros)}, with the next batch {money(verdict.used_micros)}); raise the budget, then resume")


def warning_words(scope: str, verdict: Verdict, currency: str) -> str:
    return f"{scope_words(scope)} is {verdict.percent} % used: {money(verdict.used_micros)} of {money(verdict.budget_micros)} {currency}"
