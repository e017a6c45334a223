"""The learning loop's commands: `labels import|export|stats`, `triage train [--promote]|models`, `forget`,
`retention` (each opens the store, does one thing, and says what it did)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.settings import Settings
from bot.store.db import Database, migrate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("labels", help="labelled data: import files, export de-identified labels, counts")
    lsub = p.add_subparsers(dest="labels_command", required=True)
    imp = lsub.add_parser(
        "import", help="import labelled texts",
        description="Import labelled texts. CSV needs a header row with the columns text,label (optional: "
        "language); JSON lines need objects with \"text\" and \"label\" (optional \"language\"). A label is 0, 1 "
        "or a level name (none, low, moderate, high, imminent; moderate and above count as 1).")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.set_defaults(handler=import_command)
    exp = lsub.add_parser("export", help="write every label as de-identified JSON lines (ids, no texts)")
    exp.add_argument("--out", type=Path, help="file to write (default: standard output)")
    exp.set_defaults(handler=export_command)
    st = lsub.add_parser("stats", help="labels per source and rater agreement")
    st.set_defaults(handler=stats_command)

    t = sub.add_parser("triage", help="the learned triage model: train, evaluate, promote, list")
    tsub = t.add_subparsers(dest="triage_command", required=True)
    tr = tsub.add_parser(
        "train", help="train a candidate from the labelled store and compare it with the live scorer",
        description="Train a candidate on the labelled store, print its figures beside the live scorer's on "
        "held-back data, save the ROC and precision-recall plots under var/triage/, and store it in the registry.")
    tr.add_argument("--promote", action="store_true", help="make it live if (and only if) it beats the live scorer")
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(handler=train_command)
    ls = tsub.add_parser("models", help="list the models in the registry")
    ls.set_defaults(handler=models_command)

    f = sub.add_parser("forget", help="delete one texter's texts, labels and free text on request")
    f.add_argument("phone", help="the number, as +15551234567")
    f.set_defaults(handler=forget_command)
    r = sub.add_parser("retention", help="apply RETENTION_DAYS now: old conversations lose texts and labels")
    r.set_defaults(handler=retention_command)


def _run(settings: Settings, work):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        db = Database(settings.database_url, pool_size=2)
        try:
            return await work(db)
        finally:
            await db.close()

    migrate(settings.database_url)
    return asyncio.run(main())


def import_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.learning.imports import ImportFileError, read_rows
    from bot.learning.labels import import_rows

    status = 0
    for path in args.files:
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            status = 1
            continue
        try:
            rows = list(read_rows(path))
        except ImportFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        result = _run(settings, lambda db, rows=rows, path=path: import_rows(db, rows, path.name))
        print(result.summary(path.name))
    return status


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.learning.labels import export_lines

    lines = _run(settings, export_lines)
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        for line in lines:
            out.write(line + "\n")
    finally:
        if args.out:
            out.close()
            print(f"Wrote {len(lines)} labels to {args.out}", file=sys.stderr)
    return 0


def stats_command(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.learning.labels import counts
    from bot.learning.quality import quality_report

    async def work(db: Database):  # type: ignore[no-untyped-def]
        return await counts(db), await quality_report(db)

    by_source, report = _run(settings, work)
    print("Labels: " + (", ".join(f"{k} {v}" for k, v in sorted(by_source.items())) or "none"))
    for a in [report.overall, *report.counselors]:
        k = "n/a" if a.kappa is None else f"{a.kappa:.2f}"
        pct = "n/a" if a.percent is None else f"{a.percent:.0f}%"
        print(f"{a.name:20} reviewed {a.reviewed:4}  kappa {k:>5}  agreement {pct:>4}  weight {a.weight:.2f}")
    print(f"Disagreements to settle: {len(report.disagreements)}; conversations not yet reviewed: "
          f"{report.to_review}")
    return 0


def train_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.learning.train import train

    migrate(settings.database_url)
    result = train(settings, promote=args.promote, seed=args.seed)
    for line in result.lines:
        print(line)
    if result.refused:
        print(result.refused, file=sys.stderr)
    return result.exit_code


def models_command(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.learning.registry import Registry

    migrate(settings.database_url)
    registry = Registry(settings.database_url)
    try:
        models = registry.models()
    finally:
        registry.close()
    if not models:
        print("No models: every process scores with the lexicon.")
    for m in models:
        data = m.metadata.get("data") or {}
        print(f"{m.status:9} {m.version}  created {m.created_at:%Y-%m-%d %H:%M}  "
              f"{data.get('examples', '?')} examples  {m.metadata.get('why', '')}")
    return 0


def forget_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.learning.retention import ForgetError, forget_texter

    try:
        removed = _run(settings, lambda db: forget_texter(db, settings, args.phone))
    except ForgetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if removed is None:
        print("No data for that number.")
        return 0
    print(f"Deleted: {removed.messages} texts, {removed.labels} labels, free text of {removed.conversations} "
          f"conversations, {removed.tracker_events} tracker events. The number itself is gone.")
    return 0


def retention_command(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.learning.retention import apply_retention

    if settings.retention_days <= 0:
        print("RETENTION_DAYS is 0: everything is kept.")
        return 0
    removed = _run(settings, lambda db: apply_retention(db, settings))
    print(f"Retention ({settings.retention_days} days): {removed.conversations} conversations lost "
          f"{removed.messages} texts, {removed.labels} labels and {removed.tracker_events} tracker events.")
    return 0
