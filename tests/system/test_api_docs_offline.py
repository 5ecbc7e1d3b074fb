"""/docs (Swagger UI) and /redoc (ReDoc) in a real browser (Debian's Chromium through
Playwright) against the real app on loopback, with every request that would leave the machine
blocked: the pages must render from wacast's own assets (api/docs.py), with no console error
and no page error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Route, async_playwright, expect

from tests.support.live_server import LiveServer
from wacast.config import Settings

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-dev-shm-usage",
]
WAIT = 15_000  # ms
# ReDoc 2 always shows Redocly's logo from their CDN; the pages' Content-Security-Policy
# refuses it before any request is made, and Chromium says so in the console.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def is_logo_refusal(message: str) -> bool:
    """Chromium's console line for the CSP refusing ReDoc's logo (its wording changes between
    versions: "Refused to load the image ..." or "Loading the image ... violates ...")."""
    return f"'{REDOCLY_LOGO}'" in message and "Content Security Policy" in message

OPERATION = "Send a campaign message (v2)"  # api/campaign_api.py's summary

@pytest.fixture
def backend() -> str:
    return "sqlite"  # the docs read no data: one backend is enough


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    yield server
    server.stop()


def stays_here(url: str) -> bool:
    """A request that does not leave the machine: loopback, or a document-local data:/blob: URL."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or (parts.scheme == "http" and parts.hostname == "127.0.0.1")


def test_stays_here_tells_loopback_from_the_internet() -> None:
    assert stays_here("http://127.0.0.1:8000/docs-assets/swagger-ui.css")
    assert stays_here("data:image/svg+xml;base64,AAAA")
    assert not stays_here("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js")
    assert not stays_here("https://fonts.googleapis.com/css?family=Montserrat")
    assert not stays_here("http://127.0.0.1.example.com/x")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_api_docs_render_without_internet(browser: Browser, live: LiveServer, path: str) -> None:
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(WAIT)
    requests: list[str] = []
    blocked: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []
    refused_by_csp: list[str] = []  # newer Chromiums report these as requests that failed

    async def guard(route: Route) -> None:
        if stays_here(route.request.url):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", guard)
    try:
        page = await context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("requestfailed", lambda request: refused_by_csp.append(request.url)
                if (request.failure or "").lower() in ("csp", "net::err_blocked_by_csp") else None)

        response = await page.goto(live.url + path)
        assert response is not None and response.status == 200
        # Swagger UI lists it under its tag; ReDoc gives each operation a heading.
        shown = page.locator(".opblock-summary-description", has_text=OPERATION) if path == "/docs" else (
            page.get_by_role("heading", name=OPERATION))
        await expect(shown.first).to_be_visible(timeout=WAIT)
        await page.wait_for_load_state("networkidle")

        assert blocked == []
        assert page_errors == []
        assert [m for m in console_errors if not is_logo_refusal(m)] == []
        assert requests and all(stays_here(url) or url in refused_by_csp for url in requests), requests
        assert set(refused_by_csp) <= {REDOCLY_LOGO}, refused_by_csp
        assert any("/docs-assets/" in url for url in requests)  # the UI's script came from wacast
        assert any(url.endswith("/openapi.json") for url in requests)
    finally:
        await context.close()


def test_openapi_json_and_assets_are_served(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as client:
        spec = client.get("/openapi.json")
        assert spec.status_code == 200
        summaries = {op.get("summary") for ops in spec.json()["paths"].values() for op in ops.values()}
        assert OPERATION in summaries
        assert not any(p.startswith(("/docs", "/redoc")) for p in spec.json()["paths"])  # the docs stay out of the API
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            assert "/docs-assets/" in html and "cdn." not in html and "fonts.googleapis" not in html
        for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css"),
                            ("redoc.standalone.js", "javascript"), ("favicon.png", "image/png")):
            r = client.get(f"/docs-assets/{asset}")
            assert r.status_code == 200 and kind in r.headers["content-type"], asset
        redirect = client.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200 and "oauth2" in redirect.text.lower()
        assert client.get("/docs-assets/../app.py").status_code == 404
