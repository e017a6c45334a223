"""Shared fixtures: databases on every available backend, the fake Twilio API, a real Rasa stack, a gateway."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.databases import backends, fresh_database
from tests.support.fake_twilio import FakeTwilio
from tests.support.ports import free_port
from tests.support.stack import RasaStack, RunningGateway, gateway_env, in_process_gateway, start_rasa_stack

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite always, PostgreSQL too when DATABASE_URL points at a server."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaStack]:
    """The real Rasa server and action server, shared by the tests of a session (each test texts from its own
    number, so conversations never mix)."""
    stack = start_rasa_stack(tmp_path_factory.mktemp("rasa"))
    yield stack
    stack.stop()


@pytest.fixture
async def gateway(
    database_url: str, fake_twilio: FakeTwilio, rasa_stack: RasaStack, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """The real gateway app (in this process) on a fresh database, talking to real Rasa and the fake Twilio."""
    env = gateway_env(
        tmp_path, database_url, gateway_port=free_port(), rasa_url=rasa_stack.rasa_url, twilio=fake_twilio
    )
    fake_twilio.status_auth_token = fake_twilio.auth_token
    async with in_process_gateway(env) as gw:
        yield gw


@pytest.fixture
async def gateway_without_rasa(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """The gateway with Rasa down (nothing listens on its port): every text fails open to the queue."""
    env = gateway_env(
        tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
        twilio=fake_twilio, RASA_TIMEOUT="2",
    )
    async with in_process_gateway(env) as gw:
        yield gw
