"""The whole stack as `make run` starts it (action server, Rasa server, gateway: three real processes) on free
loopback ports, with the fake Twilio API, once per database backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.runner import ROOT, Proc, ensure_model, rasa_env, start_stack, stop_stack
from bot.settings import Settings
from tests.support.databases import backends, fresh_database
from tests.support.fake_twilio import FakeTwilio, FakeTwilioThread
from tests.support.ports import free_port
from tests.support.stack import Texter, gateway_env, patched_env


@dataclass
class Stack:
    env: dict[str, str]
    settings: Settings
    procs: list[Proc]
    twilio: FakeTwilio
    var_dir: Path

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def texter(self, phone: str) -> Texter:
        return Texter(self.gateway_url, self.settings.twilio_auth_token, phone)

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        env = rasa_env()
        env.update(self.env)
        out = subprocess.run(
            [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
            timeout=timeout, check=True,
        )
        return out.stdout

    def queue(self) -> list[dict]:
        return json.loads(self.cli("queue", "--json"))


@pytest.fixture(scope="module", params=backends())
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ensure_model()
    var_dir = tmp_path_factory.mktemp(f"stack-{request.param}")
    server = FakeTwilioThread()
    twilio = server.start()
    with fresh_database(request.param, var_dir) as url:
        env = gateway_env(
            var_dir, url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}", twilio=twilio,
            ACTION_PORT=str(free_port()), RASA_TIMEOUT="10",
        )
        if request.param == "postgresql" and os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]  # Rasa's lock store on Redis, as in production
        else:
            env["REDIS_URL"] = ""
        with patched_env(env):
            settings = Settings.from_env()
            procs = start_stack(settings, log_dir=var_dir / "logs")
        twilio.status_auth_token = settings.twilio_auth_token
        try:
            yield Stack(env, settings, procs, twilio, var_dir)
        finally:
            stop_stack(procs)
            server.stop()
