"""Server-side HTML: the console's Jinja2 environment, its small formatting filters, and page rendering."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.console.report import ISSUES, OUTCOMES
from bot.console.sparkline import sparkline
from bot.store.models import utcnow
from bot.triage import LEVELS
from bot.triage.referrals import NEED_LABELS

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

LEVEL_TEXT = {
    "imminent": "IMMINENT",
    "high": "HIGH",
    "moderate": "MODERATE",
    "low": "LOW",
    "none": "NO RISK FOUND",
}
LEVEL_ICON = {"imminent": "!!!", "high": "!!", "moderate": "!", "low": "·", "none": "·"}


def duration(seconds: int | float | None) -> str:
    """A wait for humans: 45s, 4m 05s, 2h 10m."""
    s = max(0, int(seconds or 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


def iso(dt: datetime | None) -> str:
    """UTC timestamp for a <time datetime> attribute (the page's script shows it in local time)."""
    return dt.isoformat(timespec="seconds") + "Z" if dt else ""


def clock(dt: datetime | None) -> str:
    return dt.strftime("%H:%M") + " UTC" if dt else ""


def day_clock(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") + " UTC" if dt else ""


def need_label(code: str) -> str:
    return NEED_LABELS.get(code, code.replace("_", " "))


@lru_cache(maxsize=32)
def static_url(name: str) -> str:
    """A static file's URL with a content hash, so browsers never run yesterday's script."""
    path = STATIC / name
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.exists() else "0"
    return f"/console/static/{name}?v={version}"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, iso=iso, clock=clock, day_clock=day_clock, need_label=need_label)
    env.globals.update(
        LEVELS=LEVELS,
        LEVEL_TEXT=LEVEL_TEXT,
        LEVEL_ICON=LEVEL_ICON,
        ISSUES=ISSUES,
        OUTCOMES=OUTCOMES,
        static_url=static_url,
        sparkline=sparkline,
    )
    return env


ENV = make_environment()


def render_html(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page or fragment with the signed-in user and their CSRF token available to the template."""
    session = request.get("console_session")
    context.setdefault("user", session.user if session is not None else None)
    context.setdefault("csrf", session.csrf_token if session is not None else request.get("login_csrf", ""))
    context.setdefault("notice", request.query.get("notice", ""))
    context.setdefault("notices", {})
    context.setdefault("active_nav", "")
    context.setdefault("server_now", iso(utcnow()))
    return web.Response(text=render_html(template, **context), status=status, content_type="text/html")
