"""A campaign's click and conversion settings as the terminal gives them (`wacast broadcasts
create`, `wacast campaigns tracking`): a JSON object (the `tracking` object of REST, in the
option or in a file) with the flags for its common parts merged over it. Only put together
here; links/tracking.py checks it (the one parser, through links.service), as for REST."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from wacast.cli.common import console, fail
from wacast.kit import text
from wacast.kit.errors import WacastError

HELP = "docs/links.md"
JsonOpt = typer.Option(None, "--tracking", help=f'Clicks and conversions, REST\'s `tracking` object: {{"utm": {{...}}, "goals": [...], ...}} ({HELP}).')
FileOpt = typer.Option(None, "--tracking-file", exists=True, dir_okay=False, help="The tracking object in a JSON file.")
UtmSourceOpt = typer.Option(None, "--utm-source", help="utm_source of tracked links (tracking.utm; default whatsapp; \"\" leaves it out).")
UtmMediumOpt = typer.Option(None, "--utm-medium", help="utm_medium of tracked links (tracking.utm; default message; \"\" leaves it out).")
UtmCampaignOpt = typer.Option(None, "--utm-campaign", help="utm_campaign of tracked links (tracking.utm; default the campaign's name; \"\" leaves it out).")
UtmContentOpt = typer.Option(None, "--utm-content", help="utm_content of tracked links (tracking.utm; \"\" leaves it out).")
UtmTermOpt = typer.Option(None, "--utm-term", help="utm_term of tracked links (tracking.utm; \"\" leaves it out).")
GoalOpt = typer.Option(None, "--goal", metavar="GOAL", help="A conversion goal (tracking.goals), repeatable, up to 5; replaces the JSON's goals.")
WindowOpt = typer.Option(None, "--attribution-window-days", metavar="DAYS", help="Attribution window in days, 1 to 90 (tracking.attribution_window_days; default 7).")
BodyUrlsOpt = typer.Option(None, "--track-body-urls/--no-track-body-urls",
                           help="URLs in body parameters become tracked links (tracking.track_body_urls; needs WACAST_PUBLIC_URL).")


@dataclass(frozen=True)
class Flags:
    """The flags as given (None: not given)."""

    utm: dict[str, str | None]
    goals: list[str] | None
    window_days: str | None
    track_body_urls: bool | None

    def given(self) -> bool:
        return any(v is not None for v in self.utm.values()) or bool(self.goals) or self.window_days is not None or self.track_body_urls is not None


def flags(utm_source: str | None = None, utm_medium: str | None = None, utm_campaign: str | None = None, utm_content: str | None = None,
          utm_term: str | None = None, goals: list[str] | None = None, window_days: str | None = None,
          track_body_urls: bool | None = None) -> Flags:
    utm = {"utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign, "utm_content": utm_content, "utm_term": utm_term}
    return Flags(utm, goals or None, window_days, track_body_urls)


FLAG_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("utm_source", str | None, UtmSourceOpt), ("utm_medium", str | None, UtmMediumOpt), ("utm_campaign", str | None, UtmCampaignOpt),
    ("utm_content", str | None, UtmContentOpt), ("utm_term", str | None, UtmTermOpt), ("goals", list[str] | None, GoalOpt),
    ("window_days", str | None, WindowOpt), ("track_body_urls", bool | None, BodyUrlsOpt),
)


def with_flags(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with the tracking flags as its options (before its --json), given to it as
    one `Flags` in its `tracking_flags` parameter: the flags are declared once, here."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "tracking_flags"]
    at = next((i for i, p in enumerate(own) if p.name == "as_json"), len(own))
    added = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option, annotation=annotation)
             for name, annotation, option in FLAG_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name, _, _ in FLAG_OPTIONS}
        return command(*args, tracking_flags=flags(**given), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own[:at], *added, *own[at:]])  # type: ignore[attr-defined]
    return wrapper


NO_FLAGS = flags()
NOT_GIVEN: Any = object()  # neither the JSON option nor its file was given


def load(raw_json: str | None, json_file: Path | None, option: str = "--tracking") -> Any:
    """The JSON object given in the option or its file (NOT_GIVEN for neither): exit 2 with a
    clear line when it is not JSON or breaks the base text rule (as REST's body)."""
    if json_file is None and raw_json is None:
        return NOT_GIVEN
    try:
        value = json.loads(json_file.read_text() if json_file else raw_json)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        fail(f"{option}{'-file' if json_file else ''} is not JSON: {error}")
    try:
        text.check_tree(value, "tracking")
    except WacastError as error:
        fail(error.message)
    return value


def _days(value: str) -> Any:
    """A whole number as the JSON would have it; anything else as typed, for the parser to refuse by name."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 3 else value


def merge(value: Any, extra: Flags) -> Any:
    """The tracking object to check and store: `value` with the flags over it (a UTM flag
    replaces that parameter, --goal the goals, the others their field). Not checked here:
    links.service.check_tracking does that, so a bad value is refused as REST refuses it."""
    if not extra.given():
        return value
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return value  # the parser says what it must be
    value = dict(value)
    utm = {k: v for k, v in extra.utm.items() if v is not None}
    if utm:
        value["utm"] = {**value["utm"], **utm} if isinstance(value.get("utm"), dict) else utm
    if extra.goals:
        value["goals"] = list(extra.goals)
    if extra.window_days is not None:
        value["attribution_window_days"] = _days(extra.window_days)
    if extra.track_body_urls is not None:
        value["track_body_urls"] = extra.track_body_urls
    return value


def render(settings: dict[str, Any], heading: str = "tracking") -> None:
    """A `tracking` object (links/tracking.Tracking.as_dict) on a few lines."""
    utm = ", ".join(f"{k}={v}" if v else f"{k} left out" for k, v in settings["utm"].items()) or "none (wacast's defaults)"
    goals = ", ".join(settings["goals"]) or "none"
    console.print(escape(f"{heading}: UTM overrides {utm}; goals {goals}; attribution window {settings['attribution_window_days']} days; "
                         f"body URLs {'tracked' if settings['track_body_urls'] else 'not tracked'}"), soft_wrap=True, highlight=False)
