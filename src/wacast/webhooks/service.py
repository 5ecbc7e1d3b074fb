"""Webhook subscriptions of a project: create, list, change, delete, the delivery log.

Functions take an AsyncSession and the project's id, flush and never commit, and return
plain dicts. URLs are checked on every create/update: http(s) only, and hosts resolving to
private, loopback or link-local addresses are refused unless
WACAST_ALLOW_PRIVATE_WEBHOOK_HOSTS=1.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as secrets_mod
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.net import (
    ForbiddenAddress,
    InvalidUrl,
    OutboundGuard,
    Unreachable,
    parse_url,
)
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.models.webhooks import WebhookDelivery, WebhookEvent, WebhookSubscription
from wacast.webhooks import outbox, repository
from wacast.webhooks.outbox import TOPICS

MAX_SUBSCRIPTIONS = 20
TEST_TOPIC = "webhook.test"


def sign(secret: str, body: bytes) -> str:
    """X-Wacast-Signature: hex HMAC-SHA256 of the raw body with the subscription's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def check_url(url: Any, *, allow_private: bool, field: str = "url", guard: OutboundGuard | None = None) -> str:
    """An absolute http(s) URL whose host resolves only to public addresses (unless allowed).

    The same rules are applied again at every delivery, where the connection is pinned to the
    addresses checked (kit/net); this check only gives the customer a clear 400 now.
    """
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise WacastError("url is required (http or https, at most 2000 characters)", "WEBHOOK_URL_INVALID", {"field": field})
    url = text.check(field, url.strip(), max_len=2000)
    try:
        if allow_private:
            parse_url(url)  # no DNS: a receiver on your own network may resolve only there
        else:
            await (guard or OutboundGuard()).check(url)
    except InvalidUrl as error:
        raise WacastError(f"url must be an absolute http or https URL ({error})", "WEBHOOK_URL_INVALID", {"field": field}) from None
    except ForbiddenAddress:
        raise WacastError(
            "Webhook URL must be publicly reachable (private, loopback and link-local hosts are refused)",
            "WEBHOOK_URL_FORBIDDEN", {"field": field},
        ) from None
    except Unreachable:
        raise WacastError("url's host does not resolve", "WEBHOOK_URL_UNREACHABLE", {"field": field}) from None
    return url


