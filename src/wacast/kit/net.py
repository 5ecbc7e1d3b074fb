"""The one guarded path for HTTP requests to URLs that others chose (media URLs, customer webhooks).

Server-side request forgery is the risk: a URL, or a redirect, or a DNS answer that changes
between the check and the connection (rebinding), that makes wacast knock on its own network
(127.0.0.1, 10/8, the cloud metadata address, a NAT64 form of them). The rules, in one place:

- the URL is parsed strictly (http or https, a valid host and port), else `InvalidUrl`;
- the host is resolved once per connection, and if ANY address is not allowed (`is_public`
  by default) the request is refused with `ForbiddenAddress` before any connection is made;
- the connection goes to one of the addresses just checked: the check runs inside the
  connection pool's network backend, so no second resolution can differ (TLS still verifies
  the URL's hostname, which stays in the request);
- redirects are followed by hand, each hop checked the same way, at most `max_redirects`;
- any failure to get an answer is `Unreachable` with a short generic reason, so that the
  caller's answer tells nothing more about the far side than "no answer";
- environment proxies are ignored: through a proxy the guard could not pin the peer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]
AddressPolicy = Callable[[IPAddress], bool]

MAX_URL_LENGTH = 2000
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a site's own translator
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (also :: and ::1)


class OutboundError(Exception):
    """A request the guard refused or could not complete; str() is a short, safe reason."""


class InvalidUrl(OutboundError):
    pass


class ForbiddenAddress(OutboundError):
    pass


class Unreachable(OutboundError):
    pass


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, IPv4-compatible, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_public(address: IPAddress | str) -> bool:
    """True for a globally routable unicast address; embedded IPv4 forms are judged by their IPv4."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        if address in _NAT64_LOCAL or address.teredo is not None:
            return False  # a local translator or a tunnel: where it leads is not ours to judge
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast or address.is_unspecified or address.is_reserved
        or address.is_loopback or address.is_link_local or address.is_private
    )


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str  # IDNA-encoded, IPv6 without brackets
    port: int


def parse_url(url: Any) -> Target:
    """An absolute http(s) URL with a valid host and port, or `InvalidUrl`."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"the URL must be an http or https URL of at most {MAX_URL_LENGTH} characters")
    try:
        port = urlsplit(url).port  # raises ValueError for a port out of range or a bad IPv6 literal
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (ValueError, UnicodeError, httpx.InvalidURL):
        raise InvalidUrl("the URL's host or port is not valid") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise InvalidUrl("the URL must be an absolute http or https URL")
    if not _valid_host(host):
        raise InvalidUrl("the URL's host is not a valid host name or address")
    port = port if port is not None else parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise InvalidUrl("the URL's port is not valid")
    return Target(parsed, host, port)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def _valid_host(host: str) -> bool:
    if _literal(host) is not None:
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _allow_all(_address: IPAddress) -> bool:
    return True


class OutboundGuard:
    """An HTTP client whose every connection goes only to addresses the policy allows.

    `resolve` and `is_allowed` are the peer (DNS) and the policy; tests pass their own.
    `allow_private` turns the policy off (a receiver or media server on your own network).
    """

    def __init__(
        self, *, timeout: float = 10.0, allow_private: bool = False, resolve: Resolve = system_resolve,
        is_allowed: AddressPolicy = is_public, max_redirects: int = 3, max_connections: int = 20,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.resolve = resolve
        self.is_allowed = _allow_all if allow_private else is_allowed
        self.max_redirects = max_redirects
        self._limits = httpx.Limits(max_connections=max_connections)
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, resolved once; refused if any of them is not allowed."""
        literal = _literal(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                answers = await asyncio.wait_for(self.resolve(host, port), self.timeout)
                found = [ipaddress.ip_address(str(a).split("%")[0]) for a in answers]
            except (OSError, UnicodeError, ValueError, TimeoutError):
                raise Unreachable("unknown host") from None
            if not found:
                raise Unreachable("unknown host")
        if not all(self.is_allowed(a) for a in found):
            raise ForbiddenAddress("the host resolves to a private, loopback, link-local or reserved address")
        return found

    async def check(self, url: Any) -> Target:
        """Parse and judge a URL without connecting (a webhook subscription being saved)."""
        target = parse_url(url)
        await self.addresses(target.host, target.port)
        return target

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=_pinned_transport(_PinnedBackend(self), self._limits), timeout=self.timeout,
                follow_redirects=False, trust_env=False, headers=self._headers,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self, method: str, url: Any, *, headers: Mapping[str, str] | None = None, content: bytes | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """The answer, streamed (close it, or use `open`). A 3xx is returned as is unless following."""
        target = parse_url(url)
        client = self._http()
        for _hop in range(self.max_redirects + 1):
            request = client.build_request(method, target.url, headers=headers, content=content)
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException:
                raise Unreachable("timed out") from None
            except (httpx.HTTPError, httpx.InvalidURL, OSError):
                raise Unreachable("connection failed") from None
            location = response.headers.get("location")
            if not follow_redirects or not response.is_redirect or location is None:
                return response
            await response.aclose()
            try:
                target = parse_url(str(target.url.join(location)))
            except (InvalidUrl, httpx.InvalidURL):
                raise Unreachable("redirect to an invalid URL") from None
            if response.status_code == 303 and method != "HEAD":
                method, content = "GET", None
        raise Unreachable(f"more than {self.max_redirects} redirects")

    @asynccontextmanager
    async def open(self, method: str, url: Any, **options: Any) -> AsyncIterator[httpx.Response]:
        response = await self.send(method, url, **options)
        try:
            yield response
        finally:
            await response.aclose()


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard in front: resolve once, judge, connect to that."""

    def __init__(self, guard: OutboundGuard) -> None:
        self.guard = guard
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = Unreachable("connection failed")
        for address in await self.guard.addresses(host, port):
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # every address was allowed; try the next one
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise Unreachable("connection failed")  # never a unix socket from a URL

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _pinned_transport(backend: _PinnedBackend, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx does not let a caller pass httpcore a network backend; swap in the same pool with ours.
    # If httpx ever renames the attribute, fail here rather than send unguarded requests.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("httpx's transport has no connection pool to guard (httpx version changed?)")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport
