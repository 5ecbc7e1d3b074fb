"""Who asked for a tracked link: a person's browser, or a machine (pure, no I/O).

WhatsApp, Facebook and most chat apps fetch a link to draw its preview before anyone taps it,
crawlers follow links they find, and a double tap sends two requests. Those requests are kept
(they say the link works) but only a person's first request in a while is a click.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# A second request of the same link within this many seconds is the same tap (a double tap,
# the app's prefetch after the preview, a reload).
REPEAT_SECONDS = 10.0

# Link-preview fetchers of messaging and social apps (they announce themselves).
_PREVIEW = re.compile(
    r"whatsapp|facebookexternalhit|facebookcatalog|meta-externalagent|twitterbot|telegrambot|slackbot|discordbot|"
    r"linkedinbot|skypeuripreview|vkshare|pinterest|embedly|iframely|redditbot|snapchat|viber|line-poker|applebot",
    re.IGNORECASE,
)
# Crawlers, monitors, link checkers and HTTP libraries: no person is behind them.
_BOT = re.compile(
    r"bot\b|bot/|crawler|spider|crawl|slurp|bingpreview|headless|phantomjs|python-requests|python-httpx|aiohttp|"
    r"curl/|wget/|go-http-client|java/|okhttp|libwww|httpclient|scrapy|node-fetch|axios/|postman|insomnia|"
    r"uptime|monitor|pingdom|statuscake|check_http|lighthouse|google-inspectiontool|adsbot|mediapartners",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ClientClass:
    kind: str  # browser | preview | bot | head | repeat
    counted: bool  # a click (a person's tap), or only a request


def classify(method: str, user_agent: str, seconds_since_last: float | None) -> ClientClass:
    """The class of one request of a tracked link. `seconds_since_last`: since the previous
    counted click of the same link (None: it has none)."""
    if method.upper() == "HEAD":
        return ClientClass("head", False)
    machine = _machine(user_agent[:512])
    if machine:
        return ClientClass(machine, False)
    if seconds_since_last is not None and 0 <= seconds_since_last < REPEAT_SECONDS:
        return ClientClass("repeat", False)
    return ClientClass("browser", True)


@lru_cache(maxsize=4096)  # a broadcast's taps come from a few hundred distinct user agents
def _machine(user_agent: str) -> str | None:
    """"preview" or "bot" for a machine's user agent, None for a person's browser."""
    agent = user_agent.strip()
    if _PREVIEW.search(agent):
        return "preview"
    if not agent or _BOT.search(agent):
        return "bot"
    return None
