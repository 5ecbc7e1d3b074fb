"""Clicks, recorded with grouped commits before the redirect answers.

`/r/{token}` is the busiest public path a broadcast creates (every tap of every recipient, and
the preview fetchers before them). Each request's click joins the batch being written (one
INSERT of all of them, one commit) and the 302 goes out only after that commit: a click is
never lost once its redirect was sent. Repeats of a link within seconds are decided here, in
the batch, against the link's last counted click.
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


@dataclass(frozen=True)
class Request:
    link: Any  # the stored link (links/repository.LINK_COLUMNS)
    client: ClientClass  # of the request alone (a repeat is decided in the batch)
    at: datetime


class ClickRecorder:
    """`await record(link, client)`: the click's class once it is committed."""

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.group: GroupCommit[Request, str] = GroupCommit(self._write, max_batch=max_batch, name="clicks")

    async def record(self, link: Any, client: ClientClass) -> str:
        return await self.group.submit(Request(link, client, utcnow()))

    async def _write(self, batch: list[Request]) -> list[str]:
        async with self.db.transaction() as session:
            kinds = await write_clicks(session, batch)
        for kind in kinds:
            metrics.link_request(kind)
        return kinds


async def write_clicks(session: AsyncSession, batch: list[Request]) -> list[str]:
    """Store a batch of link requests; the class of each (a person's request within
    REPEAT_SECONDS of the link's last counted click is a repeat). `message.clicked` fires for
    each message's first counted click."""
    tokens = list({r.link.token for r in batch if r.client.counted})
    last = await repo.last_counted_clicks(session, tokens)
    clicked_before = await repo.messages_clicked(session, list({r.link.message_id for r in batch if r.client.counted and r.link.message_id}))
    rows, kinds, first_clicks = [], [], []
    for request in batch:
        link, kind, counted = request.link, request.client.kind, request.client.counted
        if counted:
            previous = last.get(link.token)
            if previous is not None and (request.at - previous).total_seconds() < REPEAT_SECONDS:
                kind, counted = "repeat", False
            else:
                last[link.token] = request.at
        if counted and link.message_id and link.message_id not in clicked_before:
            clicked_before.add(link.message_id)
            first_clicks.append(request)
        rows.append({"token": link.token, "project_id": link.project_id, "campaign_id": link.campaign_id, "message_id": link.message_id,
                     "contact_id": link.contact_id, "button_index": link.button_index, "clicked_at": request.at,
                     "client_class": kind, "counted": counted})
        kinds.append(kind)
    await repo.insert_clicks(session, rows)
    for request in first_clicks:
        await _clicked_event(session, request)
    return kinds


async def _clicked_event(session: AsyncSession, request: Request) -> None:
    link = request.link
    data = {
        "submitted_message_id": str(link.message_id),
        "message": {
            "messageId": str(link.message_id), "submitted_message_id": str(link.message_id),
            "contact_id": str(link.contact_id) if link.contact_id else None,
            "campaign_id": str(link.campaign_id) if link.campaign_id else None,
            "campaign_name": await repo.campaign_name(session, link.campaign_id),
            "button_index": link.button_index, "clicked_at": request.at.isoformat().replace("+00:00", "Z"),
        },
    }
    await hooks.emit_if_wanted(session, link.project_id, "message.clicked", data)
