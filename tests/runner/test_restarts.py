"""The supervisor's restart rule with real (tiny) processes: a process that keeps failing is restarted after
growing delays, capped, each announced on one line; it never spins."""

from __future__ import annotations

import sys
import time

from bot.settings import ROOT
from bot.supervisor import Backoff, Proc, Supervisor


def test_a_process_that_keeps_failing_is_restarted_with_growing_capped_delays():
    said: list[str] = []
    proc = Proc("flaky", [sys.executable, "-c", "raise SystemExit(3)"], "")
    supervisor = Supervisor([proc], cwd=ROOT, env={}, backoff=Backoff(first=0.2, cap=0.8, reset_after=60),
                            say=said.append)
    started = time.monotonic()
    supervisor.start_all()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(said) < 5:
            supervisor.check()
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        supervisor.stop()
    prefix = "flaky exited with code 3; restarting in "
    assert all(line.startswith(prefix) and line.endswith(" s") for line in said[:5]), said
    delays = [float(line[len(prefix):-2]) for line in said[:5]]
    assert delays == [0.2, 0.4, 0.8, 0.8, 0.8]
    assert elapsed >= sum(delays[:4])  # it waited each delay out: no spinning
    assert supervisor.restarts == 4


def test_a_process_that_stayed_up_starts_again_from_the_first_delay():
    said: list[str] = []
    proc = Proc("steady", [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(1)"], "")
    supervisor = Supervisor([proc], cwd=ROOT, env={}, backoff=Backoff(first=0.2, cap=5, reset_after=0.3),
                            say=said.append)
    supervisor.start_all()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(said) < 3:
            supervisor.check()
            time.sleep(0.02)
    finally:
        supervisor.stop()
    assert proc.failures == 1  # each run outlived reset_after: never more than one failure in a row
