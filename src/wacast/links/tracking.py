"""A campaign's click and conversion settings (its `tracking` column), checked (pure, no I/O).

    {"utm": {"utm_medium": "broadcast", "utm_content": "shop_now"},   # added to tracked links
     "goals": ["purchase", "cart"],                                     # named conversion goals
     "attribution_window_days": 7,                                      # 1-90, default 7
     "track_body_urls": false}                                          # URLs in body parameters

Every key is optional; NULL means the defaults. UTM values are overrides of
links/utm.default_utm (utm_source=whatsapp, utm_medium=message, utm_campaign=<campaign name>);
an empty value leaves that parameter out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.links.attribution import DEFAULT_WINDOW_DAYS
from wacast.links.utm import UTM_KEYS, default_utm

MAX_GOALS = 5
MAX_WINDOW_DAYS = 90
GOAL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
FIELDS = ("utm", "goals", "attribution_window_days", "track_body_urls")


@dataclass(frozen=True)
class Tracking:
    utm: dict[str, str] = field(default_factory=dict)  # overrides of the default UTM parameters
    goals: tuple[str, ...] = ()
    window_days: int = DEFAULT_WINDOW_DAYS
    track_body_urls: bool = False  # each http(s) URL in a body parameter becomes a tracked link

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def utm_for(self, campaign_name: str, content: str | None = None) -> dict[str, str]:
        return {**default_utm(campaign_name, content), **self.utm}

    def as_dict(self) -> dict[str, Any]:
        return {"utm": dict(self.utm), "goals": list(self.goals), "attribution_window_days": self.window_days,
                "track_body_urls": self.track_body_urls}


def goal_name(value: Any, path: str = "goal") -> str:
    """A conversion goal's name: lower-case letters, digits, `_ . -`, up to 100 characters."""
    if not isinstance(value, str) or not GOAL.match(value.strip().lower()):
        raise WacastError(f"{path} must be a name of lower-case letters, digits, '_', '.' or '-' (up to 100), e.g. \"purchase\"",
                          "FIELD_INVALID", {"field": path})
    return value.strip().lower()


def parse(value: Any, path: str = "tracking") -> Tracking:
    """The settings as a campaign stores them; 400 naming the field for anything else."""
    if value is None:
        return Tracking()
    if not isinstance(value, dict):
        raise WacastError(f"{path} must be an object {{utm, goals, attribution_window_days, track_body_urls}}", "FIELD_INVALID", {"field": path})
    unknown = sorted(set(value) - set(FIELDS), key=str)
    if unknown:
        raise WacastError(f"Unknown field(s): {', '.join(f'{path}.{u}' for u in unknown)}", "VALIDATION_ERROR",
                          {"fields": [f"{path}.{u}" for u in unknown]}, status_code=422)
    utm: dict[str, str] = {}
    raw_utm = value.get("utm") or {}
    if not isinstance(raw_utm, dict):
        raise WacastError(f"{path}.utm must be an object of UTM parameters", "FIELD_INVALID", {"field": f"{path}.utm"})
    for key, given in raw_utm.items():
        if key not in UTM_KEYS:
            raise WacastError(f"{path}.utm.{key} is not a UTM parameter ({', '.join(UTM_KEYS)})", "FIELD_INVALID", {"field": f"{path}.utm.{key}"})
        if not isinstance(given, str):
            raise WacastError(f"{path}.utm.{key} must be a text", "FIELD_INVALID", {"field": f"{path}.utm.{key}"})
        utm[key] = text.clean(f"{path}.utm.{key}", given, max_len=200)
    goals = value.get("goals") or []
    if not isinstance(goals, list) or len(goals) > MAX_GOALS:
        raise WacastError(f"{path}.goals must be a list of up to {MAX_GOALS} goal names", "FIELD_INVALID", {"field": f"{path}.goals"})
    names = tuple(dict.fromkeys(goal_name(g, f"{path}.goals[{i}]") for i, g in enumerate(goals)))
    days = value.get("attribution_window_days", DEFAULT_WINDOW_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise WacastError(f"{path}.attribution_window_days must be a whole number of days from 1 to {MAX_WINDOW_DAYS}",
                          "FIELD_INVALID", {"field": f"{path}.attribution_window_days"})
    body_urls = value.get("track_body_urls", False)
    if not isinstance(body_urls, bool):
        raise WacastError(f"{path}.track_body_urls must be true or false", "FIELD_INVALID", {"field": f"{path}.track_body_urls"})
    return Tracking(utm, names, days, body_urls)


def from_form(utm: dict[str, str], goals: str, window_days: str, track_body_urls: bool = False, path: str = "tracking") -> Tracking:
    """The settings as a form types them (the dashboard's campaign page): a UTM field left blank
    keeps wacast's default, goals are comma-separated names, the window a whole number of days
    (blank: the default). Checked by `parse`, the one validator."""
    raw: dict[str, Any] = {"utm": {k: v.strip() for k, v in utm.items() if v and v.strip()},
                           "goals": [g.strip() for g in goals.split(",") if g.strip()], "track_body_urls": track_body_urls}
    days = window_days.strip()
    if days:
        if not (days.isascii() and days.isdigit()) or len(days) > 3:
            raise WacastError(f"{path}.attribution_window_days must be a whole number of days from 1 to {MAX_WINDOW_DAYS}",
                              "FIELD_INVALID", {"field": f"{path}.attribution_window_days"})
        raw["attribution_window_days"] = int(days)
    return parse(raw, path)
