"""The console's door: every request under /console needs a live session (except login and static files), the
right role for its page, and a CSRF token when it changes anything; responses carry strict security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from aiohttp import web

from bot.console.auth import ROLES, SUPERVISING, load_session, same_token
from bot.console.render import render
from bot.services import SERVICES
from bot.store.models import User, WebSession

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
PREFIX = "/console"
PUBLIC = {f"{PREFIX}/login"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def wants_json(request: web.Request) -> bool:
    """Scripted requests (the console's fetch calls, API clients) get status codes, not redirects."""
    return (
        request.headers.get("X-Requested-With") == "fetch"
        or "application/json" in request.headers.get("Accept", "")
        or request.path.startswith(f"{PREFIX}/api/")
        or request.headers.get("Upgrade", "").lower() == "websocket"
    )


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request) or request.method not in SAFE_METHODS:
        return web.json_response({"ok": False, "error": message}, status=status)
    return render(request, "error.html", status=status, message=message)


def current_session(request: web.Request) -> WebSession:
    return request["console_session"]


def current_user(request: web.Request) -> User:
    return request["console_session"].user


async def _supplied_csrf(request: web.Request) -> str | None:
    token = request.headers.get("X-CSRF-Token")
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the handler reads it again for free
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF and headers for the console; everything else passes through untouched."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    if request.path.startswith(f"{PREFIX}/static/"):
        response = await handler(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    response = await _guarded(request, handler)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    gw = request.app[SERVICES]
    if request.path in PUBLIC:
        if request.method not in SAFE_METHODS:
            expected = request.cookies.get(LOGIN_CSRF_COOKIE)
            if not same_token(expected, await _supplied_csrf(request)):
                return refuse(request, 403, "The form expired. Reload the page and try again.")
        return await handler(request)
    session = await load_session(gw.db, request.cookies.get(SESSION_COOKIE))
    if session is None:
        if request.method in SAFE_METHODS and not wants_json(request):
            raise web.HTTPSeeOther(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
        return refuse(request, 401, "Please sign in.")
    request["console_session"] = session
    if request.method not in SAFE_METHODS and not same_token(session.csrf_token, await _supplied_csrf(request)):
        return refuse(request, 403, "Missing or wrong security token. Reload the page and try again.")
    return await handler(request)


def require(*roles: str) -> Callable[[Handler], Handler]:
    """Limit a handler to some roles (the guard has already made sure someone is signed in)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if current_user(request).role not in roles:
                return refuse(request, 403, "Your role does not give access to this page.")
            return await handler(request)

        checked.console_roles = roles  # type: ignore[attr-defined]
        return checked

    return decorate


anyone = require(*ROLES)
supervisors = require(*SUPERVISING)
admins = require("admin")
