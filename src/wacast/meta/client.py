"""A thin async client of Meta's WhatsApp Cloud API (Graph API), on httpx."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import httpx
import orjson

from wacast.meta.types import ProviderError, SendResult


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
        self.base_url = base_url.rstrip("/") + "/" + version.strip("/")
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


class GraphError(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(f"({error.code}) {error.title}")
        self.error = error
