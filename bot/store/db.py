"""Database connection: async engine and sessions for the gateway, migrations to the latest schema."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def async_url(url: str) -> str:
    """The async driver's URL for a plain DATABASE_URL (sqlite -> aiosqlite, postgresql -> asyncpg)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The sync driver's URL (for Alembic and Rasa's tracker store)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        u = u.set(drivername="sqlite")
    elif backend == "postgresql":
        u = u.set(drivername="postgresql+psycopg2")
    return u.render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


URGENT_POOL = 4  # PostgreSQL connections kept for urgent transactions (webhooks), beside the main pool
READ_ONLY = "crisis_read_only"  # execution option of read sessions: on SQLite they never take the write lock


def create_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block the webhook's writes."""
    _ensure_sqlite_dir(url)
    if make_url(url).get_backend_name() == "sqlite":
        # A real pool: without one (SQLAlchemy's default for SQLite files) every transaction opened a new
        # connection, its own thread and ran the pragmas again.
        engine = create_async_engine(
            async_url(url), future=True, connect_args={"timeout": 30},
            poolclass=AsyncAdaptedQueuePool, pool_size=pool_size, max_overflow=pool_size,
            # Sessions always end their transaction themselves; the pool's extra ROLLBACK on every check-in
            # would be one more round trip through aiosqlite's thread.
            pool_reset_on_return=None,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not the driver, issue BEGIN (see _begin below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn):
            # A writing transaction takes the write lock at BEGIN: concurrent writers queue instead of failing
            # with "database is locked" when a read transaction upgrades to a write. Read sessions (which never
            # commit) begin deferred and read a WAL snapshot beside the writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        async_url(url), future=True, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
    )


class WriteTurn:
    """SQLite's one writer at a time, within this process: writers wait here in order instead of polling SQLite's
    lock in its busy handler (which sleeps, and lets newcomers overtake). Urgent writers (a webhook storing a text
    before it answers Twilio) go ahead of background work, at most URGENT_RUN times in a row."""

    URGENT_RUN = 8

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self._urgent_in_a_row = 0

    @asynccontextmanager
    async def turn(self, *, urgent: bool) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the turn reached us as we were cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        prefer_urgent = self._urgent_in_a_row < self.URGENT_RUN or not self._normal
        for queue in (self._urgent, self._normal) if prefer_urgent else (self._normal, self._urgent):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    self._urgent_in_a_row = self._urgent_in_a_row + 1 if queue is self._urgent else 0
                    waiter.set_result(None)  # the turn passes straight on: still held
                    return
        self._held = False
        self._urgent_in_a_row = 0


class Database:
    """The gateway's handle on the store: an engine plus a session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False, future=True)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), class_=AsyncSession, expire_on_commit=False,
            future=True,
        )
        self.postgres = is_postgres(url)
        self._write_turn = WriteTurn() if not self.postgres else None  # SQLite: one writer at a time
        # Urgent transactions (a webhook storing a text while Twilio waits) never queue behind background work for
        # a connection: on PostgreSQL they have a small pool of their own; on SQLite they go first in WriteTurn.
        # No pre-ping there (a round trip per webhook): ``urgent`` runs the work again on a new connection instead.
        self._urgent_engine = create_engine(url, pool_size=URGENT_POOL, pre_ping=False) if self.postgres else None
        self._urgent_sessions = (
            sessionmaker(self._urgent_engine, class_=AsyncSession, expire_on_commit=False, future=True)
            if self._urgent_engine is not None else self.sessions
        )
        # Called after each commit with the committed session's ``info`` (see ``transaction``).
        self.on_commit: list[Callable[[dict], Awaitable[None]]] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading (it is never committed)."""
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error. ``urgent``: someone
        is waiting for it (Twilio, for a webhook's answer); on SQLite it goes ahead of background writers.

        What the transaction's owners left in ``session.info`` (live events, texts ready to send) is handed to the
        ``on_commit`` hooks once it has committed, never when it rolled back."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                await stack.enter_async_context(self._write_turn.turn(urgent=urgent))
            session = await stack.enter_async_context((self._urgent_sessions if urgent else self.sessions)())
            await stack.enter_async_context(session.begin())
            yield session
        if session.info:
            for hook in self.on_commit:
                await hook(session.info)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """PostgreSQL only: an urgent connection where each statement commits on its own, so a single INSERT is a
        single round trip (no BEGIN / COMMIT around it)."""
        assert self._urgent_engine is not None, "autocommit is for PostgreSQL"
        async with self._urgent_engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def urgent(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run urgent work (a webhook's write: Twilio will not send that request again). If the connection broke
        under it (PostgreSQL restarted or failed over; asyncpg may report a killed connection as "another
        operation is in progress", which passes the pool's pre-ping), drop the urgent pool's connections and run
        it once more on a new one."""
        try:
            return await work()
        except (DBAPIError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as exc:
            if self._urgent_engine is None or isinstance(exc, IntegrityError):
                raise
            log.warning("database connection broke (%s); retrying on a new one", type(exc).__name__)
            await self._urgent_engine.dispose()
            return await work()

    async def close(self) -> None:
        await self.engine.dispose()
        if self._urgent_engine is not None:
            await self._urgent_engine.dispose()


def migrate(url: str) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    _ensure_sqlite_dir(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")
