"""Campaign analytics: the numbers behind the REST API and the dashboard.

Every function takes an AsyncSession, the project's id and a campaign (its id or its name),
reads only, and returns plain dataclasses/dicts. A campaign of another project is 404.

Counts are of messages. `sent`, `delivered`, `read` count messages that reached at least that
step (a read message was also delivered and sent), from their timestamps; `failed` counts
messages whose status is failed; `replied` messages that got an answer. Rates are shares of
`sent` (a message that never left wacast cannot be delivered).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns import repository as repo
from wacast.kit.csv import rows_to_text
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.links import repository_results as links_repo
from wacast.links import tracking
from wacast.links.results import campaign_results
from wacast.meta.errors import meaning
from wacast.models.campaigns import Campaign

# MARKETING_LIMITED: held by Meta's per-user marketing limit (131049) now, or failed by it
# after the last deferral: the contacts to try again later (docs/marketing-rules.md).
OUTCOMES = ("SENT", "DELIVERED", "READ", "FAILED", "REPLIED", "CLICKED", "CONVERTED", "MARKETING_LIMITED")
MAX_DAYS = 366


@dataclass
class Summary:
    campaign_id: uuid.UUID
    campaign: str
    status: str
    total: int
    by_status: dict[str, int]  # current status of each message: queued, sent, delivered, read, failed
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int
    delivered_rate: float | None
    read_rate: float | None
    failed_rate: float | None
    replied_rate: float | None
    # Tracked links and conversions (links/results.py): clicks, conversions per goal, revenue.
    clicks: dict[str, Any] | None = None
    conversions: dict[str, Any] | None = None
    median_seconds: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Day:
    date: date
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    replied: int = 0


@dataclass
class FailureGroup:
    code: int | None
    title: str | None
    count: int
    meaning: str
    what_to_do: str


@dataclass
class AudienceMember:
    submitted_message_id: uuid.UUID
    contact_id: uuid.UUID
    phone: str
    name: str
    status: str
    error_code: int | None
    error_title: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    # The message's `clicked` outcome (its first counted click, how many) and its conversions.
    clicked_at: datetime | None = None
    clicks: int = 0
    converted_at: datetime | None = None
    conversions: int = 0
    goals: list[str] = field(default_factory=list)
    revenue: dict[str, str] = field(default_factory=dict)


async def find_campaign(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Campaign:
    """A campaign of the project by id or by name; 404 CAMPAIGN_NOT_FOUND otherwise."""
    try:
        campaign = await repo.by_ref(session, project_id, campaign_id=uuid.UUID(str(ref)))
    except ValueError:
        if "\x00" in str(ref) or len(str(ref)) > 200:
            # No campaign name can hold a NUL (PostgreSQL refuses it in a query) or be that long.
            raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)[:200]}) from None
        campaign = await repo.by_ref(session, project_id, name=str(ref))
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)})
    return campaign


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def summary(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Summary:
    """Status counts and delivered/read/failed/replied rates of one campaign."""
    campaign = await find_campaign(session, project_id, ref)
    by_status = await repo.status_counts(session, campaign.id)
    sent, delivered, read, replied = await repo.step_counts(session, campaign.id)
    failed = int(by_status.get("failed", 0))
    total = sum(by_status.values())
    earned = await campaign_results(session, campaign.id, campaign.tracking, delivered)
    return Summary(
        campaign.id, campaign.name, campaign.status, total,
        {s: int(by_status.get(s, 0)) for s in ("queued", "sent", "delivered", "read", "failed")},
        sent, delivered, read, failed, replied,
        _rate(delivered, sent), _rate(read, sent), _rate(failed, total), _rate(replied, sent),
        earned["clicks"], earned["conversions"], earned["median_seconds"],
    )


async def earned(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """What a campaign's tracked links and conversions earned (links/results.py) with its
    tracking settings: the `results` of GET /api/v1/campaigns/{id} and the dashboard's pages."""
    _, delivered, _, _ = await repo.step_counts(session, campaign.id)
    got = await campaign_results(session, campaign.id, campaign.tracking, delivered)
    return {"tracking": tracking.parse(campaign.tracking).as_dict(), "delivered": delivered,
            **{k: got[k] for k in ("clicks", "conversions", "median_seconds")}}


def _day_bounds(start: date, end: date, zone: ZoneInfo) -> list[datetime]:
    """Midnights in the project's zone from `start` to the day after `end`, as aware datetimes."""
    return [datetime.combine(start + timedelta(days=i), time(0), zone) for i in range((end - start).days + 2)]


