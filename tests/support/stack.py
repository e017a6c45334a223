"""Real processes for tests: the Rasa server and action server (and, where a test needs to kill it, the gateway),
started on free loopback ports with their own var dir, and an in-process gateway for fast tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.gateway.service import GATEWAY, Gateway
from bot.rasa_endpoints import write as write_endpoints
from bot.runner import ROOT, Proc, actions_proc, ensure_model, rasa_env, rasa_proc, stop_stack, wait_healthy
from bot.server import create_app
from bot.settings import Settings
from bot.sms.signature import sign
from bot.store.db import migrate
from bot.texter import webhook_form
from tests.support.fake_twilio import FakeTwilio
from tests.support.ports import free_port

RASA_TOKEN = "test-rasa-token"  # the test Rasa servers' API token, given to the gateways that call them


def gateway_env(
    var_dir: Path, database_url: str, *, gateway_port: int, rasa_url: str, twilio: FakeTwilio | None, **extra: str
) -> dict[str, str]:
    env = {
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(gateway_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "RASA_URL": rasa_url,
        "RASA_TIMEOUT": extra.pop("RASA_TIMEOUT", "10"),
        # Tests with Rasa down expect to fail open at once; those about the start-up grace set it.
        "RASA_STARTUP_GRACE": extra.pop("RASA_STARTUP_GRACE", "0"),
        "PRIVACY_KEY": "test-privacy-key",
        "LOG_LEVEL": "INFO",
        "RASA_TOKEN": RASA_TOKEN,
    }
    if twilio is not None:
        env.update(
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_NUMBER="+15550001000",
            TWILIO_API_BASE_URL=twilio.url,
        )
    env.update(extra)
    return env


@contextmanager
def patched_env(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class RasaStack:
    """A Rasa server and an action server as real processes."""

    var_dir: Path
    database_url: str = ""  # where Rasa's tracker store lives ("" = SQLite in var_dir)
    redis_url: str = ""  # Rasa's lock store (empty = in memory)
    rasa_port: int = field(default_factory=free_port)
    action_port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def _proc(self, name: str) -> Proc:
        if name == "actions":
            return actions_proc(self.action_port)
        settings = Settings(
            var_dir=self.var_dir,
            database_url=self.database_url or f"sqlite:///{self.var_dir / 'tracker.db'}",
            redis_url=self.redis_url,
            action_port=self.action_port,
        )
        return rasa_proc(self.rasa_port, write_endpoints(settings, self.var_dir / "endpoints.yml"), RASA_TOKEN)

    def start(self, *names: str) -> None:
        names = names or ("actions", "rasa")
        self.var_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            proc = self._proc(name)
            log = open(self.var_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
            proc.popen = subprocess.Popen(proc.args, cwd=ROOT, env=rasa_env(), stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            self.procs[name] = proc
        try:
            for name in names:
                wait_healthy(self.procs[name], timeout=240)
        except Exception:
            self.stop()  # never leave a half-started stack behind
            raise

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        assert proc.popen is not None
        os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def stop(self) -> None:
        stop_stack(list(self.procs.values()))
        self.procs.clear()


def start_rasa_stack(var_dir: Path, database_url: str = "", redis_url: str = "") -> RasaStack:
    ensure_model()
    stack = RasaStack(var_dir, database_url, redis_url)
    stack.start()
    return stack


class Texter:
    """A pretend phone that posts signed webhooks to a gateway, as Twilio does."""

    def __init__(self, base_url: str, auth_token: str, phone: str, public_base_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.public = (public_base_url or base_url).rstrip("/")
        self.auth_token = auth_token
        self.phone = phone
        self.settings = Settings(twilio_account_sid="AC" + "f" * 32, twilio_number="+15550001000")

    def form(self, body: str, **overrides: str) -> dict[str, str]:
        form = webhook_form(self.settings, self.phone, body)
        form.update(overrides)
        return form

    async def post(self, form: dict[str, str], *, signature: str | None = None, path: str = "/twilio/sms") -> int:
        sig = signature if signature is not None else sign(self.auth_token, self.public + path, form)
        async with aiohttp.ClientSession() as session, session.post(
            self.base_url + path, data=form, headers={"X-Twilio-Signature": sig}
        ) as resp:
            await resp.read()
            return resp.status

    async def text(self, body: str, **overrides: str) -> int:
        return await self.post(self.form(body, **overrides))


@dataclass
class RunningGateway:
    url: str
    gateway: Gateway
    runner: web.AppRunner
    settings: Settings


@asynccontextmanager
async def in_process_gateway(env: dict[str, str]):
    """The real gateway app on a loopback port inside the test's event loop."""
    with patched_env(env):
        settings = Settings.from_env()
    migrate(settings.database_url)
    app = create_app(settings, with_console=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.gateway_port)
    await site.start()
    try:
        yield RunningGateway(f"http://127.0.0.1:{settings.gateway_port}", app[GATEWAY], runner, settings)
    finally:
        await runner.cleanup()


def start_gateway_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    full = rasa_env()
    full.update(env)
    log = open(log_path, "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=full, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait_healthy(Proc("gateway", [], f"http://127.0.0.1:{env['GATEWAY_PORT']}/health", proc), timeout=60)
    return proc


async def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Signal a process group and wait without blocking the test's event loop (it may serve the fake Twilio)."""
    import asyncio

    os.killpg(proc.pid, sig)
    return await asyncio.get_running_loop().run_in_executor(None, lambda: proc.wait(timeout=timeout))
