"""Command line: `python -m bot COMMAND`; `python -m bot --help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.settings import Settings


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.server import create_app
    from bot.store.db import migrate

    migrate(settings.database_url)
    web.run_app(
        create_app(settings), host=settings.gateway_host, port=settings.gateway_port, print=None,
        access_log=None,
    )
    return 0


def _queue(settings: Settings, args: argparse.Namespace) -> int:
    from bot.handoff.queue import AgingRule, queue_snapshot
    from bot.store.db import Database

    async def snapshot() -> list[dict]:
        db = Database(settings.database_url, pool_size=1)
        try:
            return await queue_snapshot(db, AgingRule())
        finally:
            await db.close()

    rows = asyncio.run(snapshot())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("Nobody is waiting.")
    for row in rows:
        u = row["urgency"]
        wait = f"{row['waiting_seconds'] // 60}m" if row["state"] == "waiting" else "active"
        reasons = "; ".join(u["reasons"][:2])
        print(f"{u['level'].upper():9} {u['score']:3}  {wait:>6}  {row['conversation_id']}  {reasons}")
    return 0


def _texter(settings: Settings, args: argparse.Namespace) -> int:
    from bot.texter import chat

    url = args.gateway or f"http://127.0.0.1:{settings.gateway_port}"
    asyncio.run(chat(settings, args.phone, url))
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.db import migrate

    migrate(settings.database_url)
    print("Database is at the latest schema.")
    return 0


def _train(_settings: Settings, args: argparse.Namespace) -> int:
    from bot.runner import ensure_model

    print(ensure_model(force=args.force))
    return 0


def _run(_settings: Settings, _args: argparse.Namespace) -> int:
    from bot.runner import run

    return run()


def _endpoints(settings: Settings, args: argparse.Namespace) -> int:
    from bot.rasa_endpoints import write

    print(write(settings, Path(args.out), action_url=args.action_url))
    return 0


def _block(settings: Settings, args: argparse.Namespace) -> int:
    from bot.abuse.blocks import block_number, blocked_list, parse_duration, unblock_number
    from bot.privacy import Privacy
    from bot.store.db import Database

    async def work() -> int:
        db = Database(settings.database_url, pool_size=1)
        try:
            if args.command == "blocked":
                for b in await blocked_list(db):
                    until = "permanent" if b.until is None else f"until {b.until:%Y-%m-%d %H:%M} UTC"
                    print(f"{b.ref}  {until}  {b.reason}")
                return 0
            privacy = Privacy(settings.privacy_key)
            if args.command == "block":
                changed = await block_number(db, privacy, args.phone, duration=parse_duration(args.duration),
                                             reason=args.reason or "")
            else:
                changed = await unblock_number(db, privacy, args.phone)
            print(("Done." if changed else "Nothing to change.") + f" ({args.command})")
            return 0
        finally:
            await db.close()

    return asyncio.run(work())


def _abuse(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.abuse import review
    from bot.store.db import Database

    async def work() -> int:
        db = Database(settings.database_url, pool_size=1)
        try:
            async with db.session() as s:
                figs = await review.figures(s)
                items = await review.pending(s, limit=args.limit)
        finally:
            await db.close()
        out = {
            "flags": figs.flags, "counselor_flags": figs.counselor_flags, "reviews": figs.reviews,
            "blocks_active": figs.blocks_active, "blocks_total": figs.blocks_total,
            "precision": figs.precision, "overall_precision": figs.overall_precision,
            "queue": [{"review": i.id, "texter": i.texter, "conversation_id": i.conversation_id,
                       "scores": i.scores, "priority": i.priority, "sources": list(i.sources)} for i in items],
        }
        if args.json:
            print(json.dumps(out, indent=2))
            return 0
        print("flags per class: " + ", ".join(f"{c} {n}" for c, n in figs.flags.items()))
        print("reviews: " + ", ".join(f"{k} {n}" for k, n in figs.reviews.items()))
        print("blocks now: " + ", ".join(f"{k} {n}" for k, n in figs.blocks_active.items())
              + f" ({figs.blocks_total} ever)")
        print("precision (confirmed / decided): " + ", ".join(
            f"{c} {p:.2f}" if p is not None else f"{c} -" for c, p in figs.precision.items()))
        for i in items:
            print(f"#{i.id} {i.texter} {i.conversation_id or '-'} priority {i.priority:.2f} "
                  + " ".join(f"{c}={v:.2f}" for c, v in i.scores.items()))
        return 0

    return asyncio.run(work())
def _experiments(settings: Settings, args: argparse.Namespace) -> int:
    from bot.experiments.cli import run

    return run(settings, args)


COMMANDS = {
    "run": (_run, "prepare everything and start actions, Rasa and the gateway (what `make run` does)"),
    "serve": (_serve, "run the gateway only"),
    "migrate": (_migrate, "bring the database to the latest schema"),
    "train": (_train, "train the Rasa model if the training data changed"),
    "queue": (_queue, "print the waiting and active conversations, highest priority first"),
    "texter": (_texter, "text the running assistant from this terminal (local, signed webhooks)"),
    "endpoints": (_endpoints, "write Rasa's endpoints file for this environment"),
    "block": (_block, "block a number (abuse) for 24h, 30d or permanently: it gets one notice, then nothing"),
    "unblock": (_block, "unblock a number"),
    "blocked": (_block, "list blocked numbers (by keyed-hash reference)"),
    "abuse": (_abuse, "abuse figures (flags, reviews, blocks, precision) and the review queue, without numbers"),
    "experiments": (_experiments, "intake experiments: `report` (effects, CIs, verdict at the horizon) or `check`"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_fn, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name in ("queue", "abuse"):
            p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "abuse":
            p.add_argument("--limit", type=int, default=50, help="how many queue entries to list")
        if name == "texter":
            p.add_argument("--phone", default="+15555550100", help="the pretend texter's number")
            p.add_argument("--gateway", help="gateway URL (default http://127.0.0.1:GATEWAY_PORT)")
        if name == "train":
            p.add_argument("--force", action="store_true")
        if name in ("block", "unblock"):
            p.add_argument("phone", help="the number, as +15551234567")
            p.add_argument("--reason", help="why (kept, shown to staff)")
        if name == "block":
            p.add_argument("--for", dest="duration", default="permanent", choices=["24h", "30d", "permanent"],
                           help="how long (default: permanent); time-limited blocks expire on their own")
        if name == "experiments":
            from bot.experiments.cli import add_arguments

            add_arguments(p)
        if name == "endpoints":
            p.add_argument("--out", default="var/endpoints.yml")
            p.add_argument("--action-url")
    _register_extra(sub)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    from bot.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(settings, args) or 0)
    return COMMANDS[args.command][0](settings, args)


def _register_extra(sub: argparse._SubParsersAction) -> None:
    """Commands contributed by the console (users), the gateway's abuse controls (block list) and the learning
    loop (labels, triage train, forget, retention)."""
    from bot.learning.cli import register as register_learning

    register_learning(sub)
    try:
        from bot.console.cli import register
    except ImportError:
        return
    register(sub)


if __name__ == "__main__":
    sys.exit(main())
