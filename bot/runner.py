"""`make run`: check the ports are free, prepare (database, spaCy pipeline, Rasa model when the data changed), then
start the action server, the Rasa server and the gateway and keep them running (bot/supervisor.py restarts any
that exits); "Ready" once the gateway's /ready says Rasa and the actions answer; Ctrl-C or SIGTERM stops all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bot.rasa_endpoints import tracker_store
from bot.rasa_endpoints import write as write_endpoints
from bot.settings import ROOT, Settings
from bot.store.db import migrate
from bot.supervisor import Proc, Supervisor, port_taken, spawn, stop_procs

MODEL_DIR = ROOT / "models"
MODEL_NAME = "intake"
SPACY_DIR = ROOT / "build" / "spacy_en"
TRAINING_INPUTS = ("config.yml", "domain.yml", "data/nlu", "data/rules.yml", "data/stories.yml")


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def training_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = ROOT / name
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                digest.update(str(f.relative_to(ROOT)).encode())
                digest.update(f.read_bytes())
    return digest.hexdigest()


def model_path() -> Path:
    return MODEL_DIR / f"{MODEL_NAME}.tar.gz"


def ensure_spacy() -> None:
    if not (SPACY_DIR / "meta.json").exists():
        print("Building the project's spaCy pipeline (no download needed)...", flush=True)
        subprocess.run([sys.executable, "-m", "bot.nlp", "build", str(SPACY_DIR)], cwd=ROOT, check=True)


def ensure_model(force: bool = False) -> Path:
    """Train when the training data changed since the last model (or there is none)."""
    ensure_spacy()
    stamp = MODEL_DIR / ".fingerprint"
    fingerprint = training_fingerprint()
    if not force and model_path().exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return model_path()
    print("Training the Rasa model (the data changed or there is no model yet)...", flush=True)
    started = time.monotonic()
    staging = MODEL_DIR / ".training"
    subprocess.run(
        [bin_path("rasa"), "train", "--fixed-model-name", MODEL_NAME, "--out", str(staging)],
        cwd=ROOT,
        env=rasa_env(),
        check=True,
    )
    # Swap the finished model in at once: a Rasa server starting meanwhile never reads a half-written file.
    os.replace(staging / model_path().name, model_path())
    staging.rmdir()
    stamp.write_text(fingerprint)
    print(f"Trained in {time.monotonic() - started:.0f} s.", flush=True)
    return model_path()


MAX_RASA_WORKERS = 4
# Rasa and the actions yield CPU to the gateway when the machine is saturated: Twilio's webhooks are answered and
# replies sent at once, while the heavy NLU work waits its turn (it is the bottleneck either way).
BACKGROUND_NICE = 5


def rasa_workers(settings: Settings) -> int:
    """Sanic workers for the Rasa server: SANIC_WORKERS if set, else one per core (at most 4) when the lock store
    is shared (Redis), else 1 (Rasa allows only one worker with its in-memory lock store)."""
    if os.environ.get("SANIC_WORKERS"):
        return max(1, int(os.environ["SANIC_WORKERS"]))
    if not settings.redis_url:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_RASA_WORKERS))


def tensorflow_threads() -> dict[str, str]:
    """One TensorFlow thread per Rasa worker (unless set in the environment): the models are small, and each
    worker's own thread pools only fight the other workers and the gateway for the same cores."""
    return {name: os.environ.get(name, "1") for name in ("TF_INTRA_OP_PARALLELISM_THREADS",
                                                           "TF_INTER_OP_PARALLELISM_THREADS")}


