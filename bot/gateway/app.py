"""The aiohttp app factory and its routes, all in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text

from bot import metrics
from bot.gateway.service import GATEWAY, Gateway
from bot.settings import Settings
from bot.sms import webhook

MAX_REQUEST_BYTES = 256 * 1024


async def health(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        async with gw.db.session() as s:
            await s.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "down"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "sms": "local" if gw.settings.local_sms else "twilio",
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


def create_app(settings: Settings | None = None, *, with_console: bool = True) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    gateway = Gateway(settings)
    app[GATEWAY] = gateway

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.close()

    async def on_shutdown(_app: web.Application) -> None:
        gateway.request_stop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics.handler(lambda request: request.app[GATEWAY].db))
    app.router.add_post("/twilio/sms", webhook.inbound_sms)
    app.router.add_post("/twilio/status", webhook.status_callback)
    if with_console:
        from bot.console import setup as setup_console

        setup_console(app)
    return app
