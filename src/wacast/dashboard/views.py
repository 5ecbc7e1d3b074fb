"""What pages show, computed in Python: WhatsApp bubbles, SVG charts, numbers and times."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from wacast.meta.errors import meaning
from wacast.templates import statuses as template_statuses
from wacast.templates.params import NAMED_RE, POSITIONAL_RE, analyze, render_text

STATUS_COLORS = {
    "queued": "#94a3b8",
    "sent": "#60a5fa",
    "delivered": "#2563eb",
    "read": "#16a34a",
    "failed": "#dc2626",
    "replied": "#9333ea",
}


# --- WhatsApp bubbles ---------------------------------------------------------------------


def _fill(text: str, names: tuple[str, ...], values: list[str], fmt: str) -> str:
    if not text:
        return ""
    if len(values) < len(names):
        values = values + [f"{{{{{n}}}}}" for n in names[len(values):]]
    return render_text(text, names, values, fmt)


def _params(component: dict | None) -> list[dict]:
    return list((component or {}).get("parameters") or []) if component else []


def bubble(components: list[dict], parameter_format: str | None, payload_components: list[dict] | None = None) -> dict[str, Any]:
    """A template as a message bubble. Without `payload_components` (a template preview) the
    template's example values are used; with them (a sent message) the values it was sent with."""
    needs = analyze(components, parameter_format)
    fmt = needs.parameter_format
    sent = {str(c.get("type", "")).lower(): c for c in payload_components or [] if isinstance(c, dict) and c.get("type") != "button"}
    sent_buttons = {str(c.get("index")): c for c in payload_components or [] if isinstance(c, dict) and c.get("type") == "button"}
    preview = payload_components is None
    out: dict[str, Any] = {"header": None, "body": "", "footer": needs.footer_text, "buttons": [], "cards": len(needs.cards)}
    header_params = _params(sent.get("header"))
    if needs.header_format == "TEXT":
        values = needs.examples.get("header", []) if preview else [p.get("text", "") for p in header_params]
        out["header"] = {"kind": "text", "text": _fill(needs.header_text, needs.header_params, list(values), fmt)}
    elif needs.header_format == "LOCATION":
        loc = (header_params[0].get("location") if header_params else None) or {}
        out["header"] = {"kind": "location", "name": loc.get("name") or "Location", "address": loc.get("address") or "",
                         "lat": loc.get("latitude"), "lng": loc.get("longitude")}
    elif needs.header_format:
        kind = needs.header_format.lower()
        link = ""
        if header_params:
            p = header_params[0]
            link = (p.get(p.get("type", "")) or {}).get("link", "")
        else:
            for c in components:
                if str(c.get("type", "")).upper() == "HEADER":
                    handles = (c.get("example") or {}).get("header_handle") or []
                    link = handles[0] if handles else ""
        out["header"] = {"kind": "image" if kind == "gif" else kind, "url": link if link.startswith(("http://", "https://")) else ""}
    values = needs.examples.get("body", []) if preview else [p.get("text", "") for p in _params(sent.get("body"))]
    out["body"] = _fill(needs.body_text, needs.body_params, list(values), fmt)
    for need in needs.buttons:
        label = need.text or need.type.replace("_", " ").title()
        entry = {"type": need.type, "text": label, "value": None}
        if need.type == "copy_code":
            entry["text"] = "Copy code"
        given = _params(sent_buttons.get(str(need.index)))
        if given:
            g = given[0]
            entry["value"] = g.get("text") or g.get("coupon_code") or g.get("payload")
        elif preview and need.example:
            entry["value"] = need.example
        out["buttons"].append(entry)
    return out


def highlight_placeholders(text: str) -> Markup:
    """Template text with its {{placeholders}} marked, for the template list."""
    escaped = str(escape(text))
    for pattern in (POSITIONAL_RE, NAMED_RE):
        escaped = pattern.sub(lambda m: f'<span class="ph">{m.group(0)}</span>', escaped)
    return Markup(escaped)


# --- the exact request ----------------------------------------------------------------------


def curl_command(base_url: str, body: dict[str, Any]) -> str:
    return (
        f"curl -s -X POST {base_url.rstrip('/')}/campaign/t1/api/v2 \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(json.dumps(body))}"
    )


