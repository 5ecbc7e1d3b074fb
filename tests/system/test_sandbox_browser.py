"""Failures in the sandbox, in a real browser (Debian's Chromium through Playwright) against the
real app with its dispatcher running, on SQLite and PostgreSQL: a failure rule set from the
sandbox inbox page makes sends through the campaign API fail with the chosen Meta codes (by
webhook, then refused at the send), and the campaign page shows them under "Failures by Meta
error code" and in the Failed audience; the inbox finds them by number."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy import select

from tests.support.live_server import LiveServer
from wacast.config import Settings
from wacast.db.engine import Database
from wacast.demo.seed import seed_demo
from wacast.kit.clock import utcnow
from wacast.models.projects import SenderLease

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-dev-shm-usage",
]
WAIT = 20_000  # ms: the most any expectation waits for the dispatcher and live refresh
LEASE_SECONDS = 3  # the dispatcher re-reads its projects (and their rules) every second

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def _seed(settings: Settings) -> dict[str, Any]:
    db = Database(settings.database_url)
    try:
        return await seed_demo(db, settings)
    finally:
        await db.dispose()


@pytest.fixture
def live(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    monkeypatch.chdir(tmp_path)  # the demo seed keeps its credentials file under ./data
    server = LiveServer(settings.model_copy(update={"sender_lease_seconds": LEASE_SECONDS}))
    demo = asyncio.run(_seed(server.settings))
    server.start()
    yield server, demo
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(WAIT)
    yield ctx
    await ctx.close()


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#sign-out")).to_be_visible()


async def rule_in_force(server: LiveServer, saved_at: Any) -> None:
    """Wait until the dispatcher has re-read its projects after the rule was saved: its sender
    lease, renewed at each refresh to (refresh time + lease), then ends past saved_at + lease.
    saved_at must be taken once the save is committed (its flash shown): a refresh that began
    between the click and the commit would renew the lease and still hold the old rule."""
    db = Database(server.settings.database_url)
    try:
        for _ in range(WAIT // 100):
            async with db.read() as session:
                expires = (await session.execute(select(SenderLease.expires_at))).scalars().all()
            if expires and min(expires) > saved_at + timedelta(seconds=LEASE_SECONDS):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the dispatcher did not refresh its projects")
    finally:
        await db.dispose()


def send(server: LiveServer, demo: dict[str, Any], destination: str, name: str) -> str:
    sent = httpx.post(server.url + "/campaign/t1/api/v2", json={
        "apiKey": demo["api_key"], "campaignName": demo["campaign"], "destination": destination, "userName": name,
        "templateParams": [name, "ORD-9"],
    })
    assert sent.status_code == 200, sent.text
    return sent.json()["submitted_message_id"]


async def test_a_rule_set_in_the_inbox_fails_sends_with_their_meta_codes(live, context: BrowserContext) -> None:
    server, demo = live
    page = await context.new_page()
    await sign_in(page, server.url, demo["email"], demo["password"])
    await page.goto(server.url + "/sandbox")
    await expect(page.locator("#failure-rule-state")).to_contain_text("off")

    # A wrong number: shown with what was typed, nothing saved.
    await page.fill("#fail-numbers", "+919812300001, not-a-number")
    await page.click("#save-failure-rule")
    await expect(page.locator("#failure-rule-error")).to_contain_text("'not-a-number' is not a phone number")
    await expect(page.locator("#fail-numbers")).to_have_value("+919812300001, not-a-number")
    await expect(page.locator("#failure-rule-state")).to_contain_text("off")

    # By webhook: accepted, then Meta-shaped failed status webhooks with 131026 and 131049.
    await page.fill("#fail-numbers", "+919812300001, 9812300002=131049")
    await page.select_option("#fail-code", "131026")
    await page.select_option("#fail-mode", "webhook")
    await page.click("#save-failure-rule")
    await expect(page.locator(".flash.ok")).to_contain_text("Failure rule saved: 2 numbers always fail; accepted, then a failed status webhook")
    saved_at = utcnow()  # the flash follows the commit: a refresh begun after this reads the rule
    await expect(page.locator("#failure-rule-state")).to_contain_text("failing")
    await expect(page.locator("#fail-numbers")).to_have_value("+919812300001, +919812300002=131049")
    await rule_in_force(server, saved_at)
    undeliverable = send(server, demo, "+919812300001", "Ira")
    held_back = send(server, demo, "+919812300002", "Dev")
    fine = send(server, demo, "+919812300003", "Noor")

    # The inbox finds the failure by number and shows its code.
    await page.fill("input[name=q]", "98123 00001")
    await page.click("#inbox-search button")
    item = page.locator(f'[data-message-id="{undeliverable}"]')
    await expect(item.locator(".msg-status")).to_have_text("failed")
    await expect(item.locator(".err-code")).to_have_text("131026")
    await expect(page.locator("#inbox-count")).to_contain_text("1–1 of 1 message matching")
    await expect(page.locator(f'[data-message-id="{fine}"]')).to_have_count(0)

    # Refused at the send (sync): 131050 fails at once and opts the contact out.
    await page.goto(server.url + "/sandbox")
    await page.fill("#fail-numbers", "+919812300004=131050")
    await page.fill("#fail-rate", "")
    await page.select_option("#fail-mode", "sync")
    await page.click("#save-failure-rule")
    await expect(page.locator(".flash.ok")).to_contain_text("1 number always fails; refused at the send")
    saved_at = utcnow()
    await rule_in_force(server, saved_at)
    opted_out = send(server, demo, "+919812300004", "Sam")

    # The campaign page: failures by Meta error code, and the Failed audience.
    await page.goto(server.url + "/campaigns")
    await page.click(f"text={demo['campaign']}")
    failures = page.locator("#failures-table")
    for code, words in (("131026", "could not be delivered"), ("131049", "per-user marketing limit"), ("131050", "stopped marketing messages")):
        await expect(failures.locator("tr", has_text=code)).to_contain_text(words)
    await expect(page.locator("#count-failed")).to_have_text("3")
    await failures.locator("tr", has_text="131049").locator("a").click()
    audience = page.locator("#audience")
    for phone, code in (("+919812300001", "131026"), ("+919812300002", "131049"), ("+919812300004", "131050")):
        await expect(audience.locator("tr", has_text=phone)).to_contain_text(code)
    await expect(audience).not_to_contain_text("+919812300003")
    assert re.search(r"outcome=FAILED", page.url)

    # Off again: the next send goes through.
    await page.goto(server.url + "/sandbox")
    await page.click("#failures-off")
    await expect(page.locator(".flash.ok")).to_contain_text("Failures are off for this project")
    saved_at = utcnow()
    await rule_in_force(server, saved_at)
    again = send(server, demo, "+919812300001", "Ira")
    await expect(page.locator(f'[data-message-id="{again}"] .msg-status')).to_have_text("read")
    for message_id in (held_back, opted_out):
        await expect(page.locator(f'[data-message-id="{message_id}"] .msg-status')).to_have_text("failed")
