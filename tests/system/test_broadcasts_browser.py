"""Segments and broadcasts in a real browser (Chromium through Playwright) against `wacast`
served by uvicorn with the dispatcher and the broadcast engine running, on both backends:
save a segment, schedule a broadcast and pause/resume it, send one now and watch its
progress bar fill to 100% without reloading."""

from __future__ import annotations


import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from tests.system.test_dashboard_browser import browser, context, live, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def map_params(page, order: str) -> None:  # noqa: ANN001
    """order_update's {{1}} from the contact's first name (fallback "there"), {{2}} fixed text."""
    await page.click("[data-step-link='2']")
    await page.select_option("select[name=param_0_attr]", "FirstName")
    await page.fill("input[name=param_0_fallback]", "there")
    await page.select_option("select[name=param_1_from]", "text")
    await page.fill("input[name=param_1_text]", order)
    await page.click("[data-step-link='4']")


async def test_segment_schedule_pause_resume_and_live_progress(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001, F811
    server, demo = live
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        for i in range(6):
            response = await api.post("/campaign/t1/api/v2", json={
                "apiKey": demo["api_key"], "campaignName": demo["campaign"], "destination": f"+9173000{i:05d}",
                "userName": f"Buyer {i}", "templateParams": [f"Buyer{i}", f"ORD-{i}"], "source": "Facebook forms",
            })
            assert response.status_code == 200, response.text
    page = await context.new_page()
    await sign_in(page, server.url, "manager@demo.wacast.local", "password-manager")

    await page.goto(server.url + "/segments/new")
    await page.fill("#segment-name", "Buyers from Facebook")
    condition = page.locator("[data-testid=condition]").first
    await condition.locator(".c-field").select_option("source")
    await condition.locator("[data-part=value] input").fill("Facebook forms")
    await page.click("#save-segment")
    await expect(page.locator("#segments-table")).to_contain_text("Buyers from Facebook")
    await expect(page.locator(".flash")).to_contain_text("6 contacts can be messaged")

    await page.goto(server.url + "/broadcasts/new?template=order_update%7Cen")
    await page.fill("#broadcast-name", "Later")
    await page.select_option("#broadcast-segment", label="Buyers from Facebook")
    await expect(page.locator("[data-testid=will-send]")).to_have_text("6")
    await map_params(page, "ORD-NEXT")
    await page.click("[data-step-link='3']")
    await page.check("#when-later")
    await page.fill("#send-date", "2099-01-01")
    await page.fill("#send-time", "10:00")
    await page.click("[data-step-link='4']")
    await page.click("#create-broadcast")
    await expect(page.locator("#broadcast-status")).to_have_text("scheduled")
    await page.click("#action-pause")
    await expect(page.locator("#broadcast-status")).to_have_text("paused")
    await page.click("#action-resume")
    await expect(page.locator("#broadcast-status")).to_have_text("scheduled")

    await page.goto(server.url + "/broadcasts/new?template=order_update%7Cen")
    await page.fill("#broadcast-name", "Now")
    await page.select_option("#broadcast-segment", label="Buyers from Facebook")
    await map_params(page, "ORD-NOW")
    await page.click("#create-broadcast")
    # The page refreshes its progress region by itself until every message is read.
    await expect(page.locator("#broadcast-status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("[data-testid=broadcast-progress]")).to_have_attribute("aria-valuenow", "100.0")
    await expect(page.locator("[data-live=broadcast]")).to_contain_text("read 6")
    await page.goto(server.url + "/broadcasts")
    await expect(page.locator("#broadcasts-table")).to_contain_text("Later")
    await expect(page.locator("#broadcasts-table")).to_contain_text("100.0%")
