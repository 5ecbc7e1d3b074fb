"""Customer webhooks in Settings (owners): the subscriptions with their state, a new one, and
one subscription's page with its secret, its changes, a test send and the delivery log. The
same service functions as /api/v1/webhooks (webhooks/service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard.forms import fields
from wacast.dashboard.web import DashboardRoute, Owner, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.webhooks import service
from wacast.webhooks.outbox import TOPICS

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

TOPIC_WORDS = {
    "message.status.updated": "a message is sent, delivered, read or fails",
    "message.sender.user": "a contact writes or taps a button",
    "contact.created": "a contact is added",
    "contact.tag.updated": "a contact's tags change",
    "contact.opted_out": "a contact opts out",
    "template.status.updated": "Meta approves, rejects or pauses a template",
    "campaign.status.updated": "a campaign or broadcast changes status",
}
SubscriptionForm = fields("url", "description", "secret", "active", *(f"topic_{t}" for t in TOPICS))
ActionForm = fields()


def _topics(form) -> list[str]:  # noqa: ANN001
    return [t for t in TOPICS if form.checked(f"topic_{t}")]


def _allow_private(request: Request) -> bool:
    return request.app.state.settings.allow_private_webhook_hosts


async def _list_page(ctx, session, *, typed: dict | None = None, error: str | None = None) -> Response:  # noqa: ANN001
    subs = await service.list_all(session, ctx.project.id)
    return render(ctx, "webhooks.html", status_code=400 if error else 200, page="settings", subs=subs, topics=TOPIC_WORDS,
                  typed=typed or {"topics": list(TOPICS)}, error=error)


@router.get("/settings/webhooks")
async def webhooks_page(request: Request, ctx: Owner, session: ReadSession) -> Response:
    return await _list_page(ctx, session)


@router.post("/settings/webhooks")
async def webhook_create(request: Request, ctx: Owner, form: SubscriptionForm, session: WriteSession) -> Response:
    typed = {"url": form.text("url"), "description": form.text("description"), "topics": _topics(form)}
    try:
        made = await service.create(session, ctx.project.id, url=typed["url"], topics=typed["topics"], secret=form.text("secret") or None,
                                    description=typed["description"], allow_private=_allow_private(request))
    except WacastError as error:
        # The list again with the form as typed and why (nothing saved; the secret is not echoed).
        return await _list_page(ctx, session, typed=typed, error=f"{error.message} ({error.code})")
    return redirect(ctx, f"/settings/webhooks/{made['id']}", "Webhook saved. Copy its secret below to check each event's X-Wacast-Signature.")


@router.get("/settings/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str, ctx: Owner, session: ReadSession, status: str = "") -> Response:
    sub = await service.get(session, ctx.project.id, webhook_id)
    log = await service.deliveries(session, ctx.project.id, webhook_id, status=status or None, limit=50)
    return render(ctx, "webhook.html", page="settings", sub=sub, log=log.items, status=status, topics=TOPIC_WORDS)


@router.post("/settings/webhooks/{webhook_id}")
async def webhook_save(request: Request, webhook_id: str, ctx: Owner, form: SubscriptionForm, session: WriteSession) -> Response:
    changes = {"url": form.text("url"), "topics": _topics(form), "description": form.text("description"), "active": form.checked("active")}
    if form.text("secret"):
        changes["secret"] = form.text("secret")
    await service.update(session, ctx.project.id, webhook_id, changes, allow_private=_allow_private(request))
    return redirect(ctx, f"/settings/webhooks/{webhook_id}", "Webhook saved.")


@router.post("/settings/webhooks/{webhook_id}/delete")
async def webhook_delete(request: Request, webhook_id: str, ctx: Owner, _: ActionForm, session: WriteSession) -> Response:
    await service.delete_subscription(session, ctx.project.id, webhook_id)
    return redirect(ctx, "/settings/webhooks", "Webhook deleted, with its delivery log.")


@router.post("/settings/webhooks/{webhook_id}/test")
async def webhook_test(request: Request, webhook_id: str, ctx: Owner, _: ActionForm) -> Response:
    """Send a signed `webhook.test` event now and say what the receiver answered."""
    async with request.app.state.db.transaction() as session:  # committed before the sender claims it
        delivery_id = await service.queue_test(session, ctx.project.id, webhook_id)
    result = await request.app.state.webhooks.deliver_now(delivery_id)
    back = f"/settings/webhooks/{webhook_id}"
    if result is None:
        return redirect(ctx, back, "The test event is being sent; its outcome shows in the log below in a moment.")
    if result.ok:
        return redirect(ctx, back, f"Test delivered: your endpoint answered {result.status_code} in {result.latency_ms} ms.")
    answer = f"HTTP {result.status_code}" if result.status_code else (result.error or "no answer")
    return redirect(ctx, back, f"Test not delivered: {answer}" + (f" ({result.excerpt})" if result.excerpt else "") + ".", "error")
