"""`make run` starting and stopping, with real processes: a taken port stops it before anything starts; Ctrl-C
(SIGINT) and a SIGKILLed runner leave no process behind, Rasa's Sanic workers included. These do not wait for
Rasa's model to load: stopping mid-start is the harder case."""

from __future__ import annotations

import signal
import socket

import pytest

from bot.supervisor import port_taken
from tests.runner.conftest import Runner, alive_in_groups, http_status, wait_until

pytestmark = pytest.mark.e2e


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def started(runner: Runner, rasa_processes: int) -> set[int]:
    """Wait until the gateway answers /health and the Rasa server has ``rasa_processes`` processes (its Sanic
    workers are its children); the process groups of everything started."""

    def up() -> bool:
        names = runner.children()
        if not {"actions", "rasa", "gateway", "guard"} <= set(names):
            return False
        rasa_group = [pid for pid, row in alive_in_groups({names["rasa"]}).items()]
        return len(rasa_group) >= rasa_processes and http_status(runner.base + "/health") == 200

    wait_until(lambda: runner.popen.poll() is not None or up(), 180)
    assert runner.popen.poll() is None, runner.output()
    return runner.remember_groups()


def test_a_taken_port_stops_it_before_anything_starts(runner_factory):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = runner_factory(RASA_URL=f"http://127.0.0.1:{port}")
        assert runner.popen.wait(timeout=60) != 0
    out = runner.output()
    assert f"Port {port} is already in use; the Rasa server needs it" in out
    assert "Nothing was started." in out
    assert not (runner.var_dir / "logs").exists()  # no child ever started: none wrote a log
    assert not port_taken(int(runner.env["GATEWAY_PORT"]), "127.0.0.1")
    assert not port_taken(int(runner.env["ACTION_PORT"]))


def test_ctrl_c_while_starting_stops_every_process(runner_factory, trained_model):
    extra = {"REDIS_URL": "redis://127.0.0.1:6379/0", "SANIC_WORKERS": "2"} if redis_up() else {}
    runner = runner_factory(**extra)
    pgids = started(runner, rasa_processes=3 if extra else 1)  # with workers: Sanic's main process and two
    runner.popen.send_signal(signal.SIGINT)
    assert runner.popen.wait(timeout=60) == 0
    assert "Stopping" in runner.output()
    assert alive_in_groups(pgids | {runner.popen.pid}) == {}


def test_a_killed_runner_takes_every_process_with_it(runner_factory, trained_model):
    extra = {"REDIS_URL": "redis://127.0.0.1:6379/0", "SANIC_WORKERS": "2"} if redis_up() else {}
    runner = runner_factory(**extra)
    pgids = started(runner, rasa_processes=3 if extra else 1)
    runner.popen.send_signal(signal.SIGKILL)
    runner.popen.wait(timeout=10)
    wait_until(lambda: alive_in_groups(pgids) == {}, 30)
