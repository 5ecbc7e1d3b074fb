"""Clicks and conversions as a marketer sees them, in a real browser (Debian's Chromium through
Playwright) against the real app with its dispatcher and sandbox sender running, on SQLite and
PostgreSQL: the campaign page's Tracking form saved and shown again after a reload (and a
window past 90 days refused with a clear error, nothing changed), messages of a tracked URL
button sent through the campaign API, their links followed by real HTTP GETs (a person's
browser counts, a preview fetcher and a repeat do not, each with the saved UTM parameters),
conversions posted to POST /api/v1/conversions, and the page's clicks (unique and total, per
link), conversions per goal and revenue."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from tests.links.scenario import ASHA, BROWSER, MEERA, PREVIEW, RAVI, auth
from tests.links.test_link_sending import SHOP
from tests.support.live_server import LiveServer
from tests.system.test_dashboard_browser import browser, context, live, sign_in  # noqa: F401 (fixtures)
from wacast.db.engine import Database
from wacast.models.links import TrackedLink

PUBLIC = "https://wa.example.test"  # WACAST_PUBLIC_URL: what the messages carry; the test follows the links on the live server

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"public_url": PUBLIC})


def tracked_campaign(server: LiveServer, key: str) -> None:
    """The tracked template (the sandbox approves it at once) and a live API campaign of it."""
    made = httpx.post(server.url + "/api/v1/templates", headers=auth(key), json=copy.deepcopy(SHOP))
    assert made.status_code == 201 and made.json()["status"] == "APPROVED", made.text
    made = httpx.post(server.url + "/api/v1/campaigns", headers=auth(key), json={"type": "api", "name": "shop_now", "template": "shop_now", "live": True})
    assert made.status_code == 201, made.text


def send(server: LiveServer, key: str, destination: str, name: str, sku: str) -> str:
    sent = httpx.post(server.url + "/campaign/t1/api/v2", json={
        "apiKey": key, "campaignName": "shop_now", "destination": destination, "userName": name,
        "templateParams": [name, "https://shop.example.com/sale"],
        "buttons": [{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": sku}]}]})
    assert sent.status_code == 200, sent.text
    return sent.json()["submitted_message_id"]


async def links_of(server: LiveServer, message_id: str) -> dict[str, str]:
    """A message's tokens by link ("button" or "body"), as minted when it was queued."""
    db = Database(server.settings.database_url)
    try:
        async with db.read() as session:
            rows = (await session.execute(select(TrackedLink.button_index, TrackedLink.token)
                                          .where(TrackedLink.message_id == uuid.UUID(message_id)))).all()
    finally:
        await db.dispose()
    return {("body" if index is None else "button"): token for index, token in rows}


async def follow(http: httpx.AsyncClient, token: str, agent: str) -> str:
    """A real HTTP GET of /r/{token} on the running server; where it redirects."""
    answer = await http.get(f"/r/{token}", headers={"User-Agent": agent})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def form_values(page: Page) -> dict[str, Any]:
    return {
        "utm_medium": await page.input_value("#tracking-utm_medium"), "utm_campaign": await page.input_value("#tracking-utm_campaign"),
        "utm_source": await page.input_value("#tracking-utm_source"), "goals": await page.input_value("#tracking-goals"),
        "window": await page.input_value("#tracking-window"), "body_urls": await page.is_checked("#tracking-body-urls"),
    }


SAVED = {"utm_medium": "spring", "utm_campaign": "sale_2026", "utm_source": "", "goals": "purchase, signup", "window": "30", "body_urls": True}


