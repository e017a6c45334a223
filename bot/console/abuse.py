"""The console's abuse pages and actions: the supervisors' review queue with figures (dismiss, warn, block,
unblock), and, on the conversation screen, a counselor's flag and their one action "End abusive conversation".

Handlers are thin: who may do what is checked here, the work is `bot.abuse.review`'s.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.abuse import blocks, review
from bot.abuse.detector import get_detector
from bot.console import views
from bot.console.auth import can_supervise
from bot.console.guard import PREFIX, anyone, current_user, supervisors, wants_json
from bot.console.render import render
from bot.handoff.queue import NotAvailable
from bot.services import SERVICES, Services
from bot.store.models import Message, User

PAGE = f"{PREFIX}/abuse"
NOTICES = {
    "dismissed": "Review dismissed.",
    "warned": "Warning text sent.",
    "blocked": "Number blocked.",
    "unblocked": "Number unblocked.",
    "decided": "That review was already decided.",
    "invalid": "Something in the form was missing. Please check and try again.",
    "flagged": "Thank you: the conversation is flagged for review.",
    "ended": "Conversation ended. The texter got the closing text and the number is in the review queue.",
    "gone": "That conversation is closed or was taken by someone else.",
    "denied": "You can't do that.",
}
DURATION_LABELS = {"24h": "24 hours", "30d": "30 days", "permanent": "permanently"}


def _gw(request: web.Request) -> Services:
    return request.app[SERVICES]


def _done(request: web.Request, path: str, notice: str, status: int = 200) -> web.StreamResponse:
    if wants_json(request):
        ok = status < 400
        body = {"ok": ok, ("message" if ok else "error"): NOTICES.get(notice, notice)}
        return web.json_response(body, status=status)
    sep = "&" if "?" in path else "?"
    raise web.HTTPSeeOther(f"{path}{sep}notice={notice}")


# --- actions (plain functions: who may, then the review module's transition) --------------------------------------


async def flag(gw: Services, user: User, conv_id: str, label: str) -> None:
    """A counselor (assigned) or a supervisor flags a conversation; the detector's view is kept beside the label."""
    await views.conversation_view(gw.db, user, conv_id)  # raises NotFound when the user may not see it
    async with gw.db.session() as s:
        bodies = list(await s.scalars(
            select(Message.body).where(Message.conversation_id == conv_id, Message.direction == "in")))
    predicted = get_detector().score(" ".join(bodies)[-2000:]).to_dict() if bodies else {}
    await review.flag_conversation(gw.db, conv_id, user.id, label, predicted)


async def end_abusive(gw: Services, user: User, conv_id: str) -> None:
    """The assigned counselor (or a supervisor) ends an open conversation as abusive, in one action."""
    view = await views.conversation_view(gw.db, user, conv_id)
    if view.state == "closed":
        raise NotAvailable("This conversation is already closed.")
    supervising = can_supervise(user.role)
    if not supervising and not (view.state == "active" and view.counselor_id == user.id):
        raise PermissionError("Only the counselor this conversation is assigned to can end it.")
    await review.end_abusive(gw.db, conv_id, user.id, expect_counselor=None if supervising else user.id)


# --- handlers -------------------------------------------------------------------------------------------------------


@supervisors
async def page(request: web.Request) -> web.StreamResponse:
    gw = _gw(request)
    async with gw.db.session() as s:
        items = await review.pending(s)
        figures = await review.figures(s)
        active = await blocks.active_blocks(s)
    return render(request, "abuse.html", items=items, figures=figures, active_blocks=active, notices=NOTICES,
                  durations=DURATION_LABELS, severity=review.SEVERITY, active_nav="abuse")


def _review_id(request: web.Request) -> int:
    return int(request.match_info["review_id"])


@supervisors
async def dismiss(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await review.dismiss(_gw(request).db, _review_id(request), current_user(request).id,
                             reason=str(form.get("reason") or ""))
    except review.ReviewError:
        return _done(request, PAGE, "decided", 409)
    return _done(request, PAGE, "dismissed")


@supervisors
async def warn(request: web.Request) -> web.StreamResponse:
    gw = _gw(request)
    try:
        await review.warn(gw.db, _review_id(request), current_user(request).id)
    except review.ReviewError:
        return _done(request, PAGE, "decided", 409)
    return _done(request, PAGE, "warned")


@supervisors
async def block(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await review.block(_gw(request).db, _review_id(request), current_user(request).id,
                           duration=str(form.get("duration") or ""), reason=str(form.get("reason") or ""))
    except ValueError:
        return _done(request, PAGE, "invalid", 400)
    except review.ReviewError:
        return _done(request, PAGE, "decided", 409)
    return _done(request, PAGE, "blocked")


@supervisors
async def unblock(request: web.Request) -> web.StreamResponse:
    changed = await review.unblock(_gw(request).db, int(request.match_info["texter_id"]), current_user(request).id)
    return _done(request, PAGE, "unblocked" if changed else "decided", 200 if changed else 409)


@anyone
async def flag_conversation(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    back = f"{PREFIX}/c/{conv_id}"
    form = await request.post()
    try:
        await flag(_gw(request), current_user(request), conv_id, str(form.get("label") or ""))
    except views.NotFound:
        raise web.HTTPNotFound(text="No such conversation, or it is not assigned to you.") from None
    except ValueError:
        return _done(request, back, "invalid", 400)
    return _done(request, back, "flagged")


@anyone
async def end_conversation(request: web.Request) -> web.StreamResponse:
    conv_id = request.match_info["conv_id"]
    back = f"{PREFIX}/c/{conv_id}"
    try:
        await end_abusive(_gw(request), current_user(request), conv_id)
    except views.NotFound:
        raise web.HTTPNotFound(text="No such conversation, or it is not assigned to you.") from None
    except PermissionError:
        return _done(request, back, "denied", 403)
    except NotAvailable:
        return _done(request, back, "gone", 409)
    return _done(request, f"{PREFIX}/", "ended")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(PAGE, page)
    r.add_post(f"{PAGE}/{{review_id:\\d+}}/dismiss", dismiss)
    r.add_post(f"{PAGE}/{{review_id:\\d+}}/warn", warn)
    r.add_post(f"{PAGE}/{{review_id:\\d+}}/block", block)
    r.add_post(f"{PAGE}/texters/{{texter_id:\\d+}}/unblock", unblock)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/flag", flag_conversation)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/end-abusive", end_conversation)
