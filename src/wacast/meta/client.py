"""A thin async client of Meta's WhatsApp Cloud API (Graph API), on httpx."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any
from urllib.parse import quote

import certifi
import httpx
import orjson

from wacast.kit.net import InvalidUrl, parse_url
from wacast.meta.types import ProviderError, SendResult

# Where Meta serves the media of received messages (the `url` of GET /{media-id}): its own
# domains, over HTTPS only. The Graph base URL wacast is configured with is trusted as well
# (same scheme, host and port): it is where the token already goes (a test double in tests).
MEDIA_HOST_DOMAINS = ("fbsbx.com", "facebook.com", "whatsapp.net")
MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
MAX_MEDIA_REDIRECTS = 3
MAX_ERROR_BODY = 64 * 1024
MEDIA_USER_AGENT = "wacast"


def media_url_allowed(url: Any, graph_base_url: str) -> bool:
    """True when a media download URL may be fetched with the project's token: an https URL
    on one of Meta's domains (MEDIA_HOST_DOMAINS or a subdomain), or a URL on the configured
    Graph base URL's own scheme, host and port. No user info in the URL. Pure: no DNS."""
    try:
        target = parse_url(url)
        base = parse_url(graph_base_url)
    except InvalidUrl:
        return False
    if target.url.userinfo or "\\" in url or any(c.isspace() for c in url):
        return False
    host = target.host.lower().rstrip(".")
    if (target.url.scheme, host, target.port) == (base.url.scheme, base.host.lower().rstrip("."), base.port):
        return True
    if target.url.scheme != "https" or target.port != 443:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in MEDIA_HOST_DOMAINS)


