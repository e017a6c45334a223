"""``python -m bot experiments check|report [NAME]``: validate the experiments file, print each report."""

from __future__ import annotations

import argparse
import asyncio
import warnings

from bot.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    warnings.simplefilter("ignore", FutureWarning)
    from bot.experiments import config

    try:
        experiments = config.load(settings.experiments_file)
    except config.ExperimentError as exc:
        print(f"{settings.experiments_file}: {exc}")
        return 2
    if args.name:
        experiments = [e for e in experiments if e.name == args.name]
    if args.action == "check":
        for e in experiments:
            print(f"{e.name}: ok ({', '.join(v.name for v in e.variants)}; varies {', '.join(e.responses)})")
        if not experiments:
            print("No experiments declared.")
        return 0
    return asyncio.run(_report(settings, experiments))


async def _report(settings: Settings, experiments: list) -> int:
    from bot.experiments.report import analysis_for, format_report
    from bot.store.db import Database, migrate
    from bot.store.models import utcnow

    migrate(settings.database_url)
    db = Database(settings.database_url, pool_size=1)
    try:
        for exp in experiments:
            print(format_report(exp, await analysis_for(db, exp, utcnow())))
            print()
        if not experiments:
            print("No experiments declared.")
    finally:
        await db.close()
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("report", "check"), help="report: each experiment's numbers; check: validate")
    p.add_argument("name", nargs="?", help="only this experiment")
