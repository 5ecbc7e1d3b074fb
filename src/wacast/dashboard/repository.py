"""The dashboard's SQL: the read models of its screens (overview, inbox, timelines, keys,
members), the signed-in context, and the few writes whose service is still being written in
another domain (marked so below: the pages switch to that service when it exists)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.links import repository_results as links_results
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageEvent, MessageReaction, Reply
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.models.users import Membership, User


def _funnel_columns() -> list[Any]:
    return [
        func.count().label("submitted"),
        func.count(Message.sent_at).label("sent"),
        func.count(Message.delivered_at).label("delivered"),
        func.count(Message.read_at).label("read"),
        func.sum(case((Message.status == "failed", 1), else_=0)).label("failed"),
        func.count(Message.replied_at).label("replied"),
        func.sum(case((Message.status == "queued", 1), else_=0)).label("queued"),
    ]


async def funnel(session: AsyncSession, project_id: uuid.UUID, since: datetime | None = None, campaign_id: uuid.UUID | None = None) -> dict[str, int]:
    """submitted / sent / delivered / read / failed / replied: each message counts in every
    step it reached (a read message was also sent and delivered)."""
    stmt = select(*_funnel_columns()).where(Message.project_id == project_id)
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    if campaign_id is not None:
        stmt = stmt.where(Message.campaign_id == campaign_id)
    row = (await session.execute(stmt)).one()
    return {k: int(v or 0) for k, v in row._mapping.items()}


async def count_since(session: AsyncSession, project_id: uuid.UUID, since: datetime) -> int:
    return (
        await session.execute(select(func.count()).select_from(Message).where(Message.project_id == project_id, Message.created_at >= since))
    ).scalar_one()


async def recent_failures(session: AsyncSession, project_id: uuid.UUID, limit: int = 8) -> list[Any]:
    return list(
        (
            await session.execute(
                select(Message.id, Message.destination, Message.error_code, Message.error_title, Message.error_detail,
                       Message.failed_at, Campaign.name.label("campaign"), Campaign.id.label("campaign_id"), Message.contact_id)
                .outerjoin(Campaign, Campaign.id == Message.campaign_id)
                .where(Message.project_id == project_id, Message.status == "failed")
                .order_by(Message.failed_at.desc())
                .limit(limit)
            )
        ).all()
    )


async def campaigns_with_counts(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    counts = (
        select(
            Message.campaign_id.label("cid"),
            func.count().label("total"),
            func.count(Message.delivered_at).label("delivered"),
            func.count(Message.read_at).label("read"),
            func.sum(case((Message.status == "failed", 1), else_=0)).label("failed"),
            func.max(Message.created_at).label("last_at"),
        )
        .where(Message.project_id == project_id)
        .group_by(Message.campaign_id)
        .subquery()
    )
    return list(
        (
            await session.execute(
                select(Campaign, Template.name.label("template_name"), Template.language, Template.status.label("template_status"),
                       func.coalesce(counts.c.total, 0).label("total"), func.coalesce(counts.c.delivered, 0).label("delivered"),
                       func.coalesce(counts.c.read, 0).label("read"), func.coalesce(counts.c.failed, 0).label("failed"),
                       counts.c.last_at)
                .join(Template, Template.id == Campaign.template_id)
                .outerjoin(counts, counts.c.cid == Campaign.id)
                .where(Campaign.project_id == project_id)
                .order_by(Campaign.created_at.desc())
            )
        ).all()
    )






async def campaigns_using(session: AsyncSession, template_id: uuid.UUID) -> list[str]:
    return list((await session.execute(select(Campaign.name).where(Campaign.template_id == template_id))).scalars().all())


async def inbox(session: AsyncSession, project_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    """The latest messages with their template, contact, campaign and replies (sandbox inbox)."""
    rows = (
        await session.execute(
            select(Message, Template.components, Template.parameter_format, Contact.name.label("contact_name"),
                   Campaign.name.label("campaign"))
            .outerjoin(Template, Template.id == Message.template_id)
            .join(Contact, Contact.id == Message.contact_id)
            .outerjoin(Campaign, Campaign.id == Message.campaign_id)
            .where(Message.project_id == project_id)
            .order_by(Message.created_at.desc(), Message.id)
            .limit(limit)
        )
    ).all()
    ids = [r.Message.id for r in rows]
    replies: dict[uuid.UUID, list[Reply]] = {i: [] for i in ids}
    if ids:
        for reply in (await session.execute(select(Reply).where(Reply.message_id.in_(ids)).order_by(Reply.received_at, Reply.id))).scalars():
            replies[reply.message_id].append(reply)
    return [
        {"message": r.Message, "components": r.components or [], "parameter_format": r.parameter_format,
         "contact_name": r.contact_name, "campaign": r.campaign, "replies": replies[r.Message.id]}
        for r in rows
    ]


async def message(session: AsyncSession, project_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return (await session.execute(select(Message).where(Message.project_id == project_id, Message.id == message_id))).scalar_one_or_none()


EVENT_ORDER = {"queued": 0, "held": 1, "retry": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5, "replied": 6}


async def contact_timeline(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    """A contact's messages, newest first, each with every status event and the replies."""
    rows = (
        await session.execute(
            select(Message, Campaign.name.label("campaign"), Template.components, Template.parameter_format)
            .outerjoin(Campaign, Campaign.id == Message.campaign_id)
            .outerjoin(Template, Template.id == Message.template_id)
            .where(Message.project_id == project_id, Message.contact_id == contact_id)
            .order_by(Message.created_at.desc())
            .limit(limit)
        )
    ).all()
    ids = [r.Message.id for r in rows]
    events: dict[uuid.UUID, list[MessageEvent]] = {i: [] for i in ids}
    if ids:
        for ev in (await session.execute(select(MessageEvent).where(MessageEvent.message_id.in_(ids)).order_by(MessageEvent.occurred_at, MessageEvent.id))).scalars():
            events[ev.message_id].append(ev)
    for evs in events.values():
        # Providers report whole seconds: within one second, show the ladder's order.
        evs.sort(key=lambda e: (e.occurred_at.replace(microsecond=0), EVENT_ORDER.get(e.kind, 5), e.id))
    reactions: dict[uuid.UUID, str] = {}
    if ids:  # the person's standing reaction on each message (a reaction is not a reply)
        reactions = dict((await session.execute(select(MessageReaction.message_id, MessageReaction.emoji).where(
            MessageReaction.message_id.in_(ids), MessageReaction.emoji.is_not(None)))).all())
    clicked = await links_results.click_outcomes(session, ids)  # the `clicked` outcome beside the ladder
    converted = await links_results.conversion_outcomes(session, ids)
    return [
        {"message": r.Message, "campaign": r.campaign, "events": events[r.Message.id], "components": r.components or [],
         "parameter_format": r.parameter_format, "reaction": reactions.get(r.Message.id),
         "clicked": clicked.get(r.Message.id), "converted": converted.get(r.Message.id)}
        for r in rows
    ]


