"""`python -m bot.nlp build [PATH]`: save the spaCy pipeline (default build/spacy_en) for Rasa and triage."""

from __future__ import annotations

import argparse
import sys

from bot.nlp.pipeline import DEFAULT_PATH, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.nlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the blank English + lookup lemmatizer pipeline")
    build_cmd.add_argument("path", nargs="?", default=str(DEFAULT_PATH), help=f"target directory ({DEFAULT_PATH})")
    args = parser.parse_args(argv)
    path = build(args.path)
    print(f"spaCy pipeline saved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