async def daily(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, start: date, end: date) -> list[Day]:
    """Per day (in the project's time zone, both dates included): messages sent, delivered,
    read, failed and replied that day, by the time each step happened."""
    if end < start:
        raise WacastError("`to` is before `from`", "INVALID_DATE_RANGE", {"from": start.isoformat(), "to": end.isoformat()})
    if (end - start).days >= MAX_DAYS:
        raise WacastError(f"At most {MAX_DAYS} days at once", "INVALID_DATE_RANGE", {"max_days": MAX_DAYS})
    campaign = await find_campaign(session, project_id, ref)
    try:
        zone = ZoneInfo(await repo.project_timezone(session, project_id) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    bounds = _day_bounds(start, end, zone)
    days = [Day(start + timedelta(days=i)) for i in range(len(bounds) - 1)]
    for metric in ("sent", "delivered", "read", "failed", "replied"):
        for index, count in await repo.counts_per_day(session, campaign.id, metric, bounds):
            if 0 <= index < len(days):
                setattr(days[index], metric, count)
    return days


async def failures(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> list[FailureGroup]:
    """Failed messages grouped by Meta's error code, most frequent first, with what it means."""
    campaign = await find_campaign(session, project_id, ref)
    out = []
    for code, title, count in await repo.failure_groups(session, campaign.id):
        what, todo = meaning(code)
        out.append(FailureGroup(code, title, count, what, todo))
    return out


def _outcome_condition(outcome: str) -> str:
    """The outcome, upper case; 400 INVALID_OUTCOME when it is not one of OUTCOMES."""
    outcome = outcome.upper()
    if outcome in OUTCOMES:
        return outcome
    raise WacastError(f"outcome must be one of {', '.join(OUTCOMES)}", "INVALID_OUTCOME", {"field": "outcome", "allowed": list(OUTCOMES)})


async def audience(
    session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, outcome: str, *, cursor: str | None = None, limit: int | None = None
) -> Page:
    """The contacts of a campaign by outcome, newest message first: SENT, DELIVERED, READ and
    FAILED are the message's current status; REPLIED is every message that got an answer;
    CLICKED every message with a counted tap on a tracked link; CONVERTED every message a
    conversion is attributed to; MARKETING_LIMITED every message held by Meta's marketing limit
    (131049) or failed by it. Each member carries its message's clicks and conversions."""
    outcome = _outcome_condition(outcome)
    limit = page_limit(limit)
    campaign = await find_campaign(session, project_id, ref)
    before = decode_cursor(cursor) if cursor else None
    if outcome in links_repo.AUDIENCES:
        rows = await links_repo.audience_page(session, campaign.id, outcome, before=before, limit=limit + 1)
    else:
        rows = await repo.audience_page(session, campaign.id, outcome, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [m.id for m, _, _ in rows]
    clicked = await links_repo.click_outcomes(session, ids)
    converted = await links_repo.conversion_outcomes(session, ids)
    items = []
    for m, phone, name in rows:
        first_click, clicks = clicked.get(m.id, (None, 0))
        conversion = converted.get(m.id) or {}
        items.append(AudienceMember(
            m.id, m.contact_id, phone, name, m.status, m.error_code, m.error_title, m.created_at, m.sent_at, m.delivered_at,
            m.read_at, m.failed_at, m.replied_at, first_click, clicks, conversion.get("first_at"), conversion.get("count", 0),
            conversion.get("goals", []), conversion.get("revenue", {}),
        ))
    last = rows[-1][0] if rows else None
    return Page(items, encode_cursor(last.created_at, last.id) if more and last else None)


# --- the audience as CSV (the dashboard's and the REST API's export) --------------------------

AUDIENCE_COLUMNS = ["submitted_message_id", "phone", "name", "status", "error_code", "error_meaning", "created_at", "sent_at",
                    "delivered_at", "read_at", "failed_at", "replied_at", "clicked_at", "clicks", "converted_at", "conversions",
                    "goals", "revenue"]


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def audience_row(m: AudienceMember) -> list[Any]:
    """One member as the CSV's cells (revenue per currency as "INR 1499.00; USD 5.00")."""
    return [
        m.submitted_message_id, m.phone, m.name, m.status, m.error_code or "",
        meaning(m.error_code)[0] if m.error_code is not None or m.status == "failed" else "",
        *[_when(t) for t in (m.created_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.replied_at, m.clicked_at)],
        m.clicks, _when(m.converted_at), m.conversions, ", ".join(m.goals), "; ".join(f"{c} {v}" for c, v in m.revenue.items()),
    ]


def export_audience_csv(db: Any, project_id: uuid.UUID, campaign_id: uuid.UUID, outcome: str, batch: int = 200) -> AsyncIterator[bytes]:
    """The campaign's audience of one outcome as CSV, streamed page by page (a read session per
    page: the response streams after the request's session has gone), through the one writer."""
    outcome = _outcome_condition(outcome)

    async def chunks() -> AsyncIterator[bytes]:
        yield rows_to_text([AUDIENCE_COLUMNS]).encode()
        cursor = None
        while True:
            async with db.read() as session:
                got = await audience(session, project_id, campaign_id, outcome, cursor=cursor, limit=batch)
            yield rows_to_text([audience_row(m) for m in got.items]).encode()
            cursor = got.next_cursor
            if not cursor:
                return

    return chunks()
