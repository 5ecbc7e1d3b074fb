"""The campaign's UTM parameters on a destination URL (pure, no I/O)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


def default_utm(campaign_name: str, content: str | None = None) -> dict[str, str]:
    """What a campaign adds unless it says otherwise (links/tracking.py can override each)."""
    utm = {"utm_source": "whatsapp", "utm_medium": "message", "utm_campaign": campaign_name}
    if content:
        utm["utm_content"] = content
    return utm


def with_utm(url: str, utm: dict[str, str]) -> str:
    """`url` with the UTM parameters it does not already carry (those it has are kept as they
    are, never duplicated); the fragment stays at the end."""
    parts = urlsplit(url)
    present = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = [(key, value) for key, value in utm.items() if key.lower() not in present and value]
    if not added:
        return url
    query = f"{parts.query}&{urlencode(added)}" if parts.query else urlencode(added)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
