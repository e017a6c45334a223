"""Keeps `make run`'s child processes alive: each runs in its own process group and dies with the runner (even a
SIGKILLed one), a child that exits is restarted with backoff, and stopping ends every process of every group.

Standard library only: `python -m bot.supervisor guard` is the small guard process that kills the children's
process groups when the runner vanishes (see ``Guard``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
STOP_GRACE = 20.0  # seconds a process group gets between SIGTERM and SIGKILL


@dataclass
class Backoff:
    """Restart delays: ``first``, doubled after each quick exit, at most ``cap``; a process that stayed up
    ``reset_after`` seconds starts again from ``first``."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2 ** max(0, failures - 1))


@dataclass
class Proc:
    name: str
    args: list[str]
    health_url: str
    popen: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the shared environment for this process only
    nice: int = 0  # CPU priority below the gateway's (on one machine, the door answers first when CPU is short)
    port: int = 0  # the port it listens on (checked free before anything starts)
    # supervision state
    started_at: float = 0.0
    failures: int = 0  # quick exits in a row
    restart_at: float | None = None  # when a dead process is started again

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


def _prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


def _prepare_child(parent: int, increment: int, die_with_parent: bool) -> Callable[[], None]:
    """What the child runs before exec: SIGKILL when the runner dies (PR_SET_PDEATHSIG), lower priority."""
    prctl = _prctl() if die_with_parent else None  # looked up before the fork: the child only calls it

    def prepare() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the runner died before prctl took effect
                os._exit(1)
        if increment:
            os.nice(increment)

    return prepare


def spawn(
    proc: Proc, *, cwd: Path, env: dict[str, str], out: IO[bytes] | None = None, die_with_parent: bool = True
) -> subprocess.Popen:
    """Start ``proc`` in a new session (its own process group: Ctrl-C in the terminal reaches only the runner,
    and the whole group, Sanic workers included, is stopped with one signal). ``die_with_parent`` ties the child
    to the calling *thread* (that is how Linux defines the parent's death): only for the runner's main thread."""
    proc.popen = subprocess.Popen(
        proc.args, cwd=cwd, env=env | proc.env, stdout=out, stderr=subprocess.STDOUT if out else None,
        start_new_session=True, preexec_fn=_prepare_child(os.getpid(), proc.nice, die_with_parent),
    )
    proc.started_at = time.monotonic()
    proc.restart_at = None
    return proc.popen


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def group_alive(pgid: int) -> bool:
    return signal_group(pgid, 0)


def stop_groups(pgids: list[int], timeout: float = STOP_GRACE, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM each group, wait until every process of them is gone, SIGKILL what is left after ``timeout``.
    ``reap`` collects our own exited children (a zombie still counts as a member of its group)."""
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not any(group_alive(g) for g in pgids):
            break
        time.sleep(0.1)
    for pgid in pgids:
        signal_group(pgid, signal.SIGKILL)


def stop_procs(procs: list[Proc], timeout: float = STOP_GRACE) -> None:
    """Stop every process group of ``procs`` (the group leader and, e.g., Rasa's Sanic workers) and reap them."""
    popens = [p.popen for p in procs if p.popen is not None]
    stop_groups([p.pid for p in popens], timeout, reap=lambda: [p.poll() for p in popens])
    for proc in procs:
        if proc.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)


def port_taken(port: int, host: str = "0.0.0.0") -> bool:
    """Whether something already listens on ``port`` (a bind as the servers do it fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


class Guard:
    """A helper process that kills the children's process groups when the runner is gone.

    The runner writes each child's process group id to the guard's stdin. PR_SET_PDEATHSIG kills only a direct
    child; a grandchild (a Sanic worker) would outlive a SIGKILLed runner. The guard reads until end of file,
    which comes when the runner exits for any reason, then kills every group it was told about."""

    def __init__(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot.supervisor", "guard"], stdin=subprocess.PIPE,
            start_new_session=True,  # not in the terminal's group: Ctrl-C reaches only the runner
        )

    def watch(self, pgid: int) -> None:
        self._write(f"{pgid}\n")

    def forget(self, pgid: int) -> None:
        """The group is gone: its id may be reused by an unrelated process later."""
        self._write(f"-{pgid}\n")

    def _write(self, line: str) -> None:
        assert self.popen.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.popen.stdin.write(line.encode())
            self.popen.stdin.flush()

    def close(self) -> None:
        if self.popen.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.popen.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=STOP_GRACE + 5)


def guard_main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pgids: set[int] = set()
    for line in sys.stdin:
        with contextlib.suppress(ValueError):
            pgid = int(line)
            if pgid > 0:
                pgids.add(pgid)
            else:
                pgids.discard(-pgid)
    stop_groups(sorted(pgids), timeout=5)
    return 0


Say = Callable[[str], None]


class Supervisor:
    """Starts the processes, restarts any that exits (with backoff), stops them all."""

    def __init__(
        self, procs: list[Proc], *, cwd: Path, env: dict[str, str], log_dir: Path | None = None,
        backoff: Backoff | None = None, say: Say | None = None,
    ) -> None:
        self.procs = procs
        self.cwd = cwd
        self.env = env
        self.log_dir = log_dir
        self.backoff = backoff or Backoff()
        self.say = say or (lambda line: print(line, flush=True))
        self.guard = Guard()
        self.restarts = 0

    def start(self, proc: Proc) -> None:
        if proc.popen is not None and not group_alive(proc.popen.pid):
            self.guard.forget(proc.popen.pid)
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{proc.name}.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        try:
            popen = spawn(proc, cwd=self.cwd, env=self.env, out=out)
        except OSError as exc:  # e.g. the executable vanished: try again later, as for an exit
            self.say(f"{proc.name} could not start ({exc})")
            self._schedule(proc)
            return
        finally:
            if out is not None:
                out.close()
        self.guard.watch(popen.pid)

    def start_all(self) -> None:
        for proc in self.procs:
            self.start(proc)

    def _schedule(self, proc: Proc) -> float:
        now = time.monotonic()
        if proc.started_at and now - proc.started_at >= self.backoff.reset_after:
            proc.failures = 0
        proc.failures += 1
        delay = self.backoff.delay(proc.failures)
        proc.restart_at = now + delay
        return delay

    def check(self) -> list[Proc]:
        """Notice exited processes (announce and schedule their restart) and restart those due; the restarted."""
        restarted = []
        now = time.monotonic()
        for proc in self.procs:
            if proc.restart_at is None and proc.popen is not None and proc.popen.poll() is not None:
                code = proc.popen.returncode
                signal_group(proc.popen.pid, signal.SIGKILL)  # what it left of its group (Sanic workers)
                delay = self._schedule(proc)
                self.say(f"{proc.name} exited with code {code}; restarting in {delay:g} s")
            elif proc.restart_at is not None and now >= proc.restart_at:
                self.start(proc)
                self.restarts += 1
                restarted.append(proc)
        return restarted

    def stop(self) -> None:
        stop_procs(self.procs)
        for proc in self.procs:
            if proc.popen is not None and not group_alive(proc.popen.pid):
                self.guard.forget(proc.popen.pid)
        self.guard.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["guard"]:
        sys.exit(guard_main())
    sys.exit("usage: python -m bot.supervisor guard")
