"""The queries of a dry run (campaigns/broadcasts/dry_run.py, campaign_api/estimate.py): the
destinations a broadcast would send to, each once, skipping whom the engine skips (opted out,
blocked, at the frequency cap, without a required consent, no number, a changed number), so
that their countries can be counted; and the contacts a list of numbers already is."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contacts import Contact, FormerNumber
from wacast.models.messages import Message, MessageStatus
from wacast.models.templates import Template

CHUNK = 500  # phones per IN list (SQLite caps a statement's values)


def _recent_marketing(since: datetime) -> Any:
    """The contact's marketing messages (not failed) since `since`: the frequency cap's count."""
    return (
        select(func.count()).select_from(Message).join(Template, Template.id == Message.template_id)
        .where(Message.contact_id == Contact.id, Message.created_at >= since, Template.category == "MARKETING",
               Message.status != MessageStatus.failed)
        .scalar_subquery()
    )


def _skipped(cap_since: datetime | None, cap: int, consent_needed: bool) -> list[Any]:
    """Conditions over a sendable contact that the engine skips it for (cap, consent)."""
    out: list[Any] = []
    if cap_since is not None:
        out.append(_recent_marketing(cap_since) >= cap)
    if consent_needed:
        out.append(Contact.marketing_consent.is_(False))
    return out


async def segment_destinations(
    session: AsyncSession, members: Any, sendable: Any, *, cap_since: datetime | None, cap: int, consent_needed: bool, by_user_id: bool,
) -> list[str]:
    """The destination (phone, else BSUID where allowed) of each sendable member the engine
    would queue a message for."""
    moved = exists(select(FormerNumber.phone).where(FormerNumber.project_id == Contact.project_id, FormerNumber.phone == Contact.phone))
    reachable = Contact.phone.is_not(None) if not by_user_id else (Contact.phone.is_not(None) | Contact.user_id.is_not(None))
    where = [members, sendable, reachable, not_(moved), *(not_(c) for c in _skipped(cap_since, cap, consent_needed))]
    rows = await session.execute(select(func.coalesce(Contact.phone, Contact.user_id)).where(and_(*where)))
    return [r for r in rows.scalars().all() if r]


async def csv_destinations(
    session: AsyncSession, project_id: uuid.UUID, phones: list[str], *, cap_since: datetime | None, cap: int, consent_needed: bool,
) -> list[str]:
    """Of an uploaded audience's numbers, those the engine would queue a message for: not a
    contact who opted out, is blocked, is at the cap or (when needed) has no consent; not a
    former number; and, when consent is needed, only numbers that are consenting contacts."""
    out: list[str] = []
    skipped = _skipped(cap_since, cap, consent_needed)
    for start in range(0, len(phones), CHUNK):
        part = phones[start : start + CHUNK]
        sendable = and_(Contact.opted_in.is_(True), Contact.blocked.is_(False), *(not_(c) for c in skipped))
        rows = (await session.execute(
            select(Contact.phone, sendable).where(Contact.project_id == project_id, Contact.phone.in_(part)))).all()
        known = {phone: bool(ok) for phone, ok in rows}
        moved = set((await session.execute(
            select(FormerNumber.phone).where(FormerNumber.project_id == project_id, FormerNumber.phone.in_(part)))).scalars().all())
        for phone in part:
            if phone in moved:
                continue
            if phone in known:
                if known[phone]:
                    out.append(phone)
            elif not consent_needed:  # a new contact: sent to, unless it needs a consent it cannot have
                out.append(phone)
    return out


async def contacts_by_phone(session: AsyncSession, project_id: uuid.UUID, phones: list[str]) -> dict[str, Any]:
    """phone -> (opted_in, blocked, marketing_consent) of the project's contacts among `phones`."""
    out: dict[str, Any] = {}
    for start in range(0, len(phones), CHUNK):
        rows = await session.execute(
            select(Contact.phone, Contact.opted_in, Contact.blocked, Contact.marketing_consent)
            .where(Contact.project_id == project_id, Contact.phone.in_(phones[start : start + CHUNK])))
        out.update({r.phone: r for r in rows.all()})
    return out
