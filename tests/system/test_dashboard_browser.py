"""The dashboard in a real browser (Debian's Chromium through Playwright) against the real app
served by uvicorn on loopback, with the dispatcher and the sandbox provider running, on
SQLite and PostgreSQL. Screenshots of the main pages go to docs/screenshots/."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support.live_server import LiveServer
from wacast.config import Settings
from wacast.db.engine import Database
from wacast.demo.seed import seed_demo
from wacast.users import service as users

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-dev-shm-usage",
]
WAIT = 15_000  # ms: the most any expectation waits for the dispatcher and live refresh


# One browser for the whole session, on the session's event loop (the async API: the sync
# one would leave its loop marked running in the main thread for every later test).
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def _seed(settings: Settings, extra_users: list[tuple[str, str]]) -> dict[str, Any]:
    db = Database(settings.database_url)
    try:
        demo = await seed_demo(db, settings)
        async with db.transaction() as session:
            from wacast.projects import service as projects

            project = await projects.get_by_name(session, "demo")
            for email, role in extra_users:
                await users.create_or_update(session, project.id, email, "password-" + role, role)
        return demo
    finally:
        await db.dispose()


@pytest.fixture
def live(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    monkeypatch.chdir(tmp_path)  # the demo seed keeps its credentials file under ./data
    server = LiveServer(settings)
    demo = asyncio.run(_seed(server.settings, [("agent@demo.wacast.local", "agent"), ("manager@demo.wacast.local", "manager")]))
    server.start()
    yield server, demo
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1360, "height": 900}, permissions=["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(WAIT)
    yield ctx
    await ctx.close()


async def shot(page: Page, backend: str, name: str) -> None:
    if backend == "sqlite":  # one set of pictures is enough
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#sign-out")).to_be_visible()


async def test_sign_in_wrong_password_then_right_then_sign_out(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    server, demo = live
    page = await context.new_page()
    await page.goto(server.url + "/campaigns")
    await expect(page).to_have_url(re.compile(r"/login\?next=/campaigns"))
    await page.fill("#email", demo["email"])
    await page.fill("#password", "not-the-password")
    await shot(page, backend, "sign-in")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    await page.fill("#password", demo["password"])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(server.url + "/campaigns")  # back where the user wanted to go
    await expect(page.locator("#campaigns-table")).to_contain_text("order_update")
    cookie = next(c for c in await context.cookies() if c["name"] == "wacast_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    await page.click("#sign-out")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(server.url + "/")
    await expect(page).to_have_url(re.compile(r"/login"))


async def test_create_campaign_and_set_it_live(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    server, demo = live
    page = await context.new_page()
    await sign_in(page, server.url, "manager@demo.wacast.local", "password-manager")
    await page.goto(server.url + "/campaigns/new")
    await page.fill("#campaign-name", "welcome_flow")
    await page.select_option("#template-select", label="order_update (en, utility)")
    await page.click("#campaign-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("welcome_flow")
    await expect(page.locator("#campaign-status")).to_have_text("draft")
    # Not live yet: the API refuses it, exactly as the page says.
    body = {"apiKey": demo["api_key"], "campaignName": "welcome_flow", "destination": "+919812345678", "userName": "Meera",
            "templateParams": ["Meera", "ORD-7"]}
    refused = httpx.post(server.url + "/campaign/t1/api/v2", json=body)
    assert refused.status_code == 400 and refused.json()["code"] == "CAMPAIGN_NOT_LIVE"
    await page.click("#go-live")
    await expect(page.locator("#campaign-status")).to_have_text("live")
    await expect(page.locator(".flash.ok")).to_contain_text("is live")
    accepted = httpx.post(server.url + "/campaign/t1/api/v2", json=body)
    assert accepted.status_code == 200, accepted.text
    # The exact request shows the template's two parameters.
    await expect(page.locator("#json-body")).to_contain_text('"campaignName": "welcome_flow"')
    assert len(__import__("json").loads(await page.locator("#json-body").inner_text())["templateParams"]) == 2
    await page.goto(server.url + "/campaigns")
    await expect(page.locator("#campaigns-table")).to_contain_text("welcome_flow")
    await shot(page, backend, "campaigns")


async def test_api_key_copy_send_inbox_and_analytics(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    server, demo = live
    page = await context.new_page()
    await sign_in(page, server.url, demo["email"], demo["password"])
    await page.goto(server.url + "/keys")
    await page.fill("#key-form input[name=name]", "CRM")
    await page.click("#key-form button")
    key = (await page.locator("#new-key").inner_text()).strip()
    assert key.startswith("wac_")
    await page.click("#copy-key")
    await expect(page.locator("#copy-key")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await shot(page, backend, "api-keys")
    await page.goto(server.url + "/keys")  # shown once: not on the list again
    await expect(page.locator("#keys-table")).to_contain_text(key[:12] + "…")
    assert key not in await page.content()

    sent = httpx.post(server.url + "/campaign/t1/api/v2", json={
        "apiKey": key, "campaignName": "order_update", "destination": "+919876500001", "userName": "Kabir Rao",
        "templateParams": ["Kabir", "ORD-5521"],
    })
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["submitted_message_id"]

    await page.goto(server.url + "/sandbox")
    item = page.locator(f'[data-message-id="{message_id}"]')
    await expect(item).to_contain_text("Hi Kabir, your order ORD-5521 has shipped")
    await expect(item.locator(".msg-status")).to_have_text("read")  # sandbox reports sent, delivered, read
    await item.locator("button", has_text="Tap “Thanks!”").click()
    item = page.locator(f'[data-message-id="{message_id}"]')
    await expect(item).to_contain_text("tapped")
    await expect(item.locator(".badge.replied")).to_be_visible()
    await shot(page, backend, "sandbox-inbox")

    await page.goto(server.url + "/campaigns")
    await page.click("text=order_update")
    await expect(page.locator("#count-total")).to_have_text("1")
    await expect(page.locator("#count-read")).to_have_text("1")
    await expect(page.locator("#count-replied")).to_have_text("1")
    await page.click("a.btn:has-text('Read')")
    await expect(page.locator("#audience")).to_contain_text("+919876500001")
    await shot(page, backend, "campaign")
    async with page.expect_download() as download:
        await page.click("#export-audience")
    exported = Path(await (await download.value).path()).read_text()
    assert message_id in exported and "+919876500001" in exported

    # STOP from the inbox opts the contact out (the events processor applies it).
    await page.goto(server.url + "/sandbox")
    # Let the form's POST finish before leaving the page (a goto right after the click could
    # cancel it), then reload until the events processor has applied the opt-out.
    async with page.expect_navigation():
        await page.locator(f'[data-message-id="{message_id}"] button', has_text="Send STOP").click()
    for _ in range(WAIT // 250):
        await page.goto(server.url + "/contacts?status=opted_out")
        if "+919876500001" in await page.content():
            break
        await page.wait_for_timeout(250)
    await expect(page.locator("#contacts-table")).to_contain_text("+919876500001", timeout=WAIT)
    await page.click("#contacts-table >> text=Kabir Rao")
    timeline = page.locator(".timeline")
    for kind in ("queued", "sent", "delivered", "read", "replied"):
        await expect(timeline).to_contain_text(kind)
    await expect(page.locator("main")).to_contain_text("STOP")
    await expect(page.locator("h1 + p .badge")).to_have_text("opted out")
    await shot(page, backend, "contact-timeline")
    await page.goto(server.url + "/")
    await expect(page.locator("#stat-today")).to_have_text("1")
    await shot(page, backend, "overview")


async def test_contact_csv_import_with_one_bad_row(live, context: BrowserContext, backend: str, tmp_path: Path) -> None:  # noqa: ANN001
    server, _ = live
    page = await context.new_page()
    await sign_in(page, server.url, "manager@demo.wacast.local", "password-manager")
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(
        "phone,name,tags,city,plan\n"
        "+919811100001,Asha Verma,customer;vip,Pune,gold\n"
        "not-a-number,Broken Row,lead,Delhi,\n"
        "9811100003,Ravi Kumar,lead,Delhi,silver\n"
    )
    await page.goto(server.url + "/contacts/import")
    await shot(page, backend, "contacts-import")
    await page.set_input_files("#csv-file", str(csv_file))
    await page.click("#import-submit")
    await expect(page.locator("#import-status")).to_have_text("done")
    await expect(page.locator("#import-created")).to_have_text("2")
    await expect(page.locator("#import-errors")).to_have_text("1")
    report = page.locator("#import-error-report")
    await expect(report).to_contain_text("not-a-number")
    await expect(report.locator("tbody tr")).to_have_count(1)
    await expect(report.locator("tbody tr td").first).to_have_text("3")  # line 3 of the file
    await shot(page, backend, "contacts-import-done")

    await page.goto(server.url + "/contacts")
    table = page.locator("#contacts-table")
    await expect(table).to_contain_text("Asha Verma")
    await expect(table).to_contain_text("+919811100003")  # the national number read as Indian
    await expect(table).not_to_contain_text("Broken Row")
    await page.fill("#contact-filters input[name=q]", "ravi")
    await page.click("#contact-filters button")
    await expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    await page.goto(server.url + "/contacts?tag=vip")
    await expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    await page.click("text=Asha Verma")
    await expect(page.locator("input[name='attr:city']")).to_have_value("Pune")
    await shot(page, backend, "contact")
    await page.goto(server.url + "/contacts")
    await shot(page, backend, "contacts")
    async with page.expect_download() as download:
        await page.click("#export-contacts")
    exported = Path(await (await download.value).path()).read_text()
    assert "+919811100001,Asha Verma" in exported and "customer;vip" in exported and "not-a-number" not in exported


async def test_agent_is_refused_manager_actions_by_the_server(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    server, _ = live
    page = await context.new_page()
    await sign_in(page, server.url, "agent@demo.wacast.local", "password-agent")
    await page.goto(server.url + "/campaigns")
    await expect(page.locator("#campaigns-table")).to_contain_text("order_update")  # agents read
    assert await page.locator("text=New campaign").count() == 0  # the button is hidden ...
    await page.click("text=order_update")
    campaign_url = page.url
    assert await page.locator("#pause-campaign").count() == 0
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    # ... and the server refuses the action itself: a direct POST with a valid session and token.
    answer = await page.request.post(campaign_url.split("?")[0] + "/status", form={"csrf": csrf, "status": "paused"}, max_redirects=0)
    assert answer.status == 403
    assert "You need the manager role" in await answer.text()
    await page.goto(campaign_url)
    await expect(page.locator("#campaign-status")).to_have_text("live")  # nothing changed
    await page.goto(server.url + "/campaigns/new")
    await expect(page.locator("h3")).to_contain_text("You need the manager role")
    await shot(page, backend, "forbidden")
    await page.goto(server.url + "/keys")
    await expect(page.locator("h3")).to_contain_text("You need the owner role")
    await page.goto(server.url + "/contacts")
    await expect(page.locator("h1")).to_have_text("Contacts")


async def test_done_when_demo_login_copy_curl_run_it_watch_it_arrive(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    """The issue's "Done when": a new user who ran `make run` signs in with the printed login,
    finds the demo campaign, copies its curl, runs it, and watches the message arrive in the
    sandbox inbox and in the campaign's analytics."""
    server, _ = live
    demo = run_wacast_demo(server)  # what `make run` prints: the login and the demo API key
    page = await context.new_page()
    await page.goto(server.url + "/")
    await page.fill("#email", demo["email"])
    await page.fill("#password", demo["password"])
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Overview")
    await page.click("nav >> text=Campaigns")
    await page.click("#campaigns-table >> text=order_update")
    await expect(page.locator("#campaign-status")).to_have_text("live")
    await expect(page.locator("#count-total")).to_have_text("0")
    await page.fill("#api-key-input", demo["api_key"])
    await page.click("#copy-curl")
    await expect(page.locator("#copy-curl")).to_have_text("Copied")
    curl = await page.evaluate("navigator.clipboard.readText()")
    assert curl.startswith(f"curl -s -X POST {server.url}/campaign/t1/api/v2") and demo["api_key"] in curl
    ran = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
    assert '"success":"true"' in ran.stdout.replace(" ", ""), ran.stdout + ran.stderr
    message_id = re.search(r'"submitted_message_id":\s*"([^"]+)"', ran.stdout).group(1)
    campaign_url = page.url
    # The campaign's analytics refresh by themselves.
    await expect(page.locator("#count-total")).to_have_text("1")
    await expect(page.locator("#count-read")).to_have_text("1")
    await page.click("nav >> text=Sandbox inbox")
    item = page.locator(f'[data-message-id="{message_id}"]')
    await expect(item).to_contain_text("your order")
    await expect(item.locator(".msg-status")).to_have_text("read")
    await page.goto(campaign_url)
    await expect(page.locator("#count-delivered")).to_have_text("1")


