"""Media URL checks cannot be turned against wacast's own network (issue 12, findings 1 and 9).

The peers are real servers: a "public" media server on 127.0.0.2 (Linux routes all of 127/8
on lo) that the test's address policy treats as public, and a canary on 127.0.0.1 that the
policy treats as internal and that must never see a request. DNS is the test's resolver,
given to the guard as its peer (kit/net.OutboundGuard(resolve=..., is_allowed=...)).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.support.factories import body, make_project
from tests.support.ssrf_peers import (
    PUBLIC_IP,
    Peer,
    Resolver,
    treats_127_0_0_2_as_public,
)
from wacast.campaign_api.media import MediaChecker
from wacast.kit.errors import WacastError
from wacast.kit.net import OutboundGuard


@pytest.fixture
def canary() -> Iterator[Peer]:
    peer = Peer("127.0.0.1")
    yield peer
    peer.stop()


@pytest.fixture
def public(canary: Peer) -> Iterator[Peer]:
    # The same port as the canary: a rebinding name then leads to one or the other by address only.
    peer = Peer(str(PUBLIC_IP), canary.port)
    yield peer
    peer.stop()


@pytest.fixture
async def checker_for() -> AsyncIterator[Callable[[Resolver], MediaChecker]]:
    made: list[MediaChecker] = []

    def make(resolver: Resolver) -> MediaChecker:
        guard = OutboundGuard(timeout=2, resolve=resolver, is_allowed=treats_127_0_0_2_as_public, max_redirects=3)
        made.append(MediaChecker(timeout=2, cache_seconds=0, allow_private_hosts=False, guard=guard))
        return made[-1]

    yield make
    for checker in made:
        await checker.close()


async def refused(checker: MediaChecker, url: str) -> WacastError:
    try:
        await checker.check(url, "IMAGE")
    except WacastError as error:
        return error
    raise AssertionError(f"{url} was accepted")


async def test_a_public_media_url_is_checked_through_the_guard(checker_for, public, canary):
    checker = checker_for(Resolver({"media.test": [str(PUBLIC_IP)]}))
    info = await checker.check(public.url("/photo.jpg", "media.test"), "IMAGE")
    assert (info.content_type, info.size) == ("image/jpeg", 1000)
    # Three redirects are followed, each hop judged like the first.
    assert (await checker.check(public.url("/chain/3", "media.test"), "IMAGE")).size == 1000
    assert public.requests[0] == ("HEAD", "/photo.jpg") and canary.requests == []


async def test_a_redirect_to_an_internal_address_is_refused_before_connecting(checker_for, public, canary):
    resolver = Resolver({"media.test": [str(PUBLIC_IP)], "internal.test": ["127.0.0.1"]})
    for target in (canary.url("/photo.jpg"), canary.url("/photo.jpg", "internal.test"), f"http://[::ffff:127.0.0.1]:{canary.port}/photo.jpg"):
        error = await refused(checker_for(resolver), public.url(f"/to?url={target}", "media.test"))
        assert error.code == "MEDIA_URL_FORBIDDEN", (target, error.code, error.details)
    assert canary.requests == []
    assert len(public.requests) == 3  # the first hop was asked each time; the second never


async def test_dns_rebinding_cannot_reach_the_internal_address(checker_for, public, canary):
    # The first answer is public, every later one is loopback: the one connection goes to the
    # address that was judged, and the next check (a new connection) is refused.
    resolver = Resolver({"rebind.test": [str(PUBLIC_IP), "127.0.0.1"]})
    checker = checker_for(resolver)
    info = await checker.check(public.url("/photo.jpg", "rebind.test"), "IMAGE")
    assert info.content_type == "image/jpeg"
    await checker.close()  # the next check opens a new connection, so it resolves again
    with pytest.raises(WacastError) as raised:
        await checker.check(public.url("/photo.jpg?again", "rebind.test"), "IMAGE")
    assert raised.value.code == "MEDIA_URL_FORBIDDEN"
    assert canary.requests == [] and len(public.requests) == 1
    assert resolver.asked == ["rebind.test", "rebind.test"]  # once per connection, never twice for one


async def test_open_and_closed_internal_ports_give_the_same_answer(checker_for, public, canary):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    resolver = Resolver({"media.test": [str(PUBLIC_IP)]})
    answers = []
    for port in (canary.port, closed_port, 5432):
        error = await refused(checker_for(resolver), public.url(f"/to?url=http://127.0.0.1:{port}/photo.jpg", "media.test"))
        answers.append((error.code, error.message, error.details, error.status_code))
    assert answers[0][0] == "MEDIA_URL_FORBIDDEN"
    assert answers[0] == answers[1] == answers[2]
    assert canary.requests == []


async def test_a_redirect_chain_longer_than_three_is_refused(checker_for, public, canary):
    error = await refused(checker_for(Resolver({"media.test": [str(PUBLIC_IP)]})), public.url("/chain/4", "media.test"))
    assert error.code == "MEDIA_URL_UNREACHABLE" and error.details["reason"] == "more than 3 redirects"
    assert len(public.requests) == 4 and canary.requests == []


async def test_unknown_hosts_and_closed_public_ports_are_unreachable_without_detail(checker_for, public, canary):
    with socket.socket() as probe:
        probe.bind((str(PUBLIC_IP), 0))
        closed_port = probe.getsockname()[1]
    resolver = Resolver({"media.test": [str(PUBLIC_IP)]})
    error = await refused(checker_for(resolver), f"http://media.test:{closed_port}/photo.jpg")
    assert (error.code, error.details) == ("MEDIA_URL_UNREACHABLE", {"field": "media.url", "reason": "connection failed"})
    error = await refused(checker_for(resolver), "http://nowhere.test/photo.jpg")
    assert (error.code, error.details) == ("MEDIA_URL_UNREACHABLE", {"field": "media.url", "reason": "unknown host"})


@pytest.mark.parametrize("url", [
    "http://" + "a" * 300 + ".com/a.jpg", "http://[:::1]/a.jpg", "http://127.0.0.1:99999/a.jpg", "http://a..b/a.jpg",
])
async def test_malformed_media_urls_are_a_400_not_a_500(client, db, url):
    # The test settings allow private media hosts (the media_server fixture is on loopback):
    # a malformed URL is refused before any address rule.
    setup = await make_project(db)
    response = await client.post("/campaign/t1/api/v2", json=body(setup, "image_header", media={"url": url}))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "MEDIA_URL_INVALID" and response.json()["details"]["field"] == "media.url"


@pytest.mark.parametrize("url", ["http://[64:ff9b::7f00:1]/a.jpg", "http://[::127.0.0.1]/a.jpg", "http://[2002:7f00:1::]/a.jpg"])
async def test_ipv6_forms_of_loopback_are_forbidden(url):
    # The default guard (the system resolver, kit/net.is_public): no DNS for an address literal.
    checker = MediaChecker(timeout=2, cache_seconds=0, allow_private_hosts=False)
    try:
        with pytest.raises(WacastError) as raised:
            await checker.check(url, "IMAGE")
    finally:
        await checker.close()
    assert raised.value.code == "MEDIA_URL_FORBIDDEN"
