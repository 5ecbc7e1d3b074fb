"""The kinds of webhook events Meta sends (a change's `field`), counted as they are applied:
which wacast uses and which it receives but does not use (issue 15, part 6).

CATALOGUE is every field Meta documents for a WhatsApp Business Account's webhooks (webhooks/
reference, 2026), each with what it is and what wacast does with it, or why it does not use it:
data, so the dashboard's settings page and docs/meta-events.md say it in words. The inbound loop
(whatsapp/inbound.py) counts each change with whether it applied it; `record` adds a batch's
counts to the table meta_event_kinds (one upsert per distinct field of the batch, never one per
event), `totals` reads them for /metrics (`wacast_webhook_events_total{field,handled}`) and the
settings page. A field wacast does not use is logged once per process, at INFO.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.core import CounterMetricFamily
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.whatsapp import repository_event_kinds as repo

log = logging.getLogger("wacast.events")


@dataclass(frozen=True)
class FieldInfo:
    field: str
    what: str  # what Meta sends under this field
    applied: bool  # whether wacast applies it
    how: str  # applied: what wacast does; not applied: why not


CATALOGUE: tuple[FieldInfo, ...] = (
    FieldInfo("messages", "Messages people send to the business, and the statuses of the messages it sent", True,
              "statuses move each sent message along sent, delivered, read or failed (pricing kept); inbound messages are "
              "stored as replies on the contact's timeline, opt-out keywords and payloads opt the contact out"),
    FieldInfo("user_preferences", "A person stopped or resumed marketing messages from the business", True,
              "the contact is opted out of marketing (stop) or back in (resume)"),
    FieldInfo("message_template_status_update", "A template was approved, rejected, paused, flagged, disabled, archived...", True,
              "the template's status is stored as docs/meta-events.md maps it, with Meta's reason and recommendation; sends are "
              "accepted, held or refused accordingly; customer webhook template.status.updated"),
    FieldInfo("message_template_quality_update", "A template's quality score changed (GREEN, YELLOW, RED, UNKNOWN)", True,
              "the new quality is stored on the template with the previous one, and shown"),
    FieldInfo("template_category_update", "Meta recategorised a template, or will in 24 hours", True,
              "the new category is stored with the previous one (an impending change with its date), and shown; UTILITY to "
              "MARKETING holds the template's sends until a manager accepts it (on_category_change); customer webhook "
              "template.category_changed"),
    FieldInfo("message_template_components_update", "A template's components were edited", True,
              "what Meta reports is kept on the template and shown; the project's next template sync fetches the new components"),
    FieldInfo("account_update", "The WhatsApp Business Account was restricted, disabled, banned, reinstated, verified...", True,
              "restrictions and ban states are recorded per WABA; those that block sending halt it until lifted"),
    FieldInfo("account_alerts", "Alerts on a number's messaging limit, business profile and Official Business Account status", False,
              "informational: nothing wacast sends depends on it (the messaging tier is part of the send policy)"),
    FieldInfo("account_review_update", "The WhatsApp Business Account was reviewed against Meta's policies", False,
              "a review outcome that affects sending arrives as account_update, which wacast applies"),
    FieldInfo("business_capability_update", "Capability changes of the account or portfolio (messaging limit, number limit)", False,
              "the messaging tier is set in the send policy; wacast does not read it from Meta yet"),
    FieldInfo("phone_number_name_update", "The outcome of a business number's display name review", False,
              "wacast does not manage display names"),
    FieldInfo("phone_number_quality_update", "A business number was flagged or unflagged for quality, or its messaging limit changed", True,
              "the number's rating is kept over time with the portfolio's messaging limit; while it is down, marketing "
              "broadcasts on it slow or pause by the project's on_quality_drop (docs/number-quality.md)"),
    FieldInfo("security", "Two-step verification PIN changes and resets of a business number", False,
              "wacast does not manage the number's PIN"),
    FieldInfo("flows", "WhatsApp Flows: status changes and endpoint health", False, "wacast sends no Flows"),
    FieldInfo("message_echoes", "Messages the business sent from another app on the same number", False,
              "wacast keeps only the messages it sends itself"),
    FieldInfo("smb_message_echoes", "Messages sent from the WhatsApp Business app by a business using it beside the Cloud API", False,
              "wacast keeps only the messages it sends itself"),
    FieldInfo("smb_app_state_sync", "The contacts of the WhatsApp Business app (coexistence)", False,
              "contacts come into wacast by import, the API and inbound messages, not from the app's address book"),
    FieldInfo("history", "Past chats of a WhatsApp Business app number onboarded by a solution provider", False,
              "wacast does not import the app's chat history"),
    FieldInfo("group_lifecycle_update", "A WhatsApp group was created or deleted (Groups API)", False, "wacast does not use groups"),
    FieldInfo("group_participants_update", "People joined or left a WhatsApp group (Groups API)", False, "wacast does not use groups"),
    FieldInfo("group_settings_update", "A WhatsApp group's subject, description or picture changed (Groups API)", False,
              "wacast does not use groups"),
    FieldInfo("group_status_update", "A WhatsApp group's status changed (Groups API)", False, "wacast does not use groups"),
    FieldInfo("calls", "WhatsApp voice calls (Calling API): connect, terminate, status", False, "wacast does not handle calls"),
    FieldInfo("partner_solutions", "The status of a Multi-Partner Solution", False,
              "for solution partners; a wacast install is run by the business itself"),
    FieldInfo("payment_configuration_update", "Payment configurations (Payments API India and Brazil) changed", False,
              "wacast sends no payment messages"),
    FieldInfo("automatic_events", "Purchase or lead events detected in chats started from a click-to-WhatsApp ad", False,
              "wacast does not report ad conversions"),
    FieldInfo("messaging_handovers", "Control of a conversation passed between apps (handover protocol)", False,
              "wacast is the only app answering on its numbers"),
    FieldInfo("tracking_events", "Tracking events Meta reports for messages (such as link clicks)", False,
              "wacast does not store them"),
)
BY_FIELD: dict[str, FieldInfo] = {info.field: info for info in CATALOGUE}
APPLIED = frozenset(info.field for info in CATALOGUE if info.applied)

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OTHER = "(unreadable field name)"  # a field that is no name at all: counted, under this one
_logged: set[str] = set()  # unused fields logged by this process


def field_name(field: object) -> str:
    """A field as it is counted: Meta's names are short snake_case; anything else is one bucket."""
    return field if isinstance(field, str) and _FIELD_NAME.fullmatch(field) else OTHER