# --- failures ------------------------------------------------------------------------------


def failure_words(code: int | None) -> dict[str, str]:
    what, todo = meaning(code)
    return {"meaning": what, "todo": todo}


# --- charts (server-rendered SVG) ---------------------------------------------------------


def stacked_bars(days: list[str], series: dict[str, list[int]], *, width: int = 720, height: int = 220) -> Markup:
    """Stacked bars per day, one colour per status, with a y axis and day labels."""
    if not days:
        return Markup("")
    left, bottom, top = 40, 26, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    peak = max(max(totals), 1)
    step = _nice_step(peak)
    y_max = step * max(1, -(-peak // step))
    slot = plot_w / len(days)
    bar = max(min(slot * 0.7, 48), 2)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Messages per day by status">']
    parts.extend(_y_grid(left, width, top, plot_h, y_max, step))
    label_every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        tip = [f"{day}"]
        for name, values in series.items():
            v = values[i]
            if not v:
                continue
            h = plot_h * v / y_max
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{STATUS_COLORS.get(name, "#64748b")}">'
                f"<title>{escape(day)}: {v} {escape(name)}</title></rect>"
            )
            tip.append(f"{name} {v}")
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" class="axis">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_bars(days: list[str], series: dict[str, list[int]], *, width: int = 720, height: int = 220) -> Markup:
    """Bars side by side per day, one per series: for counts that overlap (a read message
    was also sent and delivered), which stacking would double count."""
    if not days:
        return Markup("")
    left, bottom, top = 40, 26, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([max(v) for v in series.values() if v] + [1])
    step = _nice_step(peak)
    y_max = step * max(1, -(-peak // step))
    slot = plot_w / len(days)
    group = max(min(slot * 0.8, 60), 4)
    bar = group / max(len(series), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Messages per day">']
    parts.extend(_y_grid(left, width, top, plot_h, y_max, step))
    label_every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x0 = left + slot * i + (slot - group) / 2
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            if not v:
                continue
            h = plot_h * v / y_max
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{STATUS_COLORS.get(name, "#64748b")}" rx="1"><title>{escape(day)}: {v} {escape(name)}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(f'<text x="{x0 + group / 2:.1f}" y="{height - 8}" text-anchor="middle" class="axis">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _y_grid(left: float, width: float, top: float, plot_h: float, y_max: int, step: int) -> list[str]:
    """Horizontal grid lines with their value labels, shared by both bar charts."""
    parts = []
    for k in range(0, y_max + 1, step):
        y = top + plot_h - plot_h * k / y_max
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{k}</text>')
    return parts


def _nice_step(peak: int) -> int:
    raw = max(peak / 4, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return int(m * magnitude)
    return int(10 * magnitude)


# --- formatting (Jinja filters) -------------------------------------------------------------


def local_time(value: datetime | str | None, tz: str | None = None, fmt: str = "%d %b %Y, %H:%M") -> str:
    """A moment in the project's time zone (a datetime, or the ISO text the presenters give)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    try:
        zone = ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return value.astimezone(zone).strftime(fmt)


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{seconds} seconds ago"


def pct(part: float, whole: float) -> str:
    if not whole:
        return "—"
    return f"{100 * part / whole:.1f}%"


def number(value: float | None) -> str:
    if value is None:
        return "0"
    return f"{value:,}"


def duration(seconds: float | None) -> str:
    """A median time between two steps in words: "40 s", "12 min", "3.5 h", "2.1 days"."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def money(revenue: dict[str, str] | None) -> str:
    """Revenue per currency: "INR 1,499.00 · USD 5.00" (never summed across currencies)."""
    if not revenue:
        return "—"
    return " · ".join(f"{currency} {Decimal(value):,.2f}" for currency, value in sorted(revenue.items()))


def install_filters(env: Any) -> None:
    env.filters["local_time"] = local_time
    env.filters["ago"] = ago
    env.filters["number"] = number
    env.filters["duration"] = duration
    env.filters["money"] = money
    env.filters["placeholders"] = highlight_placeholders
    env.globals["pct"] = pct
    env.globals["STATUS_COLORS"] = STATUS_COLORS
    env.globals["failure_words"] = failure_words
    env.globals["can_send"] = template_statuses.can_send  # APPROVED or FLAGGED: sends go out