def prepare_tracker_db(settings: Settings) -> None:
    """Put an SQLite tracker store in WAL mode (the mode stays with the file): several Rasa workers then read
    trackers while one saves, instead of failing with "database is locked"."""
    store = tracker_store(settings)
    if store.get("dialect") == "sqlite":
        path = Path(store["db"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def actions_proc(port: int) -> Proc:
    """The action server on ``port``."""
    return Proc(
        "actions",
        [bin_path("rasa"), "run", "actions", "--actions", "actions", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        port=port,
    )


def rasa_proc(port: int, endpoints_file: Path, token: str) -> Proc:
    """The Rasa server on ``port``: `rasa run` with its action-reply check compiled once (bot/rasa_server.py), and
    its HTTP API behind ``token`` (the gateway reads a tracker there after a crash: exactly-once turns)."""
    return Proc(
        "rasa",
        [
            sys.executable, "-m", "bot.rasa_server", "run", "--model", str(model_path()), "--port", str(port),
            "--endpoints", str(endpoints_file), "--credentials", "credentials.yml", "--enable-api",
            "--auth-token", token,
        ],
        f"http://127.0.0.1:{port}/webhooks/rest/",
        port=port,
    )


def processes(settings: Settings, endpoints_file: Path) -> list[Proc]:
    actions = actions_proc(settings.action_port)
    actions.nice = BACKGROUND_NICE
    rasa = rasa_proc(rasa_port(settings), endpoints_file, settings.rasa_token)
    rasa.env = {"SANIC_WORKERS": str(rasa_workers(settings)), **tensorflow_threads()}
    rasa.nice = BACKGROUND_NICE
    gateway = Proc(
        "gateway", [sys.executable, "-m", "bot", "serve"], f"http://127.0.0.1:{settings.gateway_port}/health",
        port=settings.gateway_port,
    )
    return [actions, rasa, gateway]


def rasa_port(settings: Settings) -> int:
    return int(settings.rasa_url.rsplit(":", 1)[-1].split("/")[0])


PORT_SETTINGS = {"actions": "ACTION_PORT", "rasa": "RASA_URL", "gateway": "GATEWAY_PORT"}
PROC_TITLES = {"actions": "the action server", "rasa": "the Rasa server", "gateway": "the gateway"}


def taken_ports(procs: list[Proc], gateway_host: str) -> list[str]:
    """One line per process whose port something else already listens on (Rasa and the actions bind every
    interface, the gateway GATEWAY_HOST)."""
    lines = []
    for proc in procs:
        host = gateway_host if proc.name == "gateway" else "0.0.0.0"
        if port_taken(proc.port, host):
            lines.append(
                f"Port {proc.port} is already in use; {PROC_TITLES.get(proc.name, proc.name)} needs it "
                f"(set {PORT_SETTINGS.get(proc.name, 'its port')} to use another, or stop what listens there: "
                f"is another `make run` running?)"
            )
    return lines


def wait_healthy(proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with code {proc.popen.returncode}")
        try:
            with urllib.request.urlopen(proc.health_url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{proc.name} did not become healthy within {timeout:.0f} s ({proc.health_url})")


def start_stack(settings: Settings, *, log_dir: Path | None = None) -> list[Proc]:
    """Start actions, Rasa and the gateway, unsupervised (tests, the benchmark); return once all three answer
    their health checks."""
    endpoints_file = write_endpoints(settings, settings.var_dir / "endpoints.yml")
    prepare_tracker_db(settings)
    procs = processes(settings, endpoints_file)
    for proc in procs:
        out = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = open(log_dir / f"{proc.name}.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        try:
            spawn(proc, cwd=ROOT, env=rasa_env(), out=out, die_with_parent=False)  # callers may be threads
        finally:
            if out is not None:
                out.close()
    try:
        for proc in procs:
            wait_healthy(proc, timeout=240)
    except Exception:
        stop_stack(procs)
        raise
    return procs


def niceness(increment: int) -> Callable[[], None] | None:
    """What the child runs before exec to lower its CPU priority (None: keep the parent's)."""
    if not increment:
        return None

    def lower() -> None:
        os.nice(increment)

    return lower


def stop_stack(procs: list[Proc]) -> None:
    """Stop every process group of ``procs`` (SIGTERM, then SIGKILL after a grace)."""
    stop_procs(procs)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


READY_POLL = 1.0  # seconds between /ready probes while not ready
SLOW_START = 240.0  # say where to look when start-up takes longer


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def run() -> int:
    # Ctrl-C and SIGTERM both stop all three (SIGINT may arrive ignored when started from a script).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings.from_env()
    started = time.monotonic()
    endpoints_file = settings.var_dir / "endpoints.yml"
    procs = processes(settings, endpoints_file)
    clashes = taken_ports(procs, settings.gateway_host)
    if clashes:  # before anything starts: a second stack must not half-start beside the first
        for line in clashes:
            print(line, file=sys.stderr, flush=True)
        print("Nothing was started.", file=sys.stderr, flush=True)
        return 2
    migrate(settings.database_url)
    ensure_model()
    write_endpoints(settings, endpoints_file)
    prepare_tracker_db(settings)
    print("Starting the action server, the Rasa server and the gateway...", flush=True)
    log_dir = settings.var_dir / "logs"
    supervisor = Supervisor(procs, cwd=ROOT, env=rasa_env(), log_dir=log_dir)
    base = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        supervisor.start_all()
        ready_once = False
        ready = False
        down_since = started
        next_probe = 0.0
        slow_said = False
        while True:
            supervisor.check()
            now = time.monotonic()
            if not all(p.running for p in procs):
                if ready:
                    down_since = now
                ready = False
            elif not ready and now >= next_probe:
                next_probe = now + READY_POLL
                ready = is_ready(base + "/ready")
                if ready and not ready_once:
                    ready_once = True
                    _print_banner(settings, base, log_dir, now - started)
                elif ready:
                    print(f"Ready again ({now - down_since:.0f} s after a process exited).", flush=True)
            if not ready_once and not slow_said and now - started > SLOW_START:
                slow_said = True
                print(f"Not ready after {SLOW_START:.0f} s: see {log_dir} (GET {base}/ready says which part "
                      "is not answering).", flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not leave processes half-stopped (the guard process covers a SIGKILL).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()


def _print_banner(settings: Settings, base: str, log_dir: Path, seconds: float) -> None:
    print(
        f"\nReady in {seconds:.0f} s.\n"
        f"  Gateway:      {base} (Twilio webhook: {settings.public_base_url}/twilio/sms)\n"
        f"  Console:      {base}/console  (first account: .venv/bin/python -m bot create-user NAME --role admin)\n"
        f"  Text it:      .venv/bin/python -m bot texter     (in another terminal; no Twilio account needed)\n"
        f"  Queue:        .venv/bin/python -m bot queue --json\n"
        f"  Logs:         {log_dir}\n"
        "A process that exits is restarted; Ctrl-C stops all three.",
        flush=True,
    )
