"""Who is asking: console accounts and roles, argon2 passwords, login sessions and CSRF tokens (no HTTP here)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from bot.store.db import Database
from bot.store.models import User, WebSession, utcnow

ROLES: tuple[str, ...] = ("counselor", "supervisor", "admin")
SUPERVISING: tuple[str, ...] = ("supervisor", "admin")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()  # argon2id, memory-hard; the library's current recommended parameters
_dummy_hashes: dict[int, str] = {}


class AccountError(ValueError):
    """A bad username, role or password (the message is safe to show)."""


def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so a wrong username costs the same time as a wrong password."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """What the database keeps of a session cookie: its SHA-256 (the token itself is random, 256 bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str | None, supplied: str | None) -> bool:
    """Constant-time comparison of a CSRF token; a missing one never matches."""
    if not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError("The password is too long.")


def check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 80 or any(ch.isspace() for ch in name):
        raise AccountError("A username is 1-80 characters without spaces.")
    return name


async def create_user(
    db: Database,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    max_active: int = 3,
    replace: bool = False,
) -> User:
    """Create an account (or, with ``replace``, set a new password and role on an existing one)."""
    name = check_username(username)
    if role not in ROLES:
        raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
    check_password_rules(password)
    password_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
    async with db.transaction() as s:
        user = await s.scalar(select(User).where(User.username == name))
        if user is not None and not replace:
            raise AccountError(f"The user {name!r} exists already.")
        if user is None:
            user = User(username=name)
            s.add(user)
        user.password_hash = password_hash
        user.role = role
        user.display_name = display_name.strip() or user.display_name or name
        user.max_active = max_active
        user.active = True
        if replace:
            await s.flush()
            await s.execute(delete(WebSession).where(WebSession.user_id == user.id))  # log out everywhere
        return user


async def list_users(db: Database) -> list[User]:
    async with db.session() as s:
        return list(await s.scalars(select(User).order_by(User.role, User.username)))


async def set_active(db: Database, user_id: int, active: bool) -> User | None:
    """Enable or disable an account; disabling ends its sessions at once."""
    async with db.transaction() as s:
        user = await s.get(User, user_id)
        if user is None:
            return None
        user.active = active
        if not active:
            await s.execute(delete(WebSession).where(WebSession.user_id == user_id))
        return user


async def authenticate(db: Database, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (unknown users cost the same time)."""
    async with db.session() as s:
        user = await s.scalar(select(User).where(User.username == username.strip()))
    stored = user.password_hash if user is not None and user.active else _dummy_hash()
    ok = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, stored, password[:MAX_PASSWORD_CHARS]
    )
    if not ok or user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
        async with db.transaction() as s:
            row = await s.get(User, user.id)
            if row is not None:
                row.password_hash = new_hash
    return user


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie only
    csrf: str
    user: User


async def start_session(db: Database, user: User, hours: int) -> NewSession:
    """A new login for ``user``; expired sessions of anyone are swept on the way."""
    token, csrf = new_token(), new_token()
    now = utcnow()
    async with db.transaction() as s:
        await s.execute(delete(WebSession).where(WebSession.expires_at < now))
        s.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
    return NewSession(token=token, csrf=csrf, user=user)


async def load_session(db: Database, token: str | None) -> WebSession | None:
    """The live session for a cookie value, with its user; None if unknown, expired or the user is disabled."""
    if not token or len(token) > 200:
        return None
    async with db.session() as s:
        row = await s.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.expires_at < utcnow() or not row.user.active:
        return None
    return row


async def end_session(db: Database, token: str | None) -> None:
    if not token:
        return
    async with db.transaction() as s:
        await s.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def can_supervise(role: str) -> bool:
    return role in SUPERVISING


class LoginThrottle:
    """At most ``limit`` failed logins per key (username or address) in ``window`` seconds, in this process."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for k in keys:
            self._recent(k, now).append(now)
        if len(self._failures) > 10_000:  # keep memory bounded under a spray of usernames
            self._failures = {k: q for k, q in self._failures.items() if self._recent(k, now)}

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            self._failures.pop(k, None)
