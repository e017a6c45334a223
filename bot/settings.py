"""One typed settings object, read from the environment, with safe defaults for a local run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = ROOT / "var"


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _local_secret(var_dir: Path, name: str) -> str:
    """A secret generated once per checkout for local runs (never used when the environment sets one)."""
    path = var_dir / name
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def database_url_from_env() -> str:
    """DATABASE_URL, or the embedded SQLite file (for processes that need nothing else, like the action server)."""
    var_dir = Path(_env("VAR_DIR", str(DEFAULT_VAR_DIR)))
    return _env("DATABASE_URL", f"sqlite:///{var_dir / 'crisis.db'}")


def model_poll_seconds_from_env() -> float:
    return _float("MODEL_POLL_SECONDS", 5.0)


@dataclass(frozen=True)
class Settings:
    """Everything the gateway, CLI and actions need to know about their surroundings."""

    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = ""
    redis_url: str = ""
    # Twilio
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_number: str = "+15550000000"
    twilio_api_base_url: str = "https://api.twilio.com"
    public_base_url: str = "http://127.0.0.1:8080"
    # Processes
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    rasa_url: str = "http://127.0.0.1:5005"
    action_port: int = 5055
    action_url: str = ""  # the action server as Rasa and /ready reach it ("" = http://127.0.0.1:{action_port})
    rasa_timeout: float = 8.0
    rasa_token: str = field(default="", repr=False)  # Rasa's HTTP API token (the gateway reads trackers with it)
    rasa_startup_grace: float = 90.0  # seconds after start-up a text waits for Rasa to load before failing open
    inbox_workers: int = 8  # 0 = store-only (texts wait in the durable inbox for another instance)
    # Privacy: one secret derives both the phone-number encryption key and the hashing key
    privacy_key: str = field(default="", repr=False)
    # Behaviour
    send_timeout: float = 10.0
    send_max_attempts: int = 5
    rate_limit_per_minute: int = 20
    max_body_chars: int = 5000
    log_level: str = "INFO"
    # Queue and console
    aging_points_per_minute: float = 1.0
    aging_cap: float = 30.0
    max_active_per_counselor: int = 3
    alert_high_wait_seconds: int = 300  # alert supervisors when a high-risk texter waits longer
    alert_imminent_wait_seconds: int = 60
    alert_webhook_url: str = ""  # optional: POSTed a JSON alert (no message bodies, no numbers)
    waiting_notice_seconds: int = 600  # "still here" text to a waiting texter, at most this often
    idle_close_seconds: int = 3600  # an active conversation silent this long is closed (waiting ones never)
    session_hours: int = 12
    # Abuse (issue 13): automatic blocks by the detector alone, per class with a threshold ("spam=0.97"); off
    # by default, and never for a text the triage scores high or imminent (risk always wins).
    abuse_auto_block: str = ""
    abuse_auto_block_for: str = "24h"
    # Learning loop
    retention_days: int = 0  # conversations closed longer ago lose their texts and labels (0 = keep)
    model_poll_seconds: float = 5.0  # how often every process looks for a newly promoted triage model

    # Feedback and experiments (issue 12)
    survey_enabled: bool = True  # texter survey after a conversation with a counselor closes
    survey_delay_seconds: int = 1800  # how long after the close the survey is sent
    survey_reply_hours: int = 24  # answers are taken this long after it was sent; later texts start a conversation
    survey_second_question: bool = True  # ask "less alone than when you started?" after the 1-5 answer
    log_format: str = "text"  # text | json (structured, no message bodies, no numbers)
    experiments_file: Path = ROOT / "data" / "experiments.yml"

    def __post_init__(self) -> None:
        if not self.action_url:
            object.__setattr__(self, "action_url", f"http://127.0.0.1:{self.action_port}")

    @property
    def local_sms(self) -> bool:
        """No Twilio account configured: outbound texts go to the local outbox instead of the API."""
        return not self.twilio_account_sid

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("VAR_DIR", str(DEFAULT_VAR_DIR)))
        port = _int("GATEWAY_PORT", 8080)
        return cls(
            var_dir=var_dir,
            database_url=database_url_from_env(),
            redis_url=_env("REDIS_URL"),
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN") or _local_secret(var_dir, "local_twilio_token"),
            twilio_number=_env("TWILIO_NUMBER", "+15550000000"),
            twilio_api_base_url=_env("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/"),
            public_base_url=_env("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            gateway_host=_env("GATEWAY_HOST", "127.0.0.1"),
            gateway_port=port,
            rasa_url=_env("RASA_URL", "http://127.0.0.1:5005").rstrip("/"),
            action_port=_int("ACTION_PORT", 5055),
            action_url=_env("ACTION_URL").rstrip("/"),
            rasa_timeout=_float("RASA_TIMEOUT", 8.0),
            rasa_token=_env("RASA_TOKEN") or _local_secret(var_dir, "rasa_token"),
            rasa_startup_grace=_float("RASA_STARTUP_GRACE", 90.0),
            inbox_workers=_int("INBOX_WORKERS", 8),
            privacy_key=_env("PRIVACY_KEY") or _local_secret(var_dir, "privacy.key"),
            send_timeout=_float("SEND_TIMEOUT", 10.0),
            send_max_attempts=_int("SEND_MAX_ATTEMPTS", 5),
            rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 20),
            max_body_chars=_int("MAX_BODY_CHARS", 5000),
            log_level=_env("LOG_LEVEL", "INFO"),
            aging_points_per_minute=_float("AGING_POINTS_PER_MINUTE", 1.0),
            aging_cap=_float("AGING_CAP", 30.0),
            max_active_per_counselor=_int("MAX_ACTIVE_PER_COUNSELOR", 3),
            alert_high_wait_seconds=_int("ALERT_HIGH_WAIT_SECONDS", 300),
            alert_imminent_wait_seconds=_int("ALERT_IMMINENT_WAIT_SECONDS", 60),
            alert_webhook_url=_env("ALERT_WEBHOOK_URL"),
            waiting_notice_seconds=_int("WAITING_NOTICE_SECONDS", 600),
            idle_close_seconds=_int("IDLE_CLOSE_SECONDS", 3600),
            session_hours=_int("SESSION_HOURS", 12),
            abuse_auto_block=_env("ABUSE_AUTO_BLOCK"),
            abuse_auto_block_for=_env("ABUSE_AUTO_BLOCK_FOR", "24h"),
            retention_days=_int("RETENTION_DAYS", 0),
            model_poll_seconds=_float("MODEL_POLL_SECONDS", 5.0),
            survey_enabled=_env("SURVEY_ENABLED", "true").lower() not in ("0", "false", "no", "off"),
            survey_delay_seconds=_int("SURVEY_DELAY_SECONDS", 1800),
            survey_reply_hours=_int("SURVEY_REPLY_HOURS", 24),
            survey_second_question=_env("SURVEY_SECOND_QUESTION", "true").lower() not in ("0", "false", "no", "off"),
            log_format=_env("LOG_FORMAT", "text").lower(),
            experiments_file=Path(_env("EXPERIMENTS_FILE", str(ROOT / "data" / "experiments.yml"))),
        )

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.startswith("https://")
