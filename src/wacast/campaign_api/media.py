"""Header media checks: the URL must be public, reachable, and of a type and size Meta takes.

Meta fetches the media itself when it delivers; a URL it cannot fetch fails the message later
(131053). Checking at the door turns that late failure into a clear 400 now.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from wacast.kit.errors import WacastError

MB = 1024 * 1024
# Header kind -> (allowed content types, max bytes). Meta's "Supported media types";
# template document headers take PDF only.
MEDIA_RULES: dict[str, tuple[tuple[str, ...], int]] = {
    "IMAGE": (("image/jpeg", "image/png"), 5 * MB),
    "VIDEO": (("video/mp4", "video/3gpp"), 16 * MB),
    "DOCUMENT": (("application/pdf",), 100 * MB),
    "GIF": (("video/mp4",), 3_500_000),
}


@dataclass(frozen=True)
class MediaInfo:
    content_type: str
    size: int | None


class MediaChecker:
    def __init__(self, *, timeout: float, cache_seconds: int, allow_private_hosts: bool) -> None:
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.allow_private_hosts = allow_private_hosts
        self._cache: dict[str, tuple[float, MediaInfo | WacastError]] = {}
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True, max_redirects=3)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self, url: str, header_format: str, field: str = "media.url") -> MediaInfo:
        info = await self._probe(url, field)
        allowed, max_size = MEDIA_RULES.get(header_format, MEDIA_RULES["IMAGE"])
        if info.content_type not in allowed:
            raise WacastError(
                f"Media type {info.content_type or 'unknown'} is not allowed for a {header_format.lower()} header",
                "MEDIA_TYPE_INVALID",
                {"field": field, "content_type": info.content_type, "allowed": list(allowed)},
            )
        if info.size is not None and info.size > max_size:
            raise WacastError(
                f"Media is too large for a {header_format.lower()} header ({info.size} bytes, at most {max_size})",
                "MEDIA_TOO_LARGE",
                {"field": field, "size": info.size, "max_size": max_size},
            )
        return info

    async def _probe(self, url: str, field: str) -> MediaInfo:
        now = time.monotonic()
        cached = self._cache.get(url)
        if cached and cached[0] > now:
            if isinstance(cached[1], WacastError):
                raise cached[1]
            return cached[1]
        try:
            info: MediaInfo | WacastError = await self._fetch_info(url, field)
        except WacastError as error:
            info = error
        if len(self._cache) > 5000:
            self._cache.clear()
        # Failures are cached briefly only: the sender may be fixing the URL right now.
        ttl = self.cache_seconds if isinstance(info, MediaInfo) else min(self.cache_seconds, 10)
        self._cache[url] = (now + ttl, info)
        if isinstance(info, WacastError):
            raise info
        return info

    async def _fetch_info(self, url: str, field: str) -> MediaInfo:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WacastError("Media URL must be an http(s) URL", "MEDIA_URL_INVALID", {"field": field})
        await self._check_host(parts.hostname, field)
        client = self._http()
        try:
            response = await client.head(url)
            if response.status_code in (403, 405, 501) or "content-type" not in response.headers:
                # Some servers refuse HEAD; a one-byte ranged GET tells type and size.
                async with client.stream("GET", url, headers={"Range": "bytes=0-0"}) as streamed:
                    response = streamed
        except (httpx.HTTPError, OSError) as error:
            raise WacastError(
                "Media URL is not reachable",
                "MEDIA_URL_UNREACHABLE",
                {"field": field, "reason": type(error).__name__},
            ) from None
        for hop in [*response.history, response]:
            await self._check_host(hop.url.host, field)
        if not 200 <= response.status_code < 300:
            raise WacastError(
                f"Media URL is not reachable (HTTP {response.status_code})",
                "MEDIA_URL_UNREACHABLE",
                {"field": field, "status_code": response.status_code},
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return MediaInfo(content_type, _size_of(response))

    async def _check_host(self, host: str, field: str) -> None:
        if self.allow_private_hosts:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise WacastError(
                "Media URL is not reachable (unknown host)", "MEDIA_URL_UNREACHABLE", {"field": field}
            ) from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not address.is_global:
                raise WacastError(
                    "Media URL must be publicly reachable (private, loopback and link-local hosts are refused)",
                    "MEDIA_URL_FORBIDDEN",
                    {"field": field},
                )


def _size_of(response: httpx.Response) -> int | None:
    content_range = response.headers.get("content-range", "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    length = response.headers.get("content-length", "")
    if response.status_code != 206 and length.isdigit():
        return int(length)
    return None