def run_wacast_demo(server: LiveServer) -> dict[str, str]:
    """`wacast demo` as `make run` runs it (a second run refreshes and prints the same login)."""
    import os
    import sys

    env = {**os.environ, "WACAST_DATABASE_URL": server.settings.database_url, "WACAST_HOST": "127.0.0.1",
           "WACAST_PORT": str(server.port), "WACAST_SECRET_KEY": server.settings.secret_key, "WACAST_ENVIRONMENT": "test",
           "COLUMNS": "250", "NO_COLOR": "1"}
    wacast = str(Path(sys.executable).with_name("wacast"))
    printed = subprocess.run([wacast, "demo"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    login = re.search(r"Login:\s+(\S+)\s+/\s+(\S+)", printed)
    key = re.search(r"Demo API key:\s+(\S+)", printed)
    assert login and key, printed
    assert f"Dashboard:      http://127.0.0.1:{server.port}/" in printed
    return {"email": login.group(1), "password": login.group(2), "api_key": key.group(1)}


async def test_templates_preview_and_create(live, context: BrowserContext, backend: str) -> None:  # noqa: ANN001
    server, _ = live
    page = await context.new_page()
    await sign_in(page, server.url, "manager@demo.wacast.local", "password-manager")
    await page.goto(server.url + "/templates")
    await expect(page.locator("#templates-table")).to_contain_text("festive_offer")
    await shot(page, backend, "templates")
    await page.click("text=festive_offer")
    await expect(page.locator(".bubble .body")).to_have_text("Hello Asha! Enjoy 20% off on everything this week.")
    await expect(page.locator(".bubble .buttons")).to_contain_text("Shop now")
    await shot(page, backend, "template-preview")
    await page.goto(server.url + "/templates/new")
    await page.fill("#name", "cart_reminder")
    await page.select_option("#header_type", "TEXT")
    await page.fill("#header_text", "Still thinking, {{1}}?")
    await page.fill("#header_example", "Asha")
    await page.fill("#body", "Your cart with {{1}} is waiting. Complete your order today.")
    await page.fill("#body_samples", "2 items")
    await page.fill("#quick_replies", "Show my cart\nNot now")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("cart_reminder")
    await expect(page.locator(".bubble .body")).to_have_text("Your cart with 2 items is waiting. Complete your order today.")
    await expect(page.locator(".bubble .buttons")).to_contain_text("Not now")
    await page.goto(server.url + "/tags")
    await page.fill("#tags-panel input[name=name]", "festival-2026")
    await page.click("#tags-panel button:has-text('Create')")
    await expect(page.locator("#tags-panel")).to_contain_text("festival-2026")
    await shot(page, backend, "tags")


async def _record_failures(url: str, failures: list[tuple[str, int, str]]) -> None:
    """Messages Meta refused, recorded through wacast's own repositories (as the events
    processor does for a `failed` status webhook)."""
    import uuid

    from wacast.models.campaigns import Campaign
    from wacast.contacts import repository as contacts_repo
    from wacast.kit.clock import utcnow
    from wacast.messages import repository as messages_repo
    from sqlalchemy import select

    db = Database(url)
    try:
        async with db.transaction() as session:
            campaign = (await session.execute(select(Campaign).where(Campaign.name == "festive_offer"))).scalar_one()
            for phone, code, title in failures:
                contact_id = await contacts_repo.get_or_create_by_phone(session, campaign.project_id, phone, "", "test")
                message_id = uuid.uuid4()
                now = utcnow()
                await messages_repo.insert_queued(
                    session, message_id=message_id, project_id=campaign.project_id, campaign_id=campaign.id, contact_id=contact_id,
                    template_id=campaign.template_id, destination=phone, payload={"template": "festive_offer", "language": "en", "components": []},
                    now=now,
                )
                await messages_repo.mark_failed(session, message_id, None, now, code, title, None)
    finally:
        await db.dispose()


async def test_failures_show_meta_code_meaning_and_what_to_do(live, context: BrowserContext, backend: str, media_server) -> None:  # noqa: ANN001
    server, demo = live
    for i in range(3):
        sent = httpx.post(server.url + "/campaign/t1/api/v2", json={
            "apiKey": demo["api_key"], "campaignName": "festive_offer", "destination": f"+91981230000{i}", "userName": f"Buyer {i}",
            "templateParams": [f"Buyer {i}", "20%"], "media": {"url": media_server.url("/photo.jpg")},
            "buttons": [{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "FESTIVE20"}]}],
        })
        assert sent.status_code == 200, sent.text
    await _record_failures(server.settings.database_url, [
        ("+919812399901", 131026, "Message undeliverable"), ("+919812399902", 131026, "Message undeliverable"),
        ("+919812399903", 131050, "User has stopped marketing messages"),
    ])
    page = await context.new_page()
    await sign_in(page, server.url, demo["email"], demo["password"])
    await page.click("nav >> text=Campaigns")
    await page.click("#campaigns-table >> text=festive_offer")
    table = page.locator("#failures-table")
    await expect(page.locator("#count-read")).to_have_text("3")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await expect(table.locator("tbody tr").first).to_contain_text("131026")
    await expect(table.locator("tbody tr").first).to_contain_text("The message could not be delivered")
    await expect(table.locator("tbody tr").first).to_contain_text("What to do: Check the number")
    await expect(table).to_contain_text("The person stopped marketing messages from you")
    await expect(page.locator("#request")).to_contain_text('"media"')  # an image header needs media
    await shot(page, backend, "campaign-failures")
    await page.click("a.btn:has-text('Failed')")
    await expect(page.locator("#audience")).to_contain_text("+919812399903")
    await page.goto(server.url + "/")
    await expect(page.locator("text=Recent failures")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("131050")
    await shot(page, backend, "overview-failures")
