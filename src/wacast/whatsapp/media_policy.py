"""The pure rules of serving a received media file (whatsapp/media.py uses them): whether the
bytes match the sha256 Meta gave, which mime type to answer with, inline or attachment, a safe
file name and the response headers. No I/O (tests/unit/test_media_policy.py)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from urllib.parse import quote

INLINE_KINDS = ("image", "video", "audio", "sticker")
INLINE_TYPES = ("image/", "video/", "audio/")
NEVER_INLINE = ("image/svg+xml",)  # a document that can run script: always a download
FALLBACK_MIME = "application/octet-stream"
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]{1,100}"
_MIME = re.compile(rf"^{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|\"[A-Za-z0-9 ._+-]{{0,100}}\"))*$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()-]+")
MAX_FILENAME = 120
EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif", "video/mp4": ".mp4",
    "video/3gpp": ".3gp", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac",
    "audio/amr": ".amr", "application/pdf": ".pdf", "text/plain": ".txt",
}

# Every media answer: never sniffed, never a document that runs anything, private to the browser.
CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Cache-Control": "private, max-age=3600",
    "Vary": "Cookie, Authorization",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def claimed_digest(claimed: object) -> bytes | None:
    """The 32-byte digest a sha256 Meta gave stands for: hex (GET /{media-id}) or base64 (the
    webhooks); None when it is neither (absent, a placeholder such as `<HASH>`, hostile)."""
    if not isinstance(claimed, str) or not 40 <= len(claimed) <= 100:
        return None
    text = claimed.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{64}", text):
        return bytes.fromhex(text)
    if re.fullmatch(r"[A-Za-z0-9+/_-]{43}=?", text):
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/").rstrip("=") + "=", validate=True)
        except (binascii.Error, ValueError):
            return None
        return raw if len(raw) == 32 else None
    return None


def digest_mismatches(content: bytes, *claimed: object) -> list[str]:
    """The given sha256 values (those that can be read) that the bytes do not match."""
    actual = hashlib.sha256(content).digest()
    return [str(c) for c in claimed if (d := claimed_digest(c)) is not None and d != actual]


def clean_mime(*candidates: object) -> str:
    """The first candidate that is a well-formed mime type (lower-cased type, parameters kept,
    e.g. `audio/ogg; codecs=opus`); application/octet-stream when none is."""
    for candidate in candidates:
        if isinstance(candidate, str) and len(candidate) <= 200 and _MIME.match(candidate.strip()):
            kind, _, params = candidate.strip().partition(";")
            return kind.strip().lower() + (f"; {params.strip()}" if params.strip() else "")
    return FALLBACK_MIME


def base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def is_inline(kind: object, mime: str) -> bool:
    """Shown in the browser: an image, video, audio or sticker message whose mime type is one
    of those; everything else (documents, unknown types, SVG) is a download."""
    bare = base_mime(mime)
    return kind in INLINE_KINDS and bare.startswith(INLINE_TYPES) and bare not in NEVER_INLINE


def safe_filename(name: object, media_id: str, mime: str) -> str:
    """A file name for Content-Disposition: the sender's name without any path, control or
    unusual characters (accents folded), at most MAX_FILENAME characters; `media-<id><ext>`
    when nothing is left."""
    text = name if isinstance(name, str) else ""
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE_NAME.sub("_", text).strip(" ._")
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_FILENAME - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else text[:MAX_FILENAME]
    if not text:
        text = f"media-{media_id}{EXTENSIONS.get(base_mime(mime), '')}"
    return text


def content_disposition(kind: object, mime: str, filename: object, media_id: str) -> str:
    name = safe_filename(filename, media_id, mime)
    how = "inline" if is_inline(kind, mime) else "attachment"
    return f"{how}; filename=\"{name}\"; filename*=UTF-8''{quote(name, safe='')}"
