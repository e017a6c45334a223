"""Rasa's endpoints file for the configured environment: actions URL, SQL tracker store, Redis lock store.

``endpoints.yml`` at the root is the embedded default (SQLite tracker, in-memory locks, actions on :5055) and works
with the plain ``rasa`` commands. With DATABASE_URL / REDIS_URL set, ``python -m bot endpoints`` renders the
production variant: the tracker store on the same database server as the gateway (Rasa's own tables) and
Rasa's Redis lock store, so several Rasa instances can share conversations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from bot.settings import Settings


def endpoints(settings: Settings, *, action_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action_endpoint": {"url": action_url or f"{settings.action_url}/webhook"},
        "tracker_store": tracker_store(settings),
    }
    if settings.redis_url:
        out["lock_store"] = lock_store(settings.redis_url)
    return out


def tracker_store(settings: Settings) -> dict[str, Any]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return {"type": "SQL", "dialect": "sqlite", "db": str(settings.var_dir / "tracker.db")}
    store: dict[str, Any] = {
        "type": "SQL",
        "dialect": "postgresql",
        "url": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "db": url.database,
    }
    if url.username:
        store["username"] = url.username
    if url.password:
        store["password"] = url.password
    return store


def lock_store(redis_url: str) -> dict[str, Any]:
    url = make_url(redis_url.replace("rediss://", "redis://", 1))
    store: dict[str, Any] = {
        "type": "redis",
        "url": url.host or "127.0.0.1",
        "port": url.port or 6379,
        "db": int(url.database or 0),
        "key_prefix": "crisis",
    }
    if url.password:
        store["password"] = url.password
    if redis_url.startswith("rediss://"):
        store["use_ssl"] = True
    return store


def write(settings: Settings, path: Path, *, action_url: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(endpoints(settings, action_url=action_url), sort_keys=False))
    return path
