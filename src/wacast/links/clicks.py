"""Clicks, recorded with grouped commits before the redirect answers.

`/r/{token}` is the busiest public path a broadcast creates (every tap of every recipient, and
the preview fetchers before them). Each request joins the batch being written: one lookup of
all the batch's tokens (by primary key), one INSERT of their clicks, one commit, on one
connection; the 302 goes out only after that commit, so a click is never lost once its
redirect was sent. (A lookup of its own per request would hold a pooled connection per
waiting request: under a burst of taps the pool overflowed and connections were opened and
closed per request, 185 redirects/s where the batch does several times that.) Repeats of a
link within seconds are decided here, in the batch, against the link's last counted click.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.engine import Database
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.kit.group_commit import GroupCommit
from wacast.links import repository as repo
from wacast.links.clients import REPEAT_SECONDS, ClientClass
from wacast.webhooks import events as hooks
from wacast.webhooks.outbox import remember_subscribers


@dataclass(frozen=True)
class Request:
    link: Any  # the stored link with its click state (links/repository.links_to_follow)
    client: ClientClass  # of the request alone (a repeat is decided in the batch)
    at: datetime


@dataclass(frozen=True)
class Followed:
    destination: str
    client_class: str


class ClickRecorder:
    """`await follow(token, client)`: where the token leads, once its click is committed;
    None for a token that was never minted (nothing is written for it)."""

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        # Two batches in flight on PostgreSQL: one waits on its round trips while the other is
        # built (one at a time on SQLite, where writers take turns at the write gate anyway).
        # Taps of one link never share the flight (key): each is decided against the other's commit.
        self.group: GroupCommit[tuple[str, ClientClass], Followed | None] = GroupCommit(
            self._write, max_batch=max_batch, name="clicks", in_flight=1 if db.write_gate is not None else 2, key=lambda item: item[0])

    async def follow(self, token: str, client: ClientClass) -> Followed | None:
        return await self.group.submit((token, client))

    async def _write(self, batch: list[tuple[str, ClientClass]]) -> list[Followed | None]:
        now = utcnow()
        async with self.db.transaction() as session:
            found = await repo.links_to_follow(session, list({token for token, _ in batch}))
            requests = [Request(found[token], client, now) for token, client in batch if token in found]
            kinds = iter(await write_clicks(session, requests))
        out = [Followed(found[token].destination, next(kinds)) if token in found else None for token, _ in batch]
        for item in out:
            metrics.link_request(item.client_class if item else "unknown")
        return out


async def write_clicks(session: AsyncSession, batch: list[Request]) -> list[str]:
    """Store a batch of link requests; the class of each (a person's request within
    REPEAT_SECONDS of the link's last counted click is a repeat). `message.clicked` fires for
    each message's first counted click, decided by its message_clicks row (so once, whichever
    batch or process saw the tap). The links carry their click state as read in this
    transaction; the batch updates it as it goes (two taps of one link in one batch)."""
    remember_subscribers(session, across_transactions=True)  # each project's subscriptions read once per few seconds
    last = {r.link.token: r.link.last_counted_at for r in batch if r.link.last_counted_at is not None}
    candidates: dict[Any, Request] = {}  # message id -> the request of its first counted click here
    rows, kinds = [], []
    for request in batch:
        link, kind, counted = request.link, request.client.kind, request.client.counted
        if counted:
            previous = last.get(link.token)
            if previous is not None and (request.at - previous).total_seconds() < REPEAT_SECONDS:
                kind, counted = "repeat", False
            else:
                last[link.token] = request.at
        if counted and link.message_id and not link.message_clicked:
            candidates.setdefault(link.message_id, request)
        rows.append({"token": link.token, "project_id": link.project_id, "campaign_id": link.campaign_id, "message_id": link.message_id,
                     "contact_id": link.contact_id, "button_index": link.button_index, "clicked_at": request.at,
                     "client_class": kind, "counted": counted})
        kinds.append(kind)
    await repo.insert_clicks(session, rows)
    firsts = await repo.claim_first_clicks(session, {message_id: r.at for message_id, r in candidates.items()})
    await _clicked_events(session, [r for message_id, r in candidates.items() if message_id in firsts])
    return kinds


async def _clicked_events(session: AsyncSession, first_clicks: list[Request]) -> None:
    """`message.clicked` for each message's first click, for the projects that subscribe to it
    (the subscriptions read once per project, the campaign names once per batch)."""
    wanted = [r for r in first_clicks if await hooks.wants(session, r.link.project_id, "message.clicked")]
    names = await repo.campaign_names(session, {r.link.campaign_id for r in wanted if r.link.campaign_id})
    for request in wanted:
        link = request.link
        await hooks.emit_if_wanted(session, link.project_id, "message.clicked", {
            "submitted_message_id": str(link.message_id),
            "message": {
                "messageId": str(link.message_id), "submitted_message_id": str(link.message_id),
                "contact_id": str(link.contact_id) if link.contact_id else None,
                "campaign_id": str(link.campaign_id) if link.campaign_id else None,
                "campaign_name": names.get(link.campaign_id),
                "button_index": link.button_index, "clicked_at": request.at.isoformat().replace("+00:00", "Z"),
            },
        })
