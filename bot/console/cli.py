"""`python -m bot create-user NAME --role ROLE`: create (or reset) a console account from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from bot.console.auth import ROLES, AccountError, create_user
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import User


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "create-user",
        help="create a console account (the first admin, counselors, supervisors)",
        description="Create a console account. The password is prompted for, or read from CONSOLE_PASSWORD or "
        "(with --password-stdin) from the first line of standard input.",
    )
    p.add_argument("username")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--name", default="", help="display name shown to colleagues (default: the username)")
    p.add_argument(
        "--max-active",
        type=int,
        help="this account's own limit of active conversations (default and ceiling: MAX_ACTIVE_PER_COUNSELOR)",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--reset", action="store_true", help="the user exists: set a new password and role")
    p.set_defaults(handler=create_user_command)


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get("CONSOLE_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise AccountError("No terminal to prompt on: set CONSOLE_PASSWORD or use --password-stdin.")
    first = getpass.getpass(f"Password for {args.username}: ")
    if first != getpass.getpass("Same password again: "):
        raise AccountError("The two passwords differ.")
    return first


def create_user_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        password = read_password(args)
        limit = args.max_active or settings.max_active_per_counselor
        if limit < 1:
            raise AccountError("--max-active must be at least 1.")
        migrate(settings.database_url)
        user = asyncio.run(_create(settings, args, password, limit))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verb = "Updated" if args.reset else "Created"
    print(f"{verb} {user.role} {user.username!r}. Sign in at {settings.public_base_url}/console/login")
    return 0


async def _create(settings: Settings, args: argparse.Namespace, password: str, limit: int) -> User:
    db = Database(settings.database_url, pool_size=1)
    try:
        return await create_user(
            db, args.username, password, args.role, display_name=args.name, max_active=limit, replace=args.reset
        )
    finally:
        await db.close()