def _usage_wait(header: str | None) -> float | None:
    """Seconds from x-business-use-case-usage's estimated_time_to_regain_access (minutes)."""
    if not header:
        return None
    try:
        usage = orjson.loads(header)
        minutes = max(
            int(item.get("estimated_time_to_regain_access") or 0)
            for items in usage.values() for item in (items or []) if isinstance(item, dict)
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None
    return minutes * 60.0 if minutes > 0 else None


def parse_error(response: httpx.Response) -> ProviderError:
    retry_after = response.headers.get("retry-after")
    try:
        retry = float(retry_after) if retry_after else None
    except ValueError:
        retry = None
    if retry is None:
        retry = _usage_wait(response.headers.get("x-business-use-case-usage"))
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    code = error.get("code")
    return ProviderError(
        code=code if isinstance(code, int) else None,
        title=str(error.get("message") or f"HTTP {response.status_code}")[:500],
        details=details or error.get("error_user_msg"),
        http_status=response.status_code,
        retry_after=retry,
    )


class GraphClient:
    """Requests to the Graph API over keep-alive connections.

    The connections are spread over several small httpx pools used in turn: httpcore scans its
    whole pool for every request, which costs more CPU than the request itself once hundreds of
    connections are open (1,000 messages/s at 150 ms needs about 150 in flight)."""

    CONNECTIONS_PER_POOL = 16

    def __init__(self, base_url: str, version: str, *, timeout: float = 20.0, max_connections: int = 512) -> None:
        self.graph_url = base_url.rstrip("/")
        self.base_url = base_url.rstrip("/") + "/" + version.strip("/")
        self.timeout = timeout
        pools = max(1, -(-max_connections // self.CONNECTIONS_PER_POOL))
        per_pool = max(1, -(-max_connections // pools))
        tls = ssl.create_default_context(cafile=certifi.where())  # loaded once, shared by the pools
        self.pools = [
            httpx.AsyncClient(timeout=timeout, verify=tls,
                              limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool))
            for _ in range(pools)
        ]
        self._turn = 0

    @property
    def http(self) -> httpx.AsyncClient:
        self._turn = (self._turn + 1) % len(self.pools)
        return self.pools[self._turn]

    async def close(self) -> None:
        for pool in self.pools:
            await pool.aclose()

    async def request(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        return await self.http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def send_message(self, phone_number_id: str, token: str, body: dict[str, Any]) -> SendResult:
        try:
            response = await self.request("POST", f"{phone_number_id}/messages", token, json=body)
        except httpx.TimeoutException:
            return SendResult(error=ProviderError(None, "Timeout waiting for Meta", None, None))
        except httpx.HTTPError as error:
            return SendResult(error=ProviderError(None, f"Connection error: {type(error).__name__}", None, None))
        if response.status_code == 200:
            try:
                messages = response.json().get("messages") or []
                wamid = messages[0]["id"]
            except (ValueError, KeyError, IndexError, AttributeError, TypeError):
                return SendResult(error=ProviderError(None, "Meta answered 200 without a message id", response.text[:300], 200))
            return SendResult(wamid=wamid)
        return SendResult(error=parse_error(response))

    async def list_templates(self, waba_id: str, token: str, page_size: int = 100) -> list[dict[str, Any]]:
        """Every template of the WABA, following the paging cursors to the last page."""
        fields = "id,name,language,status,category,components,parameter_format,quality_score,rejected_reason,message_send_ttl_seconds"
        params: dict[str, Any] | None = {"fields": fields, "limit": page_size}
        url = f"{waba_id}/message_templates"
        templates: list[dict[str, Any]] = []
        while True:
            response = await self.request("GET", url, token, params=params)
            if response.status_code != 200:
                raise GraphError(parse_error(response))
            page = response.json()
            templates.extend(page.get("data") or [])
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return templates
            params = {"fields": fields, "limit": page_size, "after": after}

    async def create_template(self, waba_id: str, token: str, template: dict[str, Any]) -> dict[str, Any]:
        response = await self.request("POST", f"{waba_id}/message_templates", token, json=template)
        if response.status_code != 200:
            raise GraphError(parse_error(response))
        return response.json()

    async def edit_template(self, template_id: str, token: str, changes: dict[str, Any]) -> dict[str, Any]:
        """POST /{template-id}: new components (and category, time-to-live) for review."""
        response = await self.request("POST", str(template_id), token, json=changes)
        if response.status_code != 200:
            raise GraphError(parse_error(response))
        return response.json()

    async def delete_template(self, waba_id: str, token: str, name: str, template_id: str | None = None) -> None:
        """DELETE /{waba-id}/message_templates?name=...: every language of `name`, or with
        `template_id` (Meta's hsm_id) that one template only."""
        params = {"name": name, **({"hsm_id": template_id} if template_id else {})}
        response = await self.request("DELETE", f"{waba_id}/message_templates", token, params=params)
        if response.status_code != 200:
            raise GraphError(parse_error(response))


    # --- media of received messages (GET /{media-id}, then the download) -----------------

    async def media_info(self, media_id: str, token: str, phone_number_id: str | None = None) -> dict[str, Any]:
        """GET /{media-id}[?phone_number_id=]: the download URL (valid 5 minutes), mime type,
        sha256 and size Meta gives. Meta's answer is untrusted: only these fields, checked."""
        if not isinstance(media_id, str) or not MEDIA_ID.match(media_id):
            raise GraphError(ProviderError(100, "Invalid media id", None, 400))
        params = {"phone_number_id": phone_number_id} if phone_number_id else None
        response = await self.request("GET", quote(media_id, safe=""), token, params=params)
        if response.status_code != 200:
            raise GraphError(parse_error(response))
        try:
            info = response.json()
        except ValueError:
            info = None
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url:
            raise GraphError(ProviderError(None, "Meta answered without a media URL", None, 200))
        size = info.get("file_size")
        try:
            size = int(size) if size is not None and not isinstance(size, bool) else None
        except (TypeError, ValueError):
            size = None
        return {
            "url": url,
            "mime_type": info["mime_type"][:200] if isinstance(info.get("mime_type"), str) else None,
            "sha256": info["sha256"][:200] if isinstance(info.get("sha256"), str) else None,
            "file_size": size if size is not None and size >= 0 else None,
        }

    async def download_media(self, url: str, token: str, max_bytes: int, *, deadline: float | None = None) -> tuple[bytes, str | None]:
        """The bytes at Meta's media URL (and the answer's Content-Type), fetched with the token.

        The token goes only to a URL `media_url_allowed` accepts: any other is refused
        (`MediaHostRefused`) before a connection is made, and so is a redirect to one (each hop
        is checked; at most MAX_MEDIA_REDIRECTS). The body is streamed and given up as soon as
        it passes `max_bytes` (`MediaTooLarge`; a declared Content-Length over it is refused
        before reading). `deadline`: seconds for the whole download (a trickling peer)."""
        try:
            async with asyncio.timeout(deadline if deadline is not None else max(60.0, self.timeout * 3)):
                return await self._download(url, token, max_bytes)
        except TimeoutError:
            raise httpx.ReadTimeout("the media download took too long") from None

    async def _download(self, url: str, token: str, max_bytes: int) -> tuple[bytes, str | None]:
        http = self.http
        for _hop in range(MAX_MEDIA_REDIRECTS + 1):
            if not media_url_allowed(url, self.graph_url):
                raise MediaHostRefused(url)
            request = http.build_request("GET", url, headers={"Authorization": f"Bearer {token}", "User-Agent": MEDIA_USER_AGENT})
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    try:
                        url = str(response.url.join(location))
                    except (httpx.InvalidURL, ValueError):
                        raise MediaHostRefused(location[:200]) from None
                    continue
                if response.status_code != 200:
                    body = await _read_capped(response, MAX_ERROR_BODY)
                    raise GraphError(parse_error(httpx.Response(response.status_code, headers=response.headers, content=body)))
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise MediaTooLarge(max_bytes, int(declared))
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(max_bytes, None)
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type")
            finally:
                await response.aclose()
        raise GraphError(ProviderError(None, f"more than {MAX_MEDIA_REDIRECTS} redirects for the media download", None, None))


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


class GraphError(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(f"({error.code}) {error.title}")
        self.error = error


class MediaTooLarge(GraphError):
    """A media file over the size limit: given up before or while reading it."""

    def __init__(self, max_bytes: int, declared: int | None) -> None:
        super().__init__(ProviderError(None, f"the media file is larger than {max_bytes} bytes", None, 413))
        self.max_bytes = max_bytes
        self.declared = declared


class MediaHostRefused(GraphError):
    """Meta's answer pointed the download (or a redirect of it) at a host that is not Meta's:
    not fetched, and the token not sent."""

    def __init__(self, url: str) -> None:
        super().__init__(ProviderError(None, "the media URL is not on a Meta host", None, None))
        try:
            self.host = httpx.URL(url).host[:200]
        except (httpx.InvalidURL, ValueError, TypeError):
            self.host = ""
