"""The production topology on one machine: two gateways, two Rasa servers and two action servers (real processes)
sharing one fresh PostgreSQL database (store and Rasa's tracker store) and Redis (Rasa's lock store); each gateway
talks to its own Rasa server, each Rasa server to its own action server. Runs only when DATABASE_URL points at
PostgreSQL and REDIS_URL is set (`.ci/run` sets both)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from bot.runner import ensure_model, stop_stack
from bot.settings import Settings
from bot.store.db import migrate, sync_url
from tests.support.databases import fresh_database
from tests.support.fake_twilio import FakeTwilio, FakeTwilioThread
from tests.support.ports import free_port
from tests.support.stack import RasaStack, Texter, gateway_env, patched_env, start_gateway_process

NEEDS_SERVICES = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"),
    reason="scale-out needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), as .ci/run sets",
)


@dataclass
class Cluster:
    gateways: list[str]  # base URLs of the two gateways
    public_url: str  # the one address Twilio calls (the load balancer's); signatures are checked against it
    settings: Settings  # as every gateway sees them (shared database, keys, Twilio account)
    twilio: FakeTwilio
    db: Engine  # read-only checks of the shared database

    def texter(self, phone: str, gateway: int) -> Texter:
        return Texter(self.gateways[gateway], self.settings.twilio_auth_token, phone, self.public_url)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    ensure_model()
    root = tmp_path_factory.mktemp("scaleout")
    server = FakeTwilioThread()
    twilio = server.start()
    with fresh_database("postgresql", root) as url:
        migrate(url)  # once, before two gateways start on the same database
        redis = os.environ["REDIS_URL"]
        rasas = [RasaStack(root / f"rasa{i}", url, redis) for i in range(2)]
        gateway_procs: list[subprocess.Popen] = []
        try:
            with ThreadPoolExecutor(2) as pool:  # both Rasa servers load the model at the same time
                list(pool.map(lambda stack: stack.start(), rasas))
            ports = [free_port() for _ in rasas]
            for i in range(len(ports)):
                (root / f"gw{i}").mkdir()
            public_url = f"http://127.0.0.1:{ports[0]}"  # status callbacks reach the first gateway
            envs = [
                gateway_env(root / f"gw{i}", url, gateway_port=port, rasa_url=rasa.rasa_url, twilio=twilio,
                            PUBLIC_BASE_URL=public_url, REDIS_URL=redis, RASA_TIMEOUT="20")
                for i, (port, rasa) in enumerate(zip(ports, rasas, strict=True))
            ]
            with ThreadPoolExecutor(2) as pool:
                gateway_procs = list(pool.map(lambda env: start_gateway_process(env, Path(env["VAR_DIR"]) / "gw.log"),
                                              envs))
            with patched_env(envs[0]):
                settings = Settings.from_env()
            engine = create_engine(sync_url(url), future=True)
            try:
                yield Cluster([f"http://127.0.0.1:{p}" for p in ports], public_url, settings, twilio, engine)
            finally:
                engine.dispose()
        finally:
            for proc in gateway_procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in gateway_procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for rasa in rasas:
                stop_stack(list(rasa.procs.values()))
            server.stop()