async def test_a_marketer_sets_tracking_and_sees_the_clicks_conversions_and_revenue(live, context: BrowserContext) -> None:  # noqa: F811
    server, demo = live
    key = demo["api_key"]
    tracked_campaign(server, key)
    page = await context.new_page()
    await sign_in(page, server.url, demo["email"], demo["password"])
    await page.goto(server.url + "/campaigns")
    await page.click("text=shop_now")
    campaign_url = page.url
    await expect(page.locator("#earned")).to_contain_text("Nothing yet")
    assert await page.input_value("#tracking-window") == "7" and await page.input_value("#tracking-goals") == ""

    # The Tracking form: saved, the flash says what, and a reload shows what was saved.
    typed = {"utm_medium": "spring", "utm_campaign": "sale_2026", "goals": "Purchase, signup", "window": "30"}
    for field, value in typed.items():
        await page.fill(f"#tracking-{field}", value)
    await page.check("#tracking-body-urls")
    await page.click("#save-tracking")
    await expect(page.locator(".flash.ok")).to_contain_text("Tracking saved: purchase, signup, attribution window 30 days.")
    await page.reload()
    assert await form_values(page) == SAVED

    # A window past 90 days (the input's own min/max taken away, as a hand-made request would):
    # the server's clear error, and the stored tracking unchanged.
    await page.evaluate("() => { const w = document.querySelector('#tracking-window'); w.removeAttribute('min'); w.removeAttribute('max'); }")
    await page.fill("#tracking-window", "91")
    await page.fill("#tracking-goals", "refund")
    await page.click("#save-tracking")
    await expect(page.locator(".flash.error")).to_contain_text(
        "tracking.attribution_window_days must be a whole number of days from 1 to 90 (FIELD_INVALID)")
    await expect(page.locator(".flash.ok")).to_have_count(0)
    # The form as it was typed, to correct it; what is stored shows again on the page itself.
    assert await page.input_value("#tracking-window") == "91" and await page.input_value("#tracking-goals") == "refund"
    await page.goto(campaign_url)
    assert await form_values(page) == SAVED
    stored = httpx.get(server.url + "/api/v1/campaigns/shop_now/tracking", headers=auth(key))
    assert stored.status_code == 200 and stored.json()["tracking"] == {
        "utm": {"utm_medium": "spring", "utm_campaign": "sale_2026"}, "goals": ["purchase", "signup"],
        "attribution_window_days": 30, "track_body_urls": True}, stored.text

    # Three people get the campaign; the inbox shows them read, the text's link a tracked one.
    messages = {ASHA: send(server, key, ASHA, "Asha", "42"), RAVI: send(server, key, RAVI, "Ravi", "43"),
                MEERA: send(server, key, MEERA, "Meera", "44")}
    await page.goto(server.url + "/sandbox")
    for message_id in messages.values():
        item = page.locator(f'[data-message-id="{message_id}"]')
        await expect(item.locator(".msg-status")).to_have_text("read")
        await expect(item).to_contain_text(f"{PUBLIC}/r/")
    links = {phone: await links_of(server, message_id) for phone, message_id in messages.items()}
    assert all(set(found) == {"button", "body"} for found in links.values()), links

    # Taps: Asha's preview fetcher, then Asha (the button, then the link in the text); Ravi taps
    # the button twice seconds apart (a repeat); Meera's link only ever gets a preview.
    async with httpx.AsyncClient(base_url=server.url, follow_redirects=False) as http:
        utm = "utm_source=whatsapp&utm_medium=spring&utm_campaign=sale_2026"
        assert await follow(http, links[ASHA]["button"], PREVIEW) == f"https://shop.example.com/p/42?ref=wa&{utm}&utm_content=button_0"
        assert await follow(http, links[ASHA]["button"], BROWSER) == f"https://shop.example.com/p/42?ref=wa&{utm}&utm_content=button_0"
        assert await follow(http, links[ASHA]["body"], BROWSER) == f"https://shop.example.com/sale?{utm}&utm_content=body"
        for _ in range(2):
            assert await follow(http, links[RAVI]["button"], BROWSER) == f"https://shop.example.com/p/43?ref=wa&{utm}&utm_content=button_0"
        await follow(http, links[MEERA]["button"], PREVIEW)

    # Conversions from the shop: Asha buys, Ravi signs up and joins a newsletter (a goal not named).
    for payload in ({"destination": ASHA, "goal": "purchase", "value": 1499, "currency": "INR", "order_id": "SHOP-1"},
                    {"destination": RAVI, "goal": "signup"}, {"destination": RAVI, "goal": "newsletter", "value": 50, "currency": "INR"}):
        recorded = httpx.post(server.url + "/api/v1/conversions", headers=auth(key), json=payload)
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["attributed"]["submitted_message_id"] == messages[payload["destination"]], recorded.text

    # The campaign page: what the marketer reads.
    await page.goto(campaign_url)
    await expect(page.locator("#count-clicked")).to_have_text("2")
    clicked, converted = page.locator(".stat", has=page.locator("#count-clicked")), page.locator(".stat", has=page.locator("#count-converted"))
    await expect(clicked.locator(".sub")).to_have_text("66.7% of delivered · 3 clicks")
    await expect(page.locator("#count-converted")).to_have_text("2")
    await expect(converted.locator(".sub")).to_have_text("66.7% of delivered · 3 conversions")
    await expect(page.locator("#revenue")).to_have_text("INR 1,549.00")
    per_link = page.locator("#clicks-per-button tbody tr")
    await expect(per_link).to_have_count(2)
    await expect(per_link.nth(0).locator("td")).to_have_text(["Button 1", "2", "2", "66.7%"])
    await expect(per_link.nth(1).locator("td")).to_have_text(["Link in the body", "1", "1", "33.3%"])
    per_goal = page.locator("#conversions-per-goal tbody tr")
    await expect(per_goal).to_have_count(3)
    await expect(per_goal.nth(0).locator("td")).to_have_text(["purchase", "1", "INR 1,499.00"])
    await expect(per_goal.nth(1).locator("td")).to_have_text(["signup", "1", "—"])
    await expect(per_goal.nth(2).locator("td")).to_have_text(["newsletter (other goal)", "1", "INR 50.00"])

    # Who clicked: Asha and Ravi, not Meera (a preview is no click).
    await page.goto(campaign_url + "?outcome=CLICKED")
    audience = page.locator("#audience")
    for phone in (ASHA, RAVI):
        await expect(audience).to_contain_text(phone)
    await expect(audience).not_to_contain_text(MEERA)
