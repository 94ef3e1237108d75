"""The ``llmeval`` command: work with stored runs outside pytest (never imports pytest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_llmeval.storage import Store, StoreError

DEFAULT_DB = ".llmeval/llmeval.db"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmeval", description=__doc__)
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--model", help="only runs whose model spec contains this")
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("-n", "--limit", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        store = Store(Path(args.db), readonly=True)
    except StoreError as exc:
        print(f"llmeval: {exc}", file=sys.stderr)
        return 2
    if args.command == "runs":
        return cmd_runs(store, args)
    return 2


def cmd_runs(store: Store, args: argparse.Namespace) -> int:
    rows = store.list_runs(args.limit, model=args.model, status=args.status)
    if not rows:
        print("no runs")
        return 0
    print(f"{'run':24}  {'status':11}  {'n':>6}  {'model':32}  started")
    for r in rows:
        status = r["status"] + ("*" if r["partial"] else "")
        print(
            f"{r['id']:24}  {status:11}  {r['n_results']:>6}  {str(r['model'])[:32]:32}  "
            f"{r['started_at'][:19]}"
        )
    if any(r["partial"] for r in rows):
        print("* partial: not every sample of every suite ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
