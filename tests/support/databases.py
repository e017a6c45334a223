"""Test databases: a fresh SQLite file, and (when DATABASE_URL points at PostgreSQL) a fresh PostgreSQL
database created on that server and dropped afterwards, so the suite runs on both."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def backends() -> list[str]:
    url = os.environ.get("DATABASE_URL", "")
    return ["sqlite", "postgresql"] if url.startswith("postgres") else ["sqlite"]


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty database of the given backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / 'crisis.db'}"
        return
    server = make_url(os.environ["DATABASE_URL"])
    name = "crisis_t_" + secrets.token_hex(6)
    admin = create_engine(server.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