async def contact_replies(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, limit: int = 100) -> list[Reply]:
    return list(
        (
            await session.execute(
                select(Reply).where(Reply.project_id == project_id, Reply.contact_id == contact_id).order_by(Reply.received_at.desc()).limit(limit)
            )
        ).scalars().all()
    )










async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email.strip().lower()))).scalar_one_or_none()


async def sources(session: AsyncSession, project_id: uuid.UUID) -> list[str]:
    return [
        s for s in (await session.execute(select(Contact.source).where(Contact.project_id == project_id, Contact.source.is_not(None)).distinct().order_by(Contact.source))).scalars().all() if s
    ]


async def daily_by_status(session: AsyncSession, project_id: uuid.UUID, bounds: list[datetime]) -> dict[str, list[int]]:
    """Messages created per day (days given by their midnights, `bounds`), by current status."""
    days = len(bounds) - 1
    out = {s: [0] * days for s in ("read", "delivered", "sent", "queued", "failed")}
    bucket = case(*[(Message.created_at < b, i - 1) for i, b in enumerate(bounds) if i > 0], else_=-1)
    rows = await session.execute(
        select(bucket, Message.status, func.count())
        .where(Message.project_id == project_id, Message.created_at >= bounds[0], Message.created_at < bounds[-1])
        .group_by(bucket, Message.status)
    )
    for index, status, count in rows.all():
        if 0 <= index < days and status in out:
            out[status][index] = int(count)
    return out


# --- the signed-in context (web.load_ctx) and sign-in ---------------------------------------


