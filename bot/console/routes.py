"""The console's routes, all in one place, and what the console adds to the gateway app (guard, live registry)."""

from __future__ import annotations

from aiohttp import web

from bot.console import abuse, handlers, insights_pages
from bot.console.guard import PREFIX, guard
from bot.console.live import LIVE, LiveRegistry, websocket
from bot.console.render import STATIC


def add_routes(app: web.Application) -> None:
    app.middlewares.append(guard)
    app[LIVE] = LiveRegistry()
    app[handlers.THROTTLE] = (handlers.auth.LoginThrottle(limit=5), handlers.auth.LoginThrottle(limit=30))

    async def close_sockets(_app: web.Application) -> None:
        await _app[LIVE].close_all()

    app.on_shutdown.append(close_sockets)
    r = app.router
    r.add_get(PREFIX, handlers.root_redirect)
    r.add_get(f"{PREFIX}/login", handlers.login_page)
    r.add_post(f"{PREFIX}/login", handlers.login)
    r.add_post(f"{PREFIX}/logout", handlers.logout)
    r.add_get(f"{PREFIX}/", handlers.index)
    r.add_get(f"{PREFIX}/queue", handlers.queue_fragment)
    r.add_get(f"{PREFIX}/api/queue", handlers.queue_api)
    r.add_post(f"{PREFIX}/take-next", handlers.take_next)
    r.add_get(f"{PREFIX}/c/{{conv_id}}", handlers.conversation)
    r.add_get(f"{PREFIX}/c/{{conv_id}}/transcript", handlers.transcript_fragment)
    r.add_get(f"{PREFIX}/c/{{conv_id}}/report", handlers.report_fragment)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/reply", handlers.reply)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/close", handlers.close)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/assign", handlers.assign)
    r.add_post(f"{PREFIX}/c/{{conv_id}}/take-over", handlers.take_over)
    r.add_get(f"{PREFIX}/supervisor", handlers.supervisor)
    r.add_get(f"{PREFIX}/supervisor/live", handlers.supervisor_fragment)
    r.add_get(f"{PREFIX}/reviews", handlers.reviews_page)
    r.add_post(f"{PREFIX}/reviews/next", handlers.review_next)
    r.add_get(f"{PREFIX}/reviews/{{conv_id}}", handlers.review_page)
    r.add_post(f"{PREFIX}/reviews/{{conv_id}}", handlers.save_review)
    r.add_post(f"{PREFIX}/reviews/{{conv_id}}/settle", handlers.settle)
    r.add_get(f"{PREFIX}/insights", insights_pages.insights)
    r.add_get(f"{PREFIX}/insights.csv", insights_pages.insights_csv)
    r.add_get(f"{PREFIX}/experiments", insights_pages.experiments)
    r.add_get(f"{PREFIX}/admin/users", handlers.users_page)
    r.add_post(f"{PREFIX}/admin/users", handlers.create_user)
    r.add_post(f"{PREFIX}/admin/users/{{user_id:\\d+}}/active", handlers.set_user_active)
    abuse.add_routes(app)
    r.add_get(f"{PREFIX}/ws", websocket)
    r.add_static(f"{PREFIX}/static", STATIC, append_version=True)
