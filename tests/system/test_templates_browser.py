"""Templates in a real browser (Debian's Chromium through Playwright) against the real app on
loopback, on SQLite and PostgreSQL: placeholders show as typed ({{1}}, {{first_name}}, and
markup as text), a template Meta would refuse comes back with the reason and the form as typed,
then edit, duplicate and delete, and a delete refused while a campaign uses the template."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.system.test_dashboard_browser import browser, context, live, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")

BODY = "Hi {{1}}, your order {{2}} ships on {{3}}."


async def manager_page(live, context: BrowserContext) -> tuple[Page, str]:  # noqa: F811
    server, _ = live
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the Delete button asks first
    await sign_in(page, server.url, "manager@demo.wacast.local", "password-manager")
    return page, server.url


async def test_placeholders_show_literally_and_a_refused_template_keeps_the_form(live, context: BrowserContext) -> None:  # noqa: F811
    page, base = await manager_page(live, context)
    await page.goto(base + "/templates/new")
    # The form's examples are Meta's placeholders, not Jinja's output ("Hi 1, your order 2").
    await expect(page.locator("#body")).to_have_attribute("placeholder", "Hi {{1}}, your order {{2}} has shipped.")
    await expect(page.locator("#url_sample")).to_have_attribute("placeholder", "Sample for {{1}}")
    await expect(page.locator("#url")).to_have_attribute("placeholder", "https://shop.example.com/track/{{1}}")
    await expect(page.locator("#template-form")).to_contain_text("Placeholders {{1}}, {{2}}… are filled from templateParams")

    # Three placeholders, two samples: refused as Meta would, everything typed still there.
    await page.fill("#name", "ship_date")
    await page.select_option("#category", "UTILITY")
    await page.fill("#body", BODY)
    await page.fill("#body_samples", "Asha, ORD-1")
    await page.fill("#footer", "Reply STOP to opt out")
    await page.fill("#quick_replies", "Track it\nThanks")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("#template-error")).to_contain_text("3 placeholder(s) but 2 sample value(s)")
    await expect(page.locator("#template-error")).to_contain_text("(TEMPLATE_INVALID)")
    await expect(page.locator("#name")).to_have_value("ship_date")
    await expect(page.locator("#body")).to_have_value(BODY)
    await expect(page.locator("#body_samples")).to_have_value("Asha, ORD-1")
    await expect(page.locator("#footer")).to_have_value("Reply STOP to opt out")
    await expect(page.locator("#quick_replies")).to_have_value("Track it\nThanks")
    await page.goto(base + "/templates")
    await expect(page.locator("#templates-table")).not_to_contain_text("ship_date")  # nothing was written

    # With a third sample it is approved at once (sandbox); its text shows as written.
    await page.goto(base + "/templates/new")
    await page.fill("#name", "ship_date")
    await page.fill("#body", BODY)
    await page.fill("#body_samples", "Asha, ORD-1, Monday")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("ship_date")
    await expect(page.locator("h1 .badge")).to_have_text("APPROVED")
    await expect(page.locator("#template-text")).to_have_text(BODY)
    await expect(page.locator(".bubble .body")).to_have_text("Hi Asha, your order ORD-1 ships on Monday.")
    await expect(page.locator("#definition")).to_contain_text('"text": "Hi {{1}}, your order {{2}} ships on {{3}}."')

    # Named placeholders, and markup typed into a body, stay text everywhere.
    await page.goto(base + "/templates/new")
    await page.fill("#name", "named_hello")
    await page.select_option("#parameter_format", "NAMED")
    await page.fill("#body", "Hello {{first_name}}, <b>your</b> table is ready.")
    await page.fill("#body_samples", "Asha")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("#template-text")).to_have_text("Hello {{first_name}}, <b>your</b> table is ready.")
    await expect(page.locator(".bubble .body")).to_have_text("Hello Asha, <b>your</b> table is ready.")
    assert await page.locator(".bubble .body b, #template-text b").count() == 0
    await page.goto(base + "/templates")
    row = page.locator("#templates-table tr", has_text="named_hello")
    await expect(row).to_contain_text("Hello {{first_name}}, <b>your</b> table is ready.")
    await expect(row.locator(".ph")).to_have_text("{{first_name}}")
    await expect(page.locator("#templates-table tr", has_text="ship_date")).to_contain_text(BODY)


async def test_edit_duplicate_and_delete_a_template(live, context: BrowserContext) -> None:  # noqa: F811
    page, base = await manager_page(live, context)
    await page.goto(base + "/templates/new")
    await page.fill("#name", "pickup_ready")
    await page.fill("#body", "Hi {{1}}, your parcel {{2}} is ready for pickup.")
    await page.fill("#body_samples", "Asha, PKG-7")
    await page.fill("#url_text", "Find the store")
    await page.fill("#url", "https://shop.example.com/stores/{{1}}")
    await page.fill("#url_sample", "pune")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("pickup_ready")
    template_url = page.url

    # Edit: the form comes filled; a refused edit keeps what was typed; a good one is saved.
    await page.click("#edit-template")
    await expect(page.locator("h1")).to_contain_text("Edit pickup_ready")
    await expect(page.locator("#name")).to_have_value("pickup_ready")
    await expect(page.locator("#body")).to_have_value("Hi {{1}}, your parcel {{2}} is ready for pickup.")
    await expect(page.locator("#body_samples")).to_have_value("Asha, PKG-7")
    await expect(page.locator("#url")).to_have_value("https://shop.example.com/stores/{{1}}")
    await page.fill("#body", "{{1}}, parcel {{2}} waits for you at the store.")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("#template-error")).to_contain_text("cannot start with a placeholder")
    await expect(page.locator("#body")).to_have_value("{{1}}, parcel {{2}} waits for you at the store.")
    await page.fill("#body", "Hello {{1}}, parcel {{2}} waits for you at the store.")
    await page.click("#template-form button[type=submit]")
    await expect(page).to_have_url(template_url)
    await expect(page.locator(".bubble .body")).to_have_text("Hello Asha, parcel PKG-7 waits for you at the store.")
    await expect(page.locator("h1 .badge")).to_have_text("APPROVED")  # the sandbox approves the edit at once

    # Duplicate: the new-template form, filled, under a new name.
    await page.click("#duplicate-template")
    await expect(page.locator("h1")).to_have_text("New template")
    await expect(page.locator("#name")).to_have_value("pickup_ready_copy")
    await expect(page.locator("#body")).to_have_value("Hello {{1}}, parcel {{2}} waits for you at the store.")
    await expect(page.locator("#url_text")).to_have_value("Find the store")
    await page.click("#template-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("pickup_ready_copy")
    await expect(page.locator(".bubble .buttons")).to_contain_text("Find the store")

    # Delete the copy; the original stays.
    await page.click("#delete-template button")
    await expect(page).to_have_url(re.compile(r"/templates$"))
    await expect(page.locator(".flash.ok")).to_contain_text("Template pickup_ready_copy (en) deleted.")
    await expect(page.locator("#templates-table")).not_to_contain_text("pickup_ready_copy")
    await expect(page.locator("#templates-table")).to_contain_text("pickup_ready")

    # A template a live campaign uses is not deleted: the refusal names the campaign.
    await page.click("#templates-table >> text=order_update")
    await expect(page.locator("#template-uses")).to_contain_text("campaign order_update · live")
    await page.click("#delete-template button")
    await expect(page.locator(".flash.error")).to_contain_text("used by campaign order_update (live)")
    await expect(page.locator(".flash.error")).to_contain_text("(TEMPLATE_IN_USE)")
    await expect(page.locator("h1")).to_contain_text("order_update")