async def user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def projects_of(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    """(project, role) of every project the user is a member of, by project name."""
    return list(
        (
            await session.execute(
                select(Project, Membership.role)
                .join(Membership, Membership.project_id == Project.id)
                .where(Membership.user_id == user_id)
                .order_by(Project.name)
            )
        ).all()
    )


async def has_project(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return (await session.execute(select(Membership.project_id).where(Membership.user_id == user_id).limit(1))).first() is not None


# --- the sandbox inbox: search and pages ------------------------------------------------------

INBOX_STATUSES = ("queued", "sent", "delivered", "read", "failed", "replied")


def _like_pattern(value: str) -> str:
    """`value` as a LIKE pattern that finds it anywhere, its own % _ and \\ taken literally."""
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _json_texts_contain(dialect: str, column: str, param: str) -> Any:
    """Some `text` value inside the JSON `column` (a message's parameters, a template's body,
    header, footer and buttons) contains the pattern `:param`. Keys and component types are
    not searched (every message has "body"), and non-ASCII is found on both backends."""
    if dialect == "postgresql":
        return text(f"EXISTS (SELECT 1 FROM jsonb_path_query({column}, 'lax $.**.text') AS v(j) "
                    f"WHERE jsonb_typeof(v.j) = 'string' AND (v.j #>> '{{}}') ILIKE :{param} ESCAPE '\\')")
    return text(f"EXISTS (SELECT 1 FROM json_tree({column}) WHERE key = 'text' AND type = 'text' AND value LIKE :{param} ESCAPE '\\')")


def _inbox_filters(dialect: str, project_id: uuid.UUID, q: str, status: str) -> tuple[list[Any], dict[str, str]]:
    conditions: list[Any] = [Message.project_id == project_id]
    params: dict[str, str] = {}
    if status == "replied":
        conditions.append(Message.replied_at.is_not(None))
    elif status:
        conditions.append(Message.status == status)
    q = q.strip()
    if q:
        pattern = _like_pattern(q)
        params["inbox_q"] = pattern
        matches = [
            Contact.name.ilike(pattern, escape="\\"),
            Campaign.name.ilike(pattern, escape="\\"),
            Template.name.ilike(pattern, escape="\\"),
            _json_texts_contain(dialect, "messages.payload", "inbox_q"),
            _json_texts_contain(dialect, "templates.components", "inbox_q"),
            select(Reply.id).where(Reply.message_id == Message.id, Reply.text.ilike(pattern, escape="\\")).exists(),
        ]
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits and all(ch.isdigit() or ch in "+ -()." for ch in q):
            matches.append(Message.destination.like(f"%{digits}%"))  # a number, typed with or without + and spaces
        conditions.append(or_(*matches))
    return conditions, params


async def inbox_page(session: AsyncSession, project_id: uuid.UUID, *, q: str = "", status: str = "", page: int = 1,
                     per_page: int = 25) -> dict[str, Any]:
    """One page of the sandbox inbox, newest first: the messages whose number, contact name,
    campaign, template, parameter or template text, or reply text contains `q`, with `status`
    (or replied); `total` counts them all. The items are shaped as `inbox` returns them."""
    dialect = session.get_bind().dialect.name
    conditions, params = _inbox_filters(dialect, project_id, q, status)

    def joined(stmt: Any) -> Any:
        return (stmt.outerjoin(Template, Template.id == Message.template_id)
                .join(Contact, Contact.id == Message.contact_id)
                .outerjoin(Campaign, Campaign.id == Message.campaign_id)
                .where(*conditions))

    if q.strip():
        total = (await session.execute(joined(select(func.count()).select_from(Message)), params)).scalar_one()
    else:  # nothing joined is searched: count the messages alone
        total = (await session.execute(select(func.count()).select_from(Message).where(*conditions))).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = (
        await session.execute(
            joined(select(Message, Template.components, Template.parameter_format, Contact.name.label("contact_name"),
                          Campaign.name.label("campaign")).select_from(Message))
            .order_by(Message.created_at.desc(), Message.id)
            .offset((page - 1) * per_page)
            .limit(per_page),
            params,
        )
    ).all()
    ids = [r.Message.id for r in rows]
    replies: dict[uuid.UUID, list[Reply]] = {i: [] for i in ids}
    if ids:
        for reply in (await session.execute(select(Reply).where(Reply.message_id.in_(ids)).order_by(Reply.received_at, Reply.id))).scalars():
            replies[reply.message_id].append(reply)
    items = [
        {"message": r.Message, "components": r.components or [], "parameter_format": r.parameter_format,
         "contact_name": r.contact_name, "campaign": r.campaign, "replies": replies[r.Message.id]}
        for r in rows
    ]
    return {"items": items, "total": total, "page": page, "pages": pages, "per_page": per_page,
            "first": (page - 1) * per_page + 1 if items else 0, "last": (page - 1) * per_page + len(items)}
