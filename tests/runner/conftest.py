"""`python -m bot run` (what `make run` runs) as a real process on free ports, with its own var dir and SQLite, and
helpers to find, signal and count the processes it started (by pid and process group, read from /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from bot.runner import ROOT, ensure_model, rasa_env
from bot.settings import Settings
from tests.support.ports import free_port
from tests.support.stack import patched_env

T = TypeVar("T")


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) for every process now."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":  # a zombie holds nothing: it only waits to be reaped
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


def descendants(pid: int) -> dict[int, tuple[int, int, str]]:
    table = process_table()
    found: dict[int, tuple[int, int, str]] = {}
    parents = {pid}
    while True:
        new = {p: row for p, row in table.items() if row[0] in parents and p not in found}
        if not new:
            return found
        found.update(new)
        parents = set(new)


def alive_in_groups(pgids: set[int]) -> dict[int, str]:
    """Processes (not zombies) still in any of these process groups."""
    return {pid: row[2] for pid, row in process_table().items() if row[1] in pgids}


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(interval)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@dataclass
class Runner:
    """One `python -m bot run` and what it printed."""

    env: dict[str, str]
    settings: Settings
    var_dir: Path
    popen: subprocess.Popen
    out_path: Path
    seen_pgids: set[int] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        """name -> pid of the runner's direct children (actions, rasa, gateway, guard)."""
        names = {"bot.rasa_server": "rasa", "run actions": "actions", "bot serve": "gateway",
                 "bot.supervisor guard": "guard"}
        found = {}
        for pid, (_ppid, _pgid, cmd) in descendants(self.popen.pid).items():
            if _ppid != self.popen.pid:
                continue
            for key, name in names.items():
                if key in cmd:
                    found[name] = pid
        return found

    def remember_groups(self) -> set[int]:
        """The process groups of everything the runner started so far (children and their children)."""
        self.seen_pgids |= {row[1] for row in descendants(self.popen.pid).values()}
        self.seen_pgids.discard(os.getpgid(0))
        return self.seen_pgids

    def wait_output(self, text: str, timeout: float) -> str:
        def seen() -> bool:
            if text in self.output():
                return True
            assert self.popen.poll() is None, f"the runner exited ({self.popen.returncode}):\n{self.output()}"
            return False

        wait_until(seen, timeout)
        return self.output()

    def kill_everything(self) -> None:
        """Test clean-up whatever happened: the runner's group and every group it started."""
        with contextlib.suppress(ProcessLookupError):
            self.remember_groups()
        for pgid in {*self.seen_pgids, self.popen.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


def runner_env(var_dir: Path, **extra: str) -> dict[str, str]:
    gateway_port = free_port()
    env = {
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'crisis.db'}",
        "GATEWAY_PORT": str(gateway_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "ACTION_PORT": str(free_port()),
        "PRIVACY_KEY": "test-privacy-key",
        "REDIS_URL": "",
        "SANIC_WORKERS": "",
        "TWILIO_ACCOUNT_SID": "",  # texts to texters go to the local outbox
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def start_runner(var_dir: Path, **extra: str) -> Runner:
    var_dir.mkdir(parents=True, exist_ok=True)
    env = runner_env(var_dir, **extra)
    with patched_env(env):
        settings = Settings.from_env()  # also writes the local Twilio token the runner will read
    full = rasa_env()
    full.update(env)
    out_path = var_dir / "runner.out"
    with open(out_path, "wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=full, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    return Runner(env, settings, var_dir, popen, out_path)


@pytest.fixture(scope="session")
def trained_model() -> None:
    """Trained here if needed, so a runner only checks the model's fingerprint."""
    ensure_model()


@pytest.fixture
def runner_factory(tmp_path: Path) -> Iterator:
    started: list[Runner] = []

    def start(**extra: str) -> Runner:
        runner = start_runner(tmp_path / f"run{len(started)}", **extra)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.kill_everything()
