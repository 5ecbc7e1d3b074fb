"""The pure rules of received media (no I/O): which download URLs may get the project's token
(meta/client.media_url_allowed), sha256 in Meta's two spellings, mime types, inline or
attachment, safe file names (whatsapp/media_policy.py)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wacast.meta.client import media_url_allowed
from wacast.whatsapp.media_policy import (
    CSP,
    HEADERS,
    claimed_digest,
    clean_mime,
    content_disposition,
    digest_mismatches,
    is_inline,
    safe_filename,
)

GRAPH = "https://graph.facebook.com"
FAKE = "http://127.0.0.1:8123"


@pytest.mark.parametrize("url", [
    "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256&ext=1744345000&hash=ATx",
    "https://LOOKASIDE.FBSBX.COM/whatsapp_business/attachments/?mid=1",
    "https://fbsbx.com/x",
    "https://scontent.xx.fbcdn-a.facebook.com/v/t61/abc.jpg",
    "https://mmg.whatsapp.net/d/f/abc.enc",
    "https://lookaside.fbsbx.com./whatsapp_business/attachments/?mid=1",
    "https://graph.facebook.com/v23.0/1003383421387256",
])
def test_metas_own_https_hosts_are_allowed(url: str) -> None:
    assert media_url_allowed(url, GRAPH)


@pytest.mark.parametrize("url", [
    "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",  # not over TLS
    "https://lookaside.fbsbx.com:8443/x",  # another port
    "https://evilfbsbx.com/x",
    "https://fbsbx.com.evil.example/x",
    "https://lookaside.fbsbx.com@evil.example/x",  # the real host is evil.example
    "https://user:pass@lookaside.fbsbx.com/x",  # user info: refused outright
    "https://evil.example/?u=https://lookaside.fbsbx.com/",
    "https://xn--fbsbx-9ya.com/x",  # an IDN look-alike
    "https://lookaside.fbsbx.com\\@evil.example/x",
    "https://lookaside.fbsbx.com /x",
    "https://127.0.0.1/x",
    "https://[::1]/x",
    "ftp://lookaside.fbsbx.com/x",
    "file:///etc/passwd",
    "//lookaside.fbsbx.com/x",
    "",
    None,
    42,
    "https://" + "a" * 3000 + ".fbsbx.com/x",
])
def test_any_other_url_is_refused(url: object) -> None:
    assert not media_url_allowed(url, GRAPH)


def test_the_configured_graph_host_is_allowed_with_its_scheme_and_port_only() -> None:
    assert media_url_allowed("http://127.0.0.1:8123/whatsapp_business/attachments/?mid=1", FAKE)
    assert not media_url_allowed("http://127.0.0.1:8124/whatsapp_business/attachments/?mid=1", FAKE)  # another loopback server
    assert not media_url_allowed("https://127.0.0.1:8123/x", FAKE)
    assert not media_url_allowed("http://localhost:8123/x", FAKE)
    assert not media_url_allowed("http://127.0.0.1:8123/x", "not a url")


def test_sha256_in_hex_and_in_base64_and_what_cannot_be_read() -> None:
    content = b"the bytes"
    digest = hashlib.sha256(content).digest()
    assert claimed_digest(digest.hex()) == digest and claimed_digest(digest.hex().upper()) == digest
    assert claimed_digest(base64.b64encode(digest).decode()) == digest
    assert claimed_digest(base64.urlsafe_b64encode(digest).decode().rstrip("=")) == digest
    for unreadable in (None, "", "<HASH>", "IMAGE_HASH", "zz" * 32, 12345, "a" * 43 + "\x00", digest.hex()[:-2]):
        assert claimed_digest(unreadable) is None
    assert digest_mismatches(content, digest.hex(), base64.b64encode(digest).decode(), "<HASH>", None) == []
    wrong = hashlib.sha256(b"other").hexdigest()
    assert digest_mismatches(content, digest.hex(), wrong) == [wrong]
    # Meta's published image example's hash is of some other file.
    assert digest_mismatches(content, "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=") != []


def test_mime_types_are_kept_only_when_well_formed() -> None:
    assert clean_mime("image/jpeg") == "image/jpeg"
    assert clean_mime("IMAGE/JPEG") == "image/jpeg"
    assert clean_mime("audio/ogg; codecs=opus") == "audio/ogg; codecs=opus"
    assert clean_mime(None, "", "text/html\r\nSet-Cookie: a=b", "image/png") == "image/png"
    assert clean_mime("image/jpeg<script>", "nonsense") == "application/octet-stream"
    assert clean_mime(42, "x" * 300 + "/y") == "application/octet-stream"


def test_inline_only_for_pictures_sound_and_film_never_svg() -> None:
    assert is_inline("image", "image/jpeg") and is_inline("sticker", "image/webp") and is_inline("audio", "audio/ogg; codecs=opus")
    assert is_inline("video", "video/mp4")
    assert not is_inline("document", "application/pdf")
    assert not is_inline("document", "image/jpeg")  # a file sent as a document stays a download
    assert not is_inline("image", "image/svg+xml") and not is_inline("image", "text/html")
    assert content_disposition("image", "image/jpeg", None, "123").startswith('inline; filename="media-123.jpg"')
    assert content_disposition("document", "application/pdf", "Invoice 7.pdf", "9") == (
        "attachment; filename=\"Invoice 7.pdf\"; filename*=UTF-8''Invoice%207.pdf")


@pytest.mark.parametrize(("given", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\a\\report.pdf", "report.pdf"),
    ('Quarterly "report" ü.pdf', "Quarterly _report_ u.pdf"),
    ("a\r\nContent-Type: text/html", "html"),  # the part after the last slash
    ("a\r\nX-Evil: 1.pdf", "a_X-Evil_ 1.pdf"),
    ("résumé.docx", "resume.docx"),
    ("...", "media-42.pdf"),
    ("", "media-42.pdf"),
    (None, "media-42.pdf"),
    ("\x00\ud800", "media-42.pdf"),
    ("x" * 500 + ".pdf", "x" * 116 + ".pdf"),
])
def test_file_names_are_safe(given: object, expected: str) -> None:
    name = safe_filename(given, "42", "application/pdf")
    assert name == expected
    assert len(name) <= 120 and '"' not in name and "/" not in name and "\\" not in name and name.isascii()


def test_every_answer_header_is_restrictive() -> None:
    assert HEADERS["X-Content-Type-Options"] == "nosniff"
    assert CSP.startswith("default-src 'none'") and CSP.endswith("sandbox")
    assert HEADERS["Cache-Control"].startswith("private")
