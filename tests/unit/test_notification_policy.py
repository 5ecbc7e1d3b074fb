"""notifications/policy.py (pure): the text kept of a warning, the link, the fingerprint of a
repeat, the email's address, subject and headers (no header injection), the retry backoff."""

from __future__ import annotations

import pytest

from wacast.notifications import policy


def test_a_line_loses_control_characters_and_newlines_and_is_capped() -> None:
    assert policy.line("Held\r\nBcc: x@evil.test\x00 now") == "Held Bcc: x@evil.test now"
    assert policy.line("a" * 300) == "a" * 199 + "…"
    assert policy.line(None) == "" and policy.line("\ud800lone") == "lone"


def test_a_paragraph_keeps_its_lines_only() -> None:
    assert policy.paragraph("one\r\ntwo\x07\u2028three") == "one\ntwo  three"


@pytest.mark.parametrize("value, kept", [
    ("/broadcasts/1b2c", "/broadcasts/1b2c"), ("/notifications?kind=budget", "/notifications?kind=budget"), ("/", "/"),
    ("https://evil.example/", None), ("//evil.example/", None), ("javascript:alert(1)", None), ("/a b", None),
    ("/a\nb", None), (None, None), (42, None), ("/" + "a" * 600, None),
])
def test_only_a_dashboard_path_is_kept_as_the_link(value, kept) -> None:  # noqa: ANN001
    assert policy.link(value) == kept


def test_kind_and_severity_fall_back_instead_of_refusing() -> None:
    assert policy.kind("Broadcast.Paused") == "broadcast.paused" and policy.kind("../etc") == "other" and policy.kind("") == "other"
    assert policy.severity("CRITICAL") == "critical" and policy.severity("loud") == "warning"


def test_the_fingerprint_names_each_part() -> None:
    base = policy.fingerprint("budget", "warning", "Budget at 80 %", "text", None)
    assert base == policy.fingerprint("budget", "warning", "Budget at 80 %", "text", None)
    assert len({base, policy.fingerprint("budget", "critical", "Budget at 80 %", "text", None),
                policy.fingerprint("budget", "warning", "Budget at 80 %", "text", "/x"),
                policy.fingerprint("budget", "warning", "Budget at 80 %text", "", None)}) == 4


def test_absolute_links_need_a_public_http_url() -> None:
    assert policy.absolute("/broadcasts/1", "https://w.example.com/") == "https://w.example.com/broadcasts/1"
    assert policy.absolute("/broadcasts/1", "") == "/broadcasts/1" and policy.absolute(None, "https://w.example.com") is None


@pytest.mark.parametrize("value, kept", [
    ("owner@acme.test", "owner@acme.test"), ("  Owner@Acme.test ", "Owner@Acme.test"),
    ("owner@acme.test\r\nBcc: x@evil.test", None), ("Owner <owner@acme.test>", None), ("a@b@c.test", None),
    ("owner@localhost", None), ("no-at-sign", None), ("a,b@acme.test", None), ("", None), (None, None),
])
def test_an_address_is_one_bare_addr_spec(value, kept) -> None:  # noqa: ANN001
    assert policy.address(value) == kept


def test_subject_and_body() -> None:
    assert policy.subject("acme\nco", "Budget\r\nat 80 %") == "[wacast] acme co: Budget at 80 %"
    assert len(policy.subject("p", "x" * 500)) == policy.SUBJECT_MAX
    body = policy.body("acme", "warning", "Budget at 80 %", "Spent 80 %.", "https://w.example.com/x")
    assert body.startswith("WARNING: Budget at 80 %\n\nSpent 80 %.\n") and "https://w.example.com/x" in body and "owner of the project acme" in body


def test_the_message_has_one_line_headers_and_refuses_a_bad_address() -> None:
    mail = policy.message("alerts@wacast.test", "owner@acme.test", "Held\r\nBcc: x@evil.test", "text\n")
    raw = mail.as_bytes()
    assert b"\r\nBcc:" not in raw and mail["Bcc"] is None and mail["To"] == "owner@acme.test"
    assert mail["Subject"] == "Held Bcc: x@evil.test" and mail["Auto-Submitted"] == "auto-generated"
    with pytest.raises(ValueError):
        policy.message("alerts@wacast.test", "owner@acme.test\r\nBcc: x@evil.test", "s", "b")


def test_backoff_doubles_up_to_its_maximum_and_only_5xx_is_permanent() -> None:
    assert [policy.backoff(a, 30, 3600) for a in (1, 2, 3, 10)] == [30, 60, 120, 3600]
    assert policy.permanent(550) and policy.permanent(554)
    assert not policy.permanent(421) and not policy.permanent(None) and not policy.permanent(250)
