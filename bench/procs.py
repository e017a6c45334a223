"""The processes a benchmark runs: our stack (action server, Rasa, gateway, as `make run` starts them), stock
Rasa (its defaults: in-memory tracker and lock store) on the same model and action server, and their peak memory."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.runner import (
    BACKGROUND_NICE,
    ROOT,
    Proc,
    bin_path,
    model_path,
    niceness,
    rasa_env,
    start_stack,
    stop_stack,
    wait_healthy,
)
from bot.settings import Settings
from tests.support.stack import patched_env


def start_ours(env: dict[str, str], log_dir: Path) -> tuple[Settings, list[Proc]]:
    """Actions, Rasa and the gateway started exactly as `make run` does, with the environment ``env``."""
    with patched_env(env):
        settings = Settings.from_env()
        return settings, start_stack(settings, log_dir=log_dir)


def stock_endpoints(path: Path, action_port: int) -> Path:
    """Rasa's defaults (in-memory tracker store and lock store) with only the action server configured."""
    path.write_text(yaml.safe_dump({"action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"}}))
    return path


def start_stock_rasa(port: int, action_port: int, work_dir: Path, log_dir: Path) -> Proc:
    """`rasa run` as it comes: the same model, REST channel, the given action server, nothing else; started like
    ours (same priority), since the only thing compared is what runs."""
    endpoints = stock_endpoints(work_dir / "stock_endpoints.yml", action_port)
    proc = Proc(
        "stock rasa",
        [bin_path("rasa"), "run", "--model", str(model_path()), "--port", str(port),
         "--endpoints", str(endpoints), "--credentials", "credentials.yml"],
        f"http://127.0.0.1:{port}/webhooks/rest/",
    )
    log = open(log_dir / "stock_rasa.log", "ab")  # noqa: SIM115 - kept open for the child's life
    env = rasa_env()
    env.pop("SANIC_WORKERS", None)
    # The same CPU priority as our Rasa (runner.BACKGROUND_NICE), so both compete alike with anything else running.
    proc.popen = subprocess.Popen(proc.args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=niceness(BACKGROUND_NICE))
    try:
        wait_healthy(proc, timeout=240)
    except Exception:
        stop_stack([proc])
        raise
    return proc


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                found.extend(int(c) for c in fh.read().split())
    return found


def _vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class PeakMemory:
    """VmHWM of a process, and of its child processes (Sanic workers, if any) added up."""

    name: str
    main_mb: float
    children_mb: float
    children: int

    def line(self) -> str:
        extra = f" + {self.children} child processes {self.children_mb:,.0f} MB" if self.children else ""
        return f"{self.name:<18} {self.main_mb:>7,.0f} MB{extra}"


def _descendants(pid: int) -> list[int]:
    stack, found = _children(pid), []
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(_children(child))
    return found


def peak_memory(name: str, pid: int) -> PeakMemory:
    """Read before the process stops: /proc/PID/status VmHWM of it and of all its descendants."""
    kids = [_vm_hwm_kb(c) for c in _descendants(pid)]
    return PeakMemory(name, _vm_hwm_kb(pid) / 1024.0, sum(kids) / 1024.0, len([k for k in kids if k]))


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its live descendants (Sanic workers)."""
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{p}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


class CpuMeter:
    """CPU time each named process (and this one, the load driver) used between ``start`` and ``stop``."""

    def __init__(self, named: list[tuple[str, Proc]]) -> None:
        self.named = [(name, p.popen.pid) for name, p in named if p.popen is not None]
        self._start: dict[str, float] = {}
        self.others_cores = 0.0  # CPU that processes outside the benchmark used meanwhile, in cores

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.named}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now["bench driver"] = usage.ru_utime + usage.ru_stime
        now[_MACHINE] = machine_busy_seconds()
        now[_WALL] = time.monotonic()
        return now

    def start(self) -> None:
        self._start = self._now()

    def per_turn_ms(self, turns: int) -> dict[str, float]:
        end = self._now()
        used = {name: end[name] - self._start[name] for name in end}
        wall, machine = used.pop(_WALL), used.pop(_MACHINE)
        self.others_cores = max(0.0, machine - sum(used.values())) / max(wall, 1e-9)
        return {name: seconds * 1000.0 / max(turns, 1) for name, seconds in used.items()}


_MACHINE, _WALL = "<machine>", "<wall>"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user / nice
    return (sum(fields) - idle - guest) / _TICK
