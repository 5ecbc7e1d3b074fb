"""New broadcast step by step in a real browser, on both backends: a template with a URL
button, mapped by pointing and clicking, its bubble preview following the mapping, a test
send to one number through the sandbox, the estimate warning of quiet hours for tomorrow
10:00, then a broadcast held by quiet hours and released when Settings change them; every
error keeps what was typed. Screenshots at 1360 and 390 px."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.system.test_dashboard_browser import WAIT, browser, live, shot, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK_TEMPLATE = {
    "name": "diwali_link", "language": "en", "category": "MARKETING",
    "components": [
        {"type": "BODY", "text": "Hi {{1}}, the Diwali sale is on: {{2}} off.", "example": {"body_text": [["Asha", "20%"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop now", "url": "https://shop.example.com/d/{{1}}", "example": ["SALE"]}]},
    ],
}


async def prepare(server, demo) -> str:  # noqa: ANN001
    headers = {"Authorization": f"Bearer {demo['api_key']}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=headers) as api:
        made = await api.post("/api/v1/templates", json=LINK_TEMPLATE)
        assert made.status_code == 201 and made.json()["status"] == "APPROVED", made.text
        for i in range(5):
            sent = await api.post("/campaign/t1/api/v2", json={
                "apiKey": demo["api_key"], "campaignName": demo["campaign"], "destination": f"+9173300{i:05d}",
                "userName": f"Meera {i}", "templateParams": [f"Meera{i}", f"ORD-{i}"], "source": "Facebook forms"})
            assert sent.status_code == 200, sent.text
        segment = await api.post("/api/v1/segments", json={
            "name": "FB leads", "filter": {"conditions": [{"field": "source", "op": "equals", "value": "Facebook forms"}]}})
        assert segment.status_code == 201
        return segment.json()["id"]


async def test_preview_test_send_schedule_and_quiet_hours(live, browser: Browser, backend: str) -> None:  # noqa: ANN001, F811
    server, demo = live
    await prepare(server, demo)
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(WAIT)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await sign_in(page, server.url, demo["email"], demo["password"])

    # Quiet hours around tomorrow 10:00 (project time) but not now: set in Settings.
    zone = ZoneInfo("Asia/Kolkata")
    now_local = datetime.now(zone)
    await page.goto(server.url + "/settings")
    start, end = "09:30", "10:30"  # the broadcast below waits for tomorrow: only 10:00 matters
    await page.fill("#quiet_start", start)
    await page.fill("#quiet_end", end)
    await page.click("#send-policy button.primary")
    await expect(page.locator(".flash.ok")).to_contain_text("Send policy saved")

    # 1 Audience
    await page.goto(server.url + "/broadcasts/new?template=diwali_link%7Cen")
    await page.fill("#broadcast-name", "Diwali wave 2")
    await page.select_option("#broadcast-segment", label="FB leads")
    await expect(page.locator("[data-testid=will-send]")).to_have_text("5")
    # 2 Message: {{1}} from the contact, {{2}} fixed, the URL button's end fixed; the bubble follows.
    await page.click("[data-next='2']")
    await page.select_option("select[name=param_0_attr]", "FirstName")
    await page.fill("input[name=param_0_fallback]", "there")
    await page.select_option("select[name=param_1_from]", "text")
    await page.fill("input[name=param_1_text]", "25%")
    await page.select_option("select[name=button_0_from]", "text")
    await page.fill("input[name=button_0_text]", "WAVE2")
    bubble = page.locator("[data-testid=preview]")
    await expect(bubble).to_contain_text("Hi Meera, the Diwali sale is on: 25% off.")
    await expect(bubble).to_contain_text("Shop now")
    await expect(bubble).to_contain_text("WAVE2")
    await expect(page.locator("#preview-sample")).to_contain_text("As Meera")
    await shot(page, backend, "broadcast-wizard-message")
    # Send a test to my number: through the sandbox like any send.
    await page.fill("#test-phone", "+919811100099")
    await page.click("#send-test")
    await expect(page.locator("#test-result")).to_have_attribute("data-sent", "1")
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {demo['api_key']}"}) as api:
        for _ in range(100):
            listed = (await api.get("/api/v1/messages", params={"destination": "+919811100099"})).json()
            rows = [m for m in listed.get("data", []) if m.get("destination") == "+919811100099"]
            if rows and rows[0]["status"] == "read":
                break
            await asyncio.sleep(0.1)
    assert rows and rows[0]["status"] == "read", listed
    # 3 When: tomorrow 10:00 project time, inside the quiet hours: the review warns.
    await page.click("[data-next='3']")
    await page.check("#when-later")
    tomorrow = (now_local + timedelta(days=1)).date().isoformat()
    await page.fill("#send-date", tomorrow)
    await page.fill("#send-time", "10:00")
    await page.click("[data-next='4']")
    await expect(page.locator("[data-review=when]")).to_have_text(f"{tomorrow} 10:00")
    await expect(page.locator("#review-warnings")).to_contain_text("It would start inside quiet hours")
    await shot(page, backend, "broadcast-wizard-review")
    await page.click("#create-broadcast")
    await expect(page.locator("#broadcast-status")).to_have_text("scheduled")
    await expect(page.locator("#broadcast-send-at")).to_contain_text("10:00")

    # A broadcast now, inside quiet hours now: held, with the reason; released when they change.
    here = datetime.now(zone)
    await page.goto(server.url + "/settings")
    await page.fill("#quiet_start", (here - timedelta(hours=1)).strftime("%H:%M"))
    await page.fill("#quiet_end", (here + timedelta(hours=2)).strftime("%H:%M"))
    await page.click("#send-policy button.primary")
    await page.goto(server.url + "/broadcasts/new?template=diwali_link%7Cen")
    await page.fill("#broadcast-name", "Diwali now")
    await page.select_option("#broadcast-segment", label="FB leads")
    await page.click("[data-next='2']")
    await page.select_option("select[name=param_1_from]", "text")
    await page.fill("input[name=param_1_text]", "30%")
    await page.select_option("select[name=button_0_from]", "text")
    await page.fill("input[name=button_0_text]", "NOW")
    # {{1}} left unmapped: refused on launch, with everything as typed.
    await page.click("[data-step-link='4']")
    await page.click("#create-broadcast")
    await expect(page.locator("#broadcast-error")).to_contain_text("Parameter {{1}} has no value yet")
    await expect(page.locator("#broadcast-name")).to_have_value("Diwali now")
    await expect(page.locator("input[name=param_1_text]")).to_have_value("30%")
    await page.click("[data-step-link='2']")
    await page.select_option("select[name=param_0_attr]", "FirstName")
    await page.fill("input[name=param_0_fallback]", "there")
    await page.click("[data-step-link='4']")
    await page.click("#create-broadcast")
    await expect(page.locator("[data-testid=held-reasons]")).to_contain_text("5 waiting: quiet hours until")
    await page.goto(server.url + "/settings")
    await page.fill("#quiet_start", "")
    await page.fill("#quiet_end", "")
    await page.click("#send-policy button.primary")
    await page.goto(server.url + "/broadcasts")
    await page.locator("#broadcasts-table a", has_text="Diwali now").click()
    await expect(page.locator("#broadcast-status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("[data-testid=held-reasons]")).to_have_count(0)
    # Its results on its own page, then retarget: those who read and did not reply.
    await expect(page.locator("#count-read")).to_have_text("5")
    await expect(page.locator("#audience")).to_be_visible()
    await page.click("[data-testid=retarget-read_no_reply]")
    await expect(page).to_have_url(re.compile(r"/broadcasts/new\?segment="))
    await expect(page.locator(".flash.ok")).to_contain_text("5 contacts can be messaged")
    await expect(page.locator("#broadcast-segment option:checked")).to_contain_text("Diwali now: read, no reply")

    # On a phone the wizard fits the screen.
    await page.set_viewport_size({"width": 390, "height": 860})
    await page.goto(server.url + "/broadcasts/new?template=diwali_link%7Cen")
    await page.click("[data-step-link='2']")
    assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    await shot(page, backend, "phone-broadcast-wizard")
    assert errors == []
    await context.close()