def _topics(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise WacastError(f"topics must be a non-empty list of: {', '.join(TOPICS)} (or \"*\")", "WEBHOOK_TOPICS_INVALID", {"field": "topics", "allowed": list(TOPICS)})
    unknown = [t for t in value if t not in TOPICS and t != "*"]
    if unknown:
        raise WacastError(f"Unknown topic(s): {', '.join(unknown)}", "WEBHOOK_TOPICS_INVALID", {"field": "topics", "unknown": unknown, "allowed": list(TOPICS)})
    return list(dict.fromkeys(value))


def _secret(value: Any) -> str:
    if value is None:
        return "whsec_" + secrets_mod.token_urlsafe(32)
    if not isinstance(value, str) or not 16 <= len(value) <= 200:
        raise WacastError("secret must be 16 to 200 characters (leave it out to have one generated)", "WEBHOOK_SECRET_INVALID", {"field": "secret"})
    return text.check("secret", value, max_len=200)


def _description(value: Any) -> str:
    # The base text rule (kit/text.py): a NUL here was a 500 on PostgreSQL.
    return text.check("description", str(value or ""), max_len=64 * 1024)[:500]


def as_dict(sub: WebhookSubscription, *, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": str(sub.id), "url": sub.url, "topics": list(sub.topics or []), "description": sub.description,
        "active": sub.active, "disabled_reason": sub.disabled_reason, "disabled_at": sub.disabled_at,
        "failing_since": sub.failing_since, "created_at": sub.created_at, "updated_at": sub.updated_at,
    }
    out["secret"] = sub.secret if with_secret else (sub.secret[:6] + "..." if sub.secret else None)
    return out


async def _get(session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID) -> WebhookSubscription:
    try:
        sid = uuid.UUID(str(sub_id))
    except ValueError:
        sid = None
    sub = await repository.find_subscription(session, project_id, sid) if sid is not None else None
    if sub is None:
        raise NotFound("Webhook not found", "WEBHOOK_NOT_FOUND", {"id": str(sub_id)})
    return sub


async def create(
    session: AsyncSession, project_id: uuid.UUID, *, url: Any, topics: Any, secret: Any = None, description: Any = "", allow_private: bool = False
) -> dict[str, Any]:
    """A new subscription; the answer shows the secret in full (only here and on GET by id)."""
    topics = _topics(topics)
    secret = _secret(secret)
    description = _description(description)
    url = await check_url(url, allow_private=allow_private)  # last: it may ask DNS
    if await repository.count_subscriptions(session, project_id) >= MAX_SUBSCRIPTIONS:
        raise WacastError(f"At most {MAX_SUBSCRIPTIONS} webhooks per project", "WEBHOOK_LIMIT", {"max": MAX_SUBSCRIPTIONS})
    now = utcnow()
    sub = WebhookSubscription(
        id=uuid.uuid4(), project_id=project_id, url=url, topics=topics, secret=secret, description=description,
        active=True, created_at=now, updated_at=now,
    )
    await repository.add_subscription(session, sub)
    outbox.forget_subscribers()
    return as_dict(sub, with_secret=True)


async def list_all(session: AsyncSession, project_id: uuid.UUID) -> list[dict[str, Any]]:
    return [as_dict(s) for s in await repository.list_subscriptions(session, project_id)]


async def get(session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID) -> dict[str, Any]:
    return as_dict(await _get(session, project_id, sub_id), with_secret=True)


async def update(session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID, changes: dict[str, Any], *, allow_private: bool = False) -> dict[str, Any]:
    """Change url, topics, secret, description or active (re-enabling clears the notice)."""
    sub = await _get(session, project_id, sub_id)
    allowed = {"url", "topics", "secret", "description", "active"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise WacastError(f"Unknown field(s): {', '.join(unknown)}", "VALIDATION_ERROR", {"fields": unknown, "allowed": sorted(allowed)}, status_code=422)
    if "url" in changes:
        sub.url = await check_url(changes["url"], allow_private=allow_private)
    if "topics" in changes:
        sub.topics = _topics(changes["topics"])
    if "secret" in changes:
        sub.secret = _secret(changes["secret"])
    if "description" in changes:
        sub.description = _description(changes["description"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise WacastError("active must be true or false", "VALIDATION_ERROR", {"field": "active"}, status_code=422)
        sub.active = changes["active"]
        if sub.active:
            sub.disabled_reason = None
            sub.disabled_at = None
            sub.failing_since = None
    sub.updated_at = utcnow()
    await session.flush()
    outbox.forget_subscribers()
    return as_dict(sub)


async def delete_subscription(session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID) -> None:
    sub = await _get(session, project_id, sub_id)
    await repository.delete_subscription(session, sub.id)
    outbox.forget_subscribers()


async def deliveries(
    session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID, *, status: str | None = None, cursor: str | None = None, limit: int | None = None
) -> Page:
    """The delivery log of a subscription, newest first, each with its attempts."""
    sub = await _get(session, project_id, sub_id)
    limit = page_limit(limit)
    if status and status not in ("pending", "delivered", "failed"):
        raise WacastError("status must be pending, delivered or failed", "VALIDATION_ERROR", {"field": "status"}, status_code=422)
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.deliveries_page(session, sub.id, status=status or None, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r[0].id for r in rows]
    attempts: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for a in await repository.attempts_of(session, ids):
        attempts[a.delivery_id].append({
            "attempt": a.attempt, "at": a.at, "status_code": a.status_code, "latency_ms": a.latency_ms,
            "response_excerpt": a.response_excerpt, "error": a.error,
        })
    items = [
        {
            "id": str(d.id), "event_id": str(d.event_id), "topic": topic, "event_created_at": event_at, "status": d.status,
            "attempts": d.attempts, "next_attempt_at": d.next_attempt_at if d.status == "pending" else None,
            "last_status_code": d.last_status_code, "last_error": d.last_error, "delivered_at": d.delivered_at,
            "log": attempts[d.id],
        }
        for d, topic, event_at in rows
    ]
    last = rows[-1][0] if rows else None
    return Page(items, encode_cursor(last.created_at, last.id) if more and last else None)


async def queue_test(session: AsyncSession, project_id: uuid.UUID, sub_id: str | uuid.UUID, now: datetime | None = None) -> uuid.UUID:
    """A `webhook.test` event for one subscription (even a disabled one); returns the delivery id."""
    sub = await _get(session, project_id, sub_id)
    now = now or utcnow()
    event = WebhookEvent(id=uuid.uuid4(), project_id=project_id, topic=TEST_TOPIC, data={"test": True, "webhook_id": str(sub.id)}, created_at=now)
    delivery = WebhookDelivery(id=uuid.uuid4(), event_id=event.id, subscription_id=sub.id, status="pending", attempts=0, next_attempt_at=now, created_at=now)
    await repository.add_event_with_delivery(session, event, delivery)
    return delivery.id


KEEP_EVENTS = timedelta(days=30)  # the delivery log keeps a month


async def purge_old_events(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget events (with their deliveries and attempts) past 30 days; the runtime's Purges loop calls it."""
    return await repository.purge_events(session, (now or utcnow()) - KEEP_EVENTS)
