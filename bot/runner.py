"""`make run`: prepare (database, spaCy pipeline, Rasa model when the data changed), then start the action
server, the Rasa server and the gateway together, health-checked; Ctrl-C stops all three."""

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
from dataclasses import dataclass, field
from pathlib import Path

from bot.rasa_endpoints import tracker_store
from bot.rasa_endpoints import write as write_endpoints
from bot.settings import ROOT, Settings
from bot.store.db import migrate

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


@dataclass
class Proc:
    name: str
    args: list[str]
    health_url: str
    popen: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the shared environment for this process only
    nice: int = 0  # CPU priority below the gateway's (on one machine, the door answers first when CPU is short)


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
    )


def processes(settings: Settings, endpoints_file: Path) -> list[Proc]:
    actions = actions_proc(settings.action_port)
    actions.nice = BACKGROUND_NICE
    rasa = rasa_proc(int(settings.rasa_url.rsplit(":", 1)[-1].split("/")[0]), endpoints_file, settings.rasa_token)
    rasa.env = {"SANIC_WORKERS": str(rasa_workers(settings)), **tensorflow_threads()}
    rasa.nice = BACKGROUND_NICE
    gateway = Proc("gateway", [sys.executable, "-m", "bot", "serve"], f"http://127.0.0.1:{settings.gateway_port}/health")
    return [actions, rasa, gateway]


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
    """Start actions, Rasa and the gateway; return once all three answer their health checks."""
    endpoints_file = write_endpoints(settings, settings.var_dir / "endpoints.yml")
    prepare_tracker_db(settings)
    procs = processes(settings, endpoints_file)
    for proc in procs:
        env = rasa_env() | proc.env
        out = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = open(log_dir / f"{proc.name}.log", "ab")  # noqa: SIM115 - kept open for the child's life
        proc.popen = subprocess.Popen(
            proc.args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True, preexec_fn=niceness(proc.nice),
        )
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
    for proc in procs:
        if proc.popen is not None and proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
    for proc in procs:
        if proc.popen is not None:
            try:
                proc.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run() -> int:
    # Ctrl-C and SIGTERM both stop all three (SIGINT may arrive ignored when started from a script).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings.from_env()
    started = time.monotonic()
    migrate(settings.database_url)
    ensure_model()
    print("Starting the action server, the Rasa server and the gateway...", flush=True)
    procs = start_stack(settings, log_dir=settings.var_dir / "logs")
    base = f"http://127.0.0.1:{settings.gateway_port}"
    print(
        f"\nReady in {time.monotonic() - started:.0f} s.\n"
        f"  Gateway:      {base} (Twilio webhook: {settings.public_base_url}/twilio/sms)\n"
        f"  Console:      {base}/console  (first account: .venv/bin/python -m bot create-user NAME --role admin)\n"
        f"  Text it:      .venv/bin/python -m bot texter     (in another terminal; no Twilio account needed)\n"
        f"  Queue:        .venv/bin/python -m bot queue --json\n"
        f"  Logs:         {settings.var_dir / 'logs'}\n"
        "Press Ctrl-C to stop all three.",
        flush=True,
    )
    try:
        while all(p.popen is not None and p.popen.poll() is None for p in procs):
            time.sleep(1)
        dead = [p.name for p in procs if p.popen is not None and p.popen.poll() is not None]
        print(f"Stopped: {', '.join(dead)} exited; stopping the rest.", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        stop_stack(procs)
