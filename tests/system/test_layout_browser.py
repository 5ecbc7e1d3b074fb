"""Every dashboard page at a laptop's width (1360 px) and a phone's (390 px), in a real
browser: the page never scrolls sideways (a wide table scrolls inside its card), the menu
folds into a bar on the phone and opens from its button, and no page logs a browser error.

The pages are found by following the dashboard's own links from the overview (one page per
path shape: /campaigns/<id> once, not for every campaign), so a new page is covered without
being listed here."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.system.test_dashboard_browser import WAIT, browser, live, shot, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SKIP = re.compile(r"^/(logout|docs|redoc|openapi\.json|static/|metrics|healthz|readyz)|\.(csv|json)$")
ID = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+)(?=/|$)")
MAX_PAGES = 60

# Why a page is wider than the window: the widest elements that stick out, for the message.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && getComputedStyle(el).position !== 'fixed') {
      let scrolls = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if ((o === 'auto' || o === 'scroll' || o === 'hidden') && p.getBoundingClientRect().right <= width + 1) { scrolls = true; break; }
      }
      if (!scrolls) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ' ' + Math.round(box.right) + 'px');
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 8)};
}"""


async def populate(server, demo) -> None:  # noqa: ANN001
    """Contacts, replies' campaign, a segment and a scheduled broadcast: the detail pages."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {demo['api_key']}"}) as api:
        for i in range(4):
            sent = await api.post("/campaign/t1/api/v2", json={
                "apiKey": demo["api_key"], "campaignName": demo["campaign"], "destination": f"+9173100{i:05d}",
                "userName": f"Buyer with a rather long name number {i}", "templateParams": [f"Buyer{i}", f"ORD-{i}"],
                "source": "Facebook forms", "attributes": {}})
            assert sent.status_code == 200, sent.text
        segment = await api.post("/api/v1/segments", json={
            "name": "Buyers from Facebook", "filter": {"conditions": [{"field": "source", "op": "equals", "value": "Facebook forms"}]}})
        assert segment.status_code == 201, segment.text
        broadcast = await api.post("/api/v1/campaigns", json={
            "type": "broadcast", "name": "Later", "template": "order_update", "segment": segment.json()["id"],
            "params": [{"attribute": "FirstName", "fallback": "there"}, "ORD-NEXT"], "send_at": "2099-01-01T10:00:00Z"})
        assert broadcast.status_code == 201, broadcast.text


def shape(path: str) -> str:
    return ID.sub("/:id", path)


async def links(page: Page) -> list[str]:
    hrefs = await page.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
    return [urlparse(h).path for h in hrefs if h and not SKIP.search(urlparse(h).path)]


@pytest.mark.parametrize("width", [1360, 390])
async def test_every_page_fits_the_window_without_errors(live, browser: Browser, backend: str, width: int) -> None:  # noqa: ANN001, F811
    server, demo = live
    context = await browser.new_context(viewport={"width": width, "height": 860})
    context.set_default_timeout(WAIT)
    page = await context.new_page()
    errors: list[str] = []
    # A template's header image is the user's own media URL (shown in the preview, with a
    # placeholder when it cannot load): off the machine it fails here, and only that may.
    user_media: list[str] = []
    page.on("requestfailed", lambda r: user_media.append(r.url) if r.resource_type == "image" and urlparse(r.url).hostname != "127.0.0.1" else None)
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    await populate(server, demo)
    await sign_in(page, server.url, demo["email"], demo["password"])

    queue, seen, visited = ["/"], {shape("/")}, []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        answer = await page.goto(server.url + path)
        assert answer is not None and answer.status == 200, (path, answer.status if answer else None)
        visited.append(path)
        fit = await page.evaluate(OVERFLOW)
        assert fit["scrollWidth"] <= fit["width"], f"{path} at {width} px is {fit['scrollWidth']} px wide: {fit['out']}"
        for link in await links(page):
            if shape(link) not in seen:
                seen.add(shape(link))
                queue.append(link)
    # The crawl reached the pages a marketer uses, detail pages included.
    shapes = {shape(p) for p in visited}
    for expected in ("/campaigns", "/campaigns/:id", "/contacts", "/contacts/:id", "/broadcasts", "/broadcasts/:id", "/segments",
                     "/templates", "/templates/:id", "/settings", "/sandbox"):
        assert expected in shapes, f"{expected} not reached: {len(visited)} pages, {sorted(shapes)}"
    unexplained = [e for e in errors if "Failed to load resource" not in e]
    assert unexplained == [], unexplained
    assert len(errors) - len(unexplained) <= len(user_media), (errors, user_media)
    await context.close()


async def test_the_menu_folds_on_a_phone_and_opens_from_its_button(live, browser: Browser, backend: str) -> None:  # noqa: ANN001, F811
    server, demo = live
    context = await browser.new_context(viewport={"width": 390, "height": 860})
    context.set_default_timeout(WAIT)
    page = await context.new_page()
    await sign_in(page, server.url, demo["email"], demo["password"])
    await page.goto(server.url + "/campaigns")
    toggle = page.locator("#menu-toggle")
    contacts_link = page.locator("#side-nav a.nav", has_text="Contacts")
    await expect(toggle).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(contacts_link).to_be_hidden()
    await shot(page, backend, "phone-campaigns")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(contacts_link).to_be_visible()
    await shot(page, backend, "phone-menu")
    await contacts_link.click()
    await expect(page).to_have_url(server.url + "/contacts")
    await expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "false")  # a new page starts folded
    await shot(page, backend, "phone-contacts")
    # On a laptop there is no menu button and the links are always there.
    await page.set_viewport_size({"width": 1360, "height": 860})
    await expect(toggle).to_be_hidden()
    await expect(page.locator("#side-nav a.nav", has_text="Campaigns")).to_be_visible()
    await context.close()
