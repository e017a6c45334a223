"""The gateway's aiohttp app factory and its routes, all in one place. Other parts (the console) mount themselves
on it through ``mounts``: the gateway never imports them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from sqlalchemy import text

from bot import metrics
from bot.gateway import webhooks
from bot.gateway.service import GATEWAY, Gateway
from bot.services import Services
from bot.settings import Settings
from bot.triage import live_model_version

MAX_REQUEST_BYTES = 256 * 1024

Mount = Callable[[web.Application, Services], None]


async def database_state(gw: Gateway) -> str:
    try:
        async with gw.db.session() as s:
            await s.execute(text("SELECT 1"))
        return "ok"
    except Exception:
        return "down"


async def health(request: web.Request) -> web.Response:
    """Alive: the gateway answers and its database does (Rasa may still be loading or down)."""
    gw = request.app[GATEWAY]
    database = await database_state(gw)
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "sms": "local" if gw.settings.local_sms else "twilio",
        "triage_model": live_model_version(),  # the registry's live model this gateway scores with, or "lexicon"
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


async def ready(request: web.Request) -> web.Response:
    """Ready: alive, and Rasa (its REST channel, there once the model is loaded) and the action server answer."""
    gw = request.app[GATEWAY]
    parts = {"database": await database_state(gw)}
    parts |= await gw.readiness.check() if gw.readiness else {"rasa": "down", "actions": "down"}
    is_ready = all(state == "ok" for state in parts.values())
    return web.json_response({"status": "ready" if is_ready else "not ready", **parts}, status=200 if is_ready else 503)


def create_app(settings: Settings | None = None, *, mounts: Sequence[Mount] = ()) -> web.Application:
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
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics.handler(lambda request: request.app[GATEWAY].db))
    app.router.add_post("/twilio/sms", webhooks.inbound_sms)
    app.router.add_post("/twilio/status", webhooks.status_callback)
    for mount in mounts:
        mount(app, gateway.services)
    return app
