"""The console's HTTP handlers (thin): read the request, call a view or an action, render or redirect."""

from __future__ import annotations

from aiohttp import web

from bot.console import actions, auth, reviews, views
from bot.console.guard import (
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    admins,
    anyone,
    current_user,
    supervisors,
    wants_json,
)
from bot.console.live import LIVE
from bot.console.render import render
from bot.handoff.queue import LimitReached, NotAvailable, QueueError
from bot.services import SERVICES, Services

# Failed sign-ins: 5 per account, and 30 per address (a whole office may share one address behind a proxy).
THROTTLE = web.AppKey("console_throttle", tuple)

NOTICES = {
    "taken": "You took the next conversation.",
    "empty": "Nobody is waiting right now.",
    "limit": "You are at your limit of active conversations. Close one to take the next.",
    "closed": "Conversation closed and report saved.",
    "report": "Report saved.",
    "sent": "Text sent.",
    "moved": "Conversation reassigned.",
    "taken_over": "You took over the conversation.",
    "gone": "That conversation is closed or was taken by someone else.",
    "denied": "You can't do that.",
    "invalid": "Something in the form was missing. Please check and try again.",
    "saved": "Saved.",
    "flagged": "Thank you: the conversation is flagged for review.",
    "ended": "Conversation ended. The texter got the closing text and the number is in the review queue.",
    "reviewed": "Review saved.",
    "settled": "Level settled: it is the label used for training.",
    "none_to_review": "No closed conversation is waiting for a review.",
}


def _gw(request: web.Request) -> Services:
    return request.app[SERVICES]


def _back(path: str, notice: str) -> web.HTTPSeeOther:
    sep = "&" if "?" in path else "?"
    return web.HTTPSeeOther(f"{path}{sep}notice={notice}")


def _done(request: web.Request, path: str, notice: str, **data: object) -> web.StreamResponse:
    """Scripted calls get JSON; plain form posts are redirected (POST/redirect/GET) with a notice."""
    if wants_json(request):
        target = _back(path, notice).location
        return web.json_response({"ok": True, "message": NOTICES.get(notice, ""), "redirect": target, **data})
    raise _back(path, notice)


def _failed(request: web.Request, path: str, exc: Exception, notice: str, status: int = 409) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response({"ok": False, "error": str(exc)}, status=status)
    raise _back(path, notice)


