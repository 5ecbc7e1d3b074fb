"""kit/net's address rule and URL parsing: pure, no I/O.

Issue 12: IPv6 forms that embed a loopback or private IPv4 address passed the old check
(`is_global`), and some malformed URLs made the checks raise (500s)."""

from __future__ import annotations

import ipaddress

import pytest

from wacast.kit.net import InvalidUrl, embedded_ipv4, is_public, parse_url

REFUSED = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    # IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of loopback and private addresses
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::10.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:101",
    "2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::",
    # the local-use NAT64 prefix and Teredo lead where only the network knows
    "64:ff9b:1::808:808", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",  # documentation
]

ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001:80b::200e",
    # embedded public IPv4 addresses are judged by their IPv4
    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert is_public(address) is False


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert is_public(address) is True


def test_embedded_ipv4_is_decoded():
    loopback = ipaddress.IPv4Address("127.0.0.1")
    for form in ("::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        assert embedded_ipv4(ipaddress.IPv6Address(form)) == loopback
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1111")) is None


@pytest.mark.parametrize("url", [
    "http://" + "a" * 300 + ".com/a.jpg",  # a label over 63 characters (IDNA raised UnicodeError)
    "http://" + ".".join(["a" * 60] * 5) + "/a.jpg",  # a name over 253 characters
    "http://[:::1]/a.jpg", "http://[:::1]/",  # not an IPv6 address (urlsplit raised ValueError)
    "http://127.0.0.1:99999/", "http://example.com:0/", "http://example.com:-1/",  # port out of range
    "ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://127.0.0.1/", "http:///a.jpg", "/a.jpg", "",
    "http://ex ample.com/", "http://exa%6dple.com/", "http://xn--/", "http://a..b/",
    None, 42, "http://example.com/" + "a" * 2000,
])
def test_malformed_urls_are_invalid(url):
    with pytest.raises(InvalidUrl):
        parse_url(url)


@pytest.mark.parametrize("url,host,port", [
    ("http://example.com/a.jpg", "example.com", 80),
    ("https://cdn.example.com:8443/a.jpg?x=1", "cdn.example.com", 8443),
    ("HTTPS://Example.COM/a", "example.com", 443),
    ("http://[2606:4700::1111]/a", "2606:4700::1111", 80),
    ("http://127.0.0.1:8080/h", "127.0.0.1", 8080),  # well formed; the address rule refuses it later
    ("https://bücher.de/a.jpg", "xn--bcher-kva.de", 443),
    ("https://my_host.example.com/", "my_host.example.com", 443),
])
def test_well_formed_urls_parse(url, host, port):
    target = parse_url(url)
    assert (target.host, target.port) == (host, port)