def about(field: str) -> FieldInfo:
    """What wacast knows of a field (one Meta does not document yet: received, not used)."""
    return BY_FIELD.get(field) or FieldInfo(field, "A field wacast does not know (not in Meta's list when this version was made)",
                                            False, "wacast does not know this field")


class FieldCounts:
    """The fields of one batch of events, each with whether wacast applied it."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, bool]] = Counter()

    def add(self, field: str, handled: bool, n: int = 1) -> None:
        self.counts[(field_name(field), handled)] += n

    def rows(self) -> list[tuple[str, bool, int]]:
        """One (field, handled, count) per field: a field applied by one event and not by
        another in the same batch counts as applied."""
        merged: dict[str, tuple[bool, int]] = {}
        for (field, handled), n in self.counts.items():
            was_handled, total = merged.get(field, (False, 0))
            merged[field] = (was_handled or handled, total + n)
        return [(field, handled, n) for field, (handled, n) in sorted(merged.items()) if n > 0]


def _log_unused(field: str) -> None:
    if field in _logged:
        return
    _logged.add(field)
    log.info("Meta webhook field %s received; wacast does not use it (%s). Counted in /metrics "
             "(wacast_webhook_events_total) and on the dashboard's settings page.", field, about(field).how)


async def record(session: AsyncSession, counts: FieldCounts, now: datetime | None = None) -> None:
    """Keep a batch's counts (in the batch's transaction): one statement per distinct field."""
    rows = counts.rows()
    if not rows:
        return
    await repo.add_counts(session, rows, now or utcnow())
    for field, handled, _ in rows:
        if not handled:
            _log_unused(field)


@dataclass(frozen=True)
class FieldTotal:
    """How many events of one field wacast has received (`handled`: whether it applies them)."""

    field: str
    handled: bool
    count: int
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None

    @property
    def info(self) -> FieldInfo:
        return about(self.field)


async def totals(session: AsyncSession) -> list[FieldTotal]:
    """Every field received so far with its count (for /metrics and the dashboard)."""
    return [FieldTotal(k.field, k.handled, k.count, k.first_seen_at, k.last_seen_at) for k in await repo.all_kinds(session)]


def metric_family(fields: list[FieldTotal]) -> CounterMetricFamily:
    """`wacast_webhook_events_total{field,handled}` for /metrics (ops/snapshot.families)."""
    family = CounterMetricFamily("wacast_webhook_events", "Changes of Meta's webhooks received, by field, and whether wacast applies the field.",
                                 labels=["field", "handled"])
    for total in fields:
        family.add_metric([total.field, "true" if total.handled else "false"], total.count)
    return family


# Meta retries an unacknowledged webhook for up to 7 days; a stored body is the duplicate check
# of its retries, so none is forgotten sooner.
RETENTION_MIN_DAYS = 8
RETENTION_DEFAULT_DAYS = 30


async def purge_stored_events(session: AsyncSession, days: int = RETENTION_DEFAULT_DAYS, now: datetime | None = None) -> int:
    """Forget stored webhook bodies (inbound_events) processed more than `days` ago (at least
    RETENTION_MIN_DAYS; 0 or less keeps them for ever). The counts of meta_event_kinds stay."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=max(days, RETENTION_MIN_DAYS))
    return await repo.purge_processed_inbound_events(session, cutoff)
