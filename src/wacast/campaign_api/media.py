"""Header media checks: the URL must be public, reachable, and of a type and size Meta takes.

Meta fetches the media itself when it delivers; a URL it cannot fetch fails the message later
(131053). Checking at the door turns that late failure into a clear 400 now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from wacast.kit.errors import WacastError
from wacast.kit.net import ForbiddenAddress, InvalidUrl, OutboundGuard, Unreachable

MB = 1024 * 1024
MAX_REDIRECTS = 3
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
    """Checks header media through the guarded outbound path (kit/net): every hop's address is
    judged before wacast connects to it, redirects are followed by hand (at most 3)."""

    def __init__(
        self, *, timeout: float, cache_seconds: int, allow_private_hosts: bool, guard: OutboundGuard | None = None
    ) -> None:
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.allow_private_hosts = allow_private_hosts
        self.guard = guard or OutboundGuard(
            timeout=timeout, allow_private=allow_private_hosts, max_redirects=MAX_REDIRECTS, max_connections=100
        )
        self._cache: dict[str, tuple[float, MediaInfo | WacastError]] = {}

    async def close(self) -> None:
        await self.guard.close()

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
        try:
            async with self.guard.open("HEAD", url, follow_redirects=True) as head:
                response = head
            if response.status_code in (403, 405, 501) or "content-type" not in response.headers:
                # Some servers refuse HEAD; a one-byte ranged GET tells type and size (the body is not read).
                async with self.guard.open("GET", url, headers={"Range": "bytes=0-0"}, follow_redirects=True) as ranged:
                    response = ranged
        except InvalidUrl:
            raise WacastError(
                "Media URL must be an http(s) URL with a valid host and port", "MEDIA_URL_INVALID", {"field": field}
            ) from None
        except ForbiddenAddress:
            raise WacastError(
                "Media URL must be publicly reachable (private, loopback and link-local hosts are refused)",
                "MEDIA_URL_FORBIDDEN",
                {"field": field},
            ) from None
        except Unreachable as error:
            raise WacastError(
                f"Media URL is not reachable ({error})", "MEDIA_URL_UNREACHABLE", {"field": field, "reason": str(error)}
            ) from None
        if not 200 <= response.status_code < 300:
            raise WacastError(
                f"Media URL is not reachable (HTTP {response.status_code})",
                "MEDIA_URL_UNREACHABLE",
                {"field": field, "status_code": response.status_code},
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return MediaInfo(content_type, _size_of(response))


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
