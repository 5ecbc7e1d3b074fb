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
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.kit.errors import NotFound, WacastError
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.meta.errors import meaning

OUTCOMES = ("SENT", "DELIVERED", "READ", "FAILED", "REPLIED")
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


async def find_campaign(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Campaign:
    """A campaign of the project by id or by name; 404 CAMPAIGN_NOT_FOUND otherwise."""
    try:
        cond = Campaign.id == uuid.UUID(str(ref))
    except ValueError:
        if "\x00" in str(ref) or len(str(ref)) > 200:
            # No campaign name can hold a NUL (PostgreSQL refuses it in a query) or be that long.
            raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)[:200]}) from None
        cond = Campaign.name == str(ref)
    campaign = (await session.execute(select(Campaign).where(Campaign.project_id == project_id, cond))).scalar_one_or_none()
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)})
    return campaign


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def summary(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Summary:
    """Status counts and delivered/read/failed/replied rates of one campaign."""
    campaign = await find_campaign(session, project_id, ref)
    by_status = dict(
        (await session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign.id).group_by(Message.status))).all()
    )
    row = (
        await session.execute(
            select(
                func.count(Message.sent_at), func.count(Message.delivered_at), func.count(Message.read_at), func.count(Message.replied_at)
            ).where(Message.campaign_id == campaign.id)
        )
    ).one()
    sent, delivered, read, replied = (int(v or 0) for v in row)
    failed = int(by_status.get("failed", 0))
    total = sum(by_status.values())
    return Summary(
        campaign.id, campaign.name, campaign.status, total,
        {s: int(by_status.get(s, 0)) for s in ("queued", "sent", "delivered", "read", "failed")},
        sent, delivered, read, failed, replied,
        _rate(delivered, sent), _rate(read, sent), _rate(failed, total), _rate(replied, sent),
    )


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
    project = await session.get(Project, project_id)
    try:
        zone = ZoneInfo(project.timezone if project else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    bounds = _day_bounds(start, end, zone)
    days = [Day(start + timedelta(days=i)) for i in range(len(bounds) - 1)]
    for metric, column in (
        ("sent", Message.sent_at), ("delivered", Message.delivered_at), ("read", Message.read_at),
        ("failed", Message.failed_at), ("replied", Message.replied_at),
    ):
        bucket = case(*[(column < b, i - 1) for i, b in enumerate(bounds) if i > 0], else_=-1)
        rows = await session.execute(
            select(bucket, func.count())
            .where(Message.campaign_id == campaign.id, column >= bounds[0], column < bounds[-1])
            .group_by(bucket)
        )
        for index, count in rows.all():
            if 0 <= index < len(days):
                setattr(days[index], metric, int(count))
    return days


async def failures(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> list[FailureGroup]:
    """Failed messages grouped by Meta's error code, most frequent first, with what it means."""
    campaign = await find_campaign(session, project_id, ref)
    rows = await session.execute(
        select(Message.error_code, func.max(Message.error_title), func.count())
        .where(Message.campaign_id == campaign.id, Message.status == "failed")
        .group_by(Message.error_code)
        .order_by(func.count().desc())
    )
    out = []
    for code, title, count in rows.all():
        what, todo = meaning(code)
        out.append(FailureGroup(code, title, int(count), what, todo))
    return out


def _outcome_condition(outcome: str):  # noqa: ANN202
    outcome = outcome.upper()
    if outcome == "REPLIED":
        return Message.replied_at.is_not(None)
    if outcome in ("SENT", "DELIVERED", "READ", "FAILED"):
        return Message.status == outcome.lower()
    raise WacastError(f"outcome must be one of {', '.join(OUTCOMES)}", "INVALID_OUTCOME", {"field": "outcome", "allowed": list(OUTCOMES)})


async def audience(
    session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, outcome: str, *, cursor: str | None = None, limit: int | None = None
) -> Page:
    """The contacts of a campaign by outcome, newest message first: SENT, DELIVERED, READ and
    FAILED are the message's current status; REPLIED is every message that got an answer."""
    condition = _outcome_condition(outcome)
    limit = page_limit(limit)
    campaign = await find_campaign(session, project_id, ref)
    stmt = (
        select(Message, Contact.phone, Contact.name)
        .join(Contact, Contact.id == Message.contact_id)
        .where(Message.campaign_id == campaign.id, condition)
    )
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    rows = (await session.execute(stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AudienceMember(
            m.id, m.contact_id, phone, name, m.status, m.error_code, m.error_title, m.created_at, m.sent_at, m.delivered_at,
            m.read_at, m.failed_at, m.replied_at,
        )
        for m, phone, name in rows
    ]
    last = rows[-1][0] if rows else None
    return Page(items, encode_cursor(last.created_at, last.id) if more and last else None)
