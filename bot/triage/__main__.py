"""`python -m bot.triage`: score JSON lines from stdin (see bot.triage.batch); `--check` validates the lexicons
and the referral catalog that staff edit."""

from __future__ import annotations

import argparse
import sys

from bot.triage.analyzer import get_analyzer
from bot.triage.batch import score_lines
from bot.triage.lexicon import LexiconError
from bot.triage.referrals import CatalogError, load_catalog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.triage",
        description='Reads JSON lines {"id", "text", "answers"?} on stdin; writes {"id", "level", "score", '
                    '"reasons", "needs"} per line.')
    parser.add_argument("--check", action="store_true", help="validate data/lexicons and data/referrals.yml")
    args = parser.parse_args(argv)
    if args.check:
        try:
            analyzer = get_analyzer()
            catalog = load_catalog()
        except (LexiconError, CatalogError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"ok: {len(analyzer.lexicon.groups)} lexicon groups, {len(catalog)} referral services")
        return 0
    _use_live_model()
    stdin = sys.stdin
    stdin.reconfigure(errors="replace")  # type: ignore[attr-defined]
    out = sys.stdout
    for line in score_lines(stdin):
        out.write(line + "\n")
    out.flush()
    return 0


def _use_live_model() -> None:
    """Score with the registry's live model (DATABASE_URL), as the gateway and the actions do; the lexicon when
    there is none (one line on stderr says which)."""
    import logging

    from bot.learning.registry import load_live_model
    from bot.settings import database_url_from_env

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    load_live_model(database_url_from_env())


if __name__ == "__main__":
    sys.exit(main())