def _safe_next(value: str | None) -> str:
    """Only local console paths may be a post-login target (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


# --- login ------------------------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or auth.new_token()
    request["login_csrf"] = token
    response = render(request, "login.html", next=_safe_next(request.query.get("next")), error="")
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    gw = _gw(request)
    form = await request.post()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    per_user, per_address = request.app[THROTTLE]
    name_key, addr_key = username.lower(), str(request.remote)

    def blocked() -> bool:
        return per_user.blocked(name_key) or per_address.blocked(addr_key)

    user = None
    if not blocked():
        user = await auth.authenticate(gw.db, username, password)
        if user is None:
            per_user.failed(name_key)
            per_address.failed(addr_key)
    if user is None:
        request["login_csrf"] = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        message = (
            "Too many failed sign-ins. Wait a few minutes and try again."
            if blocked()
            else "That username and password don't match."
        )
        return render(request, "login.html", status=401, next=target, error=message, username=username)
    per_user.succeeded(name_key)
    new = await auth.start_session(gw.db, user, gw.settings.session_hours)
    response = web.HTTPSeeOther(target)
    _set_cookie(request, response, SESSION_COOKIE, new.token, max_age=gw.settings.session_hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await auth.end_session(_gw(request).db, request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    raise response


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=_gw(request).settings.secure_cookies,
        samesite="Lax",
    )


# --- queue --------------------------------------------------------------------------------------------------------


async def _queue_page(request: web.Request) -> views.QueuePage:
    gw, user = _gw(request), current_user(request)
    return await views.queue_page(
        gw.db,
        user,
        limit=actions.limit_for(user, gw.settings),
        rule=gw.aging,
        waits=views.WaitPolicy.from_settings(gw.settings),
    )


@anyone
async def index(request: web.Request) -> web.StreamResponse:
    return render(request, "queue.html", page=await _queue_page(request), notices=NOTICES, active_nav="queue")


@anyone
async def queue_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "_queue.html", page=await _queue_page(request))


@anyone
async def queue_api(request: web.Request) -> web.StreamResponse:
    return web.json_response(views.queue_json(await _queue_page(request)))


@anyone
async def take_next(request: web.Request) -> web.StreamResponse:
    try:
        conv = await actions.take_next(_gw(request), current_user(request))
    except LimitReached as exc:
        return _failed(request, f"{PREFIX}/", exc, "limit")
    if conv is None:
        if wants_json(request):
            return web.json_response({"ok": False, "error": NOTICES["empty"]}, status=409)
        raise _back(f"{PREFIX}/", "empty")
    return _done(request, f"{PREFIX}/c/{conv.id}", "taken", conversation_id=conv.id)


# --- one conversation ---------------------------------------------------------------------------------------------


async def _view(request: web.Request) -> views.ConversationView:
    try:
        return await views.conversation_view(
            _gw(request).db, current_user(request), request.match_info["conv_id"]
        )
    except views.NotFound:
        raise web.HTTPNotFound(text="No such conversation, or it is not assigned to you.") from None


@anyone
async def conversation(request: web.Request) -> web.StreamResponse:
    gw, user = _gw(request), current_user(request)
    counselors: list[views.Load] = []
    if auth.can_supervise(user.role):
        counselors = await views.counselor_loads(
            gw.db, limit_of=lambda u: actions.limit_for(u, gw.settings), online=request.app[LIVE].online_ids()
        )
    return render(request, "conversation.html", c=await _view(request), counselors=counselors, notices=NOTICES)


@anyone
async def transcript_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "_transcript.html", c=await _view(request))


@anyone
async def report_fragment(request: web.Request) -> web.StreamResponse:
    """The close form, predicted from the transcript as it is now (the page may have been open a while)."""
    return render(request, "_report.html", c=await _view(request))


@anyone
async def reply(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    back = f"{PREFIX}/c/{conv_id}"
    form = await request.post()
    try:
        rows = await actions.reply(_gw(request), current_user(request), conv_id, str(form.get("body") or ""))
    except actions.NotAllowed as exc:
        return _failed(request, back, exc, "denied", status=403)
    except QueueError as exc:
        return _failed(request, back, exc, "gone")
    return _done(request, back, "sent", message_ids=[m.id for m in rows])


@anyone
async def close(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    back = f"{PREFIX}/c/{conv_id}"
    form = await request.post()
    try:
        await actions.close_with_report(_gw(request), current_user(request), conv_id, form)
    except views.NotFound:
        raise web.HTTPNotFound(text="No such conversation.") from None
    except ValueError as exc:
        return _failed(request, back, exc, "invalid", status=400)
    except actions.NotAllowed as exc:
        return _failed(request, back, exc, "denied", status=403)
    except NotAvailable as exc:
        return _failed(request, back, exc, "gone")
    return _done(request, f"{PREFIX}/", "closed")


@supervisors
async def assign(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    form = await request.post()
    back = str(form.get("back") or "") or f"{PREFIX}/supervisor"
    back = _safe_next(back)
    try:
        to_user = int(str(form.get("counselor_id") or ""))
    except ValueError:
        return _failed(request, back, ValueError("Choose a counselor."), "invalid", status=400)
    try:
        await actions.reassign(_gw(request), current_user(request), conv_id, to_user)
    except actions.NotAllowed as exc:
        return _failed(request, back, exc, "denied", status=403)
    except QueueError as exc:
        return _failed(request, back, exc, "limit" if isinstance(exc, LimitReached) else "gone")
    return _done(request, back, "moved")


@supervisors
async def take_over(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    try:
        await actions.take_over(_gw(request), current_user(request), conv_id)
    except QueueError as exc:
        return _failed(request, f"{PREFIX}/supervisor", exc, "gone")
    return _done(request, f"{PREFIX}/c/{conv_id}", "taken_over")


# --- supervisor -----------------------------------------------------------------------------------------------------


async def _supervisor_page(request: web.Request) -> views.SupervisorPage:
    gw = _gw(request)
    return await views.supervisor_page(
        gw.db,
        rule=gw.aging,
        waits=views.WaitPolicy.from_settings(gw.settings),
        limit_of=lambda u: actions.limit_for(u, gw.settings),
        online=request.app[LIVE].online_ids(),
    )


@supervisors
async def supervisor(request: web.Request) -> web.StreamResponse:
    return render(
        request, "supervisor.html", page=await _supervisor_page(request), notices=NOTICES, active_nav="supervisor"
    )


@supervisors
async def supervisor_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "_supervisor.html", page=await _supervisor_page(request))


# --- label quality (supervisors) ------------------------------------------------------------------------------------


@supervisors
async def reviews_page(request: web.Request) -> web.StreamResponse:
    q = await reviews.overview(_gw(request).db)
    return render(request, "reviews.html", q=q, notices=NOTICES, active_nav="reviews")


@supervisors
async def review_next(request: web.Request) -> web.StreamResponse:
    conv_id = await reviews.next_review(_gw(request).db, current_user(request))
    if conv_id is None:
        raise _back(f"{PREFIX}/reviews", "none_to_review")
    raise web.HTTPSeeOther(f"{PREFIX}/reviews/{conv_id}")


@supervisors
async def review_page(request: web.Request) -> web.StreamResponse:
    try:
        page = await reviews.review_page(_gw(request).db, current_user(request), request.match_info["conv_id"])
    except (views.NotFound, reviews.labels.LabelError):
        raise web.HTTPNotFound(text="No such labelled conversation.") from None
    return render(request, "review.html", r=page, notices=NOTICES, active_nav="reviews")


@supervisors
async def save_review(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    form = await request.post()
    back = f"{PREFIX}/reviews/{conv_id}"
    try:
        await reviews.save_review(_gw(request).db, current_user(request), conv_id, str(form.get("level") or ""))
    except reviews.labels.LabelError as exc:
        return _failed(request, back, exc, "invalid", status=400)
    return _done(request, back, "reviewed")


@supervisors
async def settle(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    form = await request.post()
    back = f"{PREFIX}/reviews"
    try:
        await reviews.settle(_gw(request).db, current_user(request), conv_id, str(form.get("level") or ""))
    except reviews.labels.LabelError as exc:
        return _failed(request, back, exc, "invalid", status=400)
    return _done(request, back, "settled")


# --- accounts (admin) -------------------------------------------------------------------------------------------------


@admins
async def users_page(request: web.Request) -> web.StreamResponse:
    users = await auth.list_users(_gw(request).db)
    return render(request, "users.html", users=users, notices=NOTICES, error="", active_nav="users")


@admins
async def create_user(request: web.Request) -> web.StreamResponse:
    gw = _gw(request)
    form = await request.post()
    try:
        await auth.create_user(
            gw.db,
            str(form.get("username") or ""),
            str(form.get("password") or ""),
            str(form.get("role") or ""),
            display_name=str(form.get("display_name") or ""),
            max_active=gw.settings.max_active_per_counselor,
        )
    except auth.AccountError as exc:
        users = await auth.list_users(gw.db)
        return render(
            request, "users.html", status=400, users=users, notices=NOTICES, error=str(exc), active_nav="users"
        )
    raise _back(f"{PREFIX}/admin/users", "saved")


@admins
async def set_user_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user_id = int(request.match_info["user_id"])
    if user_id == current_user(request).id:
        raise _back(f"{PREFIX}/admin/users", "denied")  # an admin cannot lock themselves out
    await auth.set_active(_gw(request).db, user_id, form.get("active") == "1")
    raise _back(f"{PREFIX}/admin/users", "saved")


async def root_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{PREFIX}/")

