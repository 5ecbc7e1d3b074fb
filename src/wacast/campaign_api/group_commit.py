"""Group commit for the campaign API: many accepted requests, one transaction.

Each request is validated on its own first (campaign_api/service.py: nothing is written for a
rejection). What is left is the write: upsert the contact, tag it, queue the message. Doing
that in one transaction per request makes the durable commit (an fsync) and the per-statement
round trips the cost of every request. Here the writes of all requests that arrive while a
transaction is running wait for it, then go together in the next one: one SELECT ... FOR
UPDATE of their contacts, one executemany per table, one commit. A request still gets its 200
only after the commit that holds its message (invariant 1), and a batch of one is written at
once: at low load nothing waits.

Checks that depend on the contact (opted out, blocked, `$Name` parameters) run inside the
transaction on the locked rows, per request, in arrival order; a request they reject gets its
4xx and writes nothing. If the batch transaction itself fails (a unique race with another
process, a lost connection), every request in it is written again on its own, the old way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wacast.api_keys import service as api_keys
from wacast.contacts import consent_policy
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts.service import consent_row
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.links import send_links
from wacast.links import service as links
from wacast.messages import repository as messages_repo
from wacast.templates import statuses as template_statuses
from wacast.templates.components import build_components
from wacast.webhooks import events as hooks

if TYPE_CHECKING:
    from wacast.campaign_api.service import CampaignApiService

log = logging.getLogger("wacast.ingest")

MAX_BATCH = 256


@dataclass
class Accepted:
    message_id: uuid.UUID
    ignored: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Pending:
    identity: Any
    snapshot: Any
    request: Any
    destination: str
    attributes: dict[str, str]
    ignored_attrs: list[str]
    future: asyncio.Future = field(repr=False)
    tracking: Any = None  # links/send_links.SendLinks: the campaign's tracked links, or None


class _Retry(Exception):
    """The batch met a concurrent insert of the same contact: write each request alone."""


class GroupCommit:
    def __init__(self, service: CampaignApiService, max_batch: int = MAX_BATCH) -> None:
        self.service = service
        self.db = service.db
        self.max_batch = max_batch
        self.pending: list[Pending] = []
        self.task: asyncio.Task | None = None
        self.batches = 0
        self.written = 0

    async def submit(self, identity, snapshot, request, destination, attributes, ignored_attrs, tracking=None):  # noqa: ANN001, ANN201
        future = asyncio.get_running_loop().create_future()
        self.pending.append(Pending(identity, snapshot, request, destination, attributes, ignored_attrs, future, tracking))
        if self.task is None or self.task.done():
            # A task of its own, so that a cancelled request never strands the others.
            self.task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let requests that arrived in the same loop turn join the first batch
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                await self._write(batch)
            except Exception as error:  # never leave a request waiting
                log.exception("group commit failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)

    async def _write(self, batch: list[Pending]) -> None:
        try:
            # A grouped hot path: the batch opens its own transaction (no request owns it),
            # and each request waits for the commit that holds its writes.
            async with self.db.transaction() as session:
                outcomes = await self._write_in(session, batch)
        except Exception as error:
            if not isinstance(error, _Retry):
                log.warning("batch of %d failed (%s); writing each request alone", len(batch), type(error).__name__)
            for item in batch:
                if item.future.done():
                    continue
                try:
                    item.future.set_result(await self.service._write_one(
                        item.identity, item.snapshot, item.request, item.destination, item.attributes, item.ignored_attrs, item.tracking))
                except Exception as single_error:  # noqa: BLE001 - handed to the request
                    item.future.set_exception(single_error)
            return
        self.batches += 1
        self.written += len(batch)
        for item, outcome in outcomes:
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def _tags(self, session, project_id: uuid.UUID) -> dict[str, uuid.UUID]:  # noqa: ANN001
        return await contacts_repo.cached_tag_ids(session, project_id)

    async def _write_in(self, session, batch: list[Pending]) -> list[tuple[Pending, Any]]:  # noqa: ANN001
        now = utcnow()
        found = await contacts_repo.lock_many(session, [(p.identity.project_id, p.destination) for p in batch])
        contacts: dict[tuple[uuid.UUID, str], dict[str, Any]] = {
            key: {"id": row.id, "name": row.name, "source": row.source, "opted_in": row.opted_in, "blocked": row.blocked,
                  "attributes": dict(row.attributes or {}), "new": False, "touched": False, "consent": bool(row.marketing_consent)}
            for key, row in found.items()
        }
        tags_by_project: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        outcomes: list[tuple[Pending, Any]] = []
        messages: list[dict[str, Any]] = []
        contact_tags: list[dict[str, Any]] = []
        link_rows: list[dict[str, Any]] = []
        keys_used: set[uuid.UUID] = set()
        consents: list[dict[str, Any]] = []  # marketing_consent given with the requests (contacts/consent.py)
        consent_required: dict[uuid.UUID, bool] = {}
        for item in batch:
            project_id = item.identity.project_id
            request = item.request
            key = (project_id, item.destination)
            contact = contacts.get(key)
            if contact is not None and (not contact["opted_in"] or contact["blocked"]):
                outcomes.append((item, WacastError(
                    "Contact has opted out" if not contact["opted_in"] else "Contact is blocked",
                    "CONTACT_OPTED_OUT" if not contact["opted_in"] else "CONTACT_BLOCKED")))
                continue
            if project_id not in consent_required:
                consent_required[project_id] = await consent_repo.cached_required(session, project_id)
            if consent_policy.refused(consent_required[project_id], item.snapshot.template_category,
                                      bool(contact and contact["consent"]), request.consent):
                outcomes.append((item, consent_policy.consent_required_error(item.destination)))
                continue
            merged = {**(contact["attributes"] if contact else {}), **item.attributes}
            name = request.user_name or (contact["name"] if contact else "")
            try:
                components = build_components(item.snapshot.needs, request, name, merged)
                if item.tracking is not None:
                    send_links.plan(components, item.tracking)  # checked before anything of this request is written
            except WacastError as error:
                outcomes.append((item, error))
                continue
            if contact is None:
                contact = {"id": uuid.uuid4(), "name": request.user_name, "source": request.source, "opted_in": True,
                           "blocked": False, "attributes": dict(item.attributes), "new": True, "touched": True, "consent": False}
                contacts[key] = contact
            else:
                contact["name"] = name
                if request.source and not contact["source"]:
                    contact["source"] = request.source
                contact["attributes"] = merged
                contact["touched"] = True
            if request.consent is not None:
                consents.append(consent_row(project_id, contact["id"], request.consent, "campaign_api", now))
                contact["consent"] = request.consent.granted
            if project_id not in tags_by_project:
                tags_by_project[project_id] = await self._tags(session, project_id)
            tag_ids = {t: tags_by_project[project_id][t] for t in dict.fromkeys(request.tags) if t in tags_by_project[project_id]}
            contact_tags.extend({"contact_id": contact["id"], "tag_id": tag_id} for tag_id in tag_ids.values())
            snapshot = item.snapshot
            message_id = uuid.uuid4()
            # A token per tracked link, minted in this transaction (links/send_links.py).
            components, rows = links.with_links(item.tracking, project_id=project_id, message_id=message_id,
                                                contact_id=contact["id"], components=components)
            link_rows.extend(rows)
            messages.append({
                "id": message_id, "project_id": project_id, "campaign_id": snapshot.campaign_id, "contact_id": contact["id"],
                "template_id": snapshot.template_id, "destination": item.destination,
                "payload": {"template": snapshot.template_name, "language": snapshot.template_language,
                            "category": snapshot.template_category, "components": components},
                "held_reason": None if template_statuses.can_send(snapshot.template_status) else f"template {snapshot.template_status} by Meta",
            })
            keys_used.add(item.identity.key_id)
            ignored: dict[str, list[str]] = {}
            unknown_tags = [t for t in dict.fromkeys(request.tags) if t not in tag_ids]
            if unknown_tags:
                ignored["tags"] = unknown_tags
            if item.ignored_attrs:
                ignored["attributes"] = item.ignored_attrs
            outcomes.append((item, Accepted(message_id, ignored)))
        project_of = {c["id"]: k[0] for k, c in contacts.items()}
        phone_of = {c["id"]: k[1] for k, c in contacts.items()}
        new = [{"id": c["id"], "project_id": project_of[c["id"]], "phone": phone_of[c["id"]], "name": c["name"], "source": c["source"],
                "opted_in": True, "blocked": False, "attributes": c["attributes"], "created_at": now, "updated_at": now}
               for c in contacts.values() if c["new"]]
        if new and len(await contacts_repo.insert_many(session, new)) != len(new):
            raise _Retry  # another process created one of these contacts since our read
        if new:  # customer webhooks: contact.created, in this transaction
            for project_id in {row["project_id"] for row in new}:
                await hooks.contacts_created(session, project_id, [r for r in new if r["project_id"] == project_id], via="campaign_api")
        await contacts_repo.update_many(session, [
            {"b_id": c["id"], "b_name": c["name"], "b_source": c["source"], "b_attributes": c["attributes"], "b_now": now}
            for c in contacts.values() if c["touched"] and not c["new"]
        ])
        await contacts_repo.add_tags_many(session, contact_tags)
        await consent_repo.record_many(session, consents)
        await messages_repo.insert_queued_many(session, messages, now)
        await links.insert_links(session, link_rows)
        for key_id in keys_used:
            await api_keys.touch(session, key_id, now)
        return outcomes
