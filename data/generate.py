"""Deterministic generator for the committed eval datasets in ``data/``.

Writes ``json_extraction/{train,validation,test}.jsonl`` and ``qa/{train,validation,test}.jsonl``.
Every record is drawn from ``random.Random`` seeded per task; test and validation are drawn
first, so changing the train size never changes them, and prompts are deduplicated (exact and
normalized) across all splits. Standard library only.

    python data/generate.py [--out DIR] [--seed N]

Extra training data from the same distribution (more than the shipped 2400 a task), none of
it overlapping the shipped test and validation prompts (see ``extra_train``)::

    python data/generate.py --extra-train 200000 --seed 1 --out /tmp/train-data --jobs 16

This file is the command line; the generator is the ``generator`` package beside it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Run as a script, this folder is already first on sys.path; loaded by path (tests do, with
# importlib) it is not, and the package beside this file must still import.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generator.extra import EXTRA_CHUNK, extra_train
from generator.json_extraction.record import json_split
from generator.qa.record import qa_split
from generator.splits import DEFAULT_SEED, TASKS, build, generate

__all__ = ["EXTRA_CHUNK", "build", "extra_train", "generate", "json_split", "main", "qa_split"]


def parse_counts(text: str) -> dict[str, int]:
    """``N`` (each task) or ``json_extraction=N,qa=M``."""
    if text.isdigit():
        return {task: int(text) for task in TASKS}
    counts = {}
    for part in text.split(","):
        task, _, n = part.partition("=")
        if task.strip() not in TASKS or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected N or TASK=N,...; got {part!r}")
        counts[task.strip()] = int(n)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output directory (default: the data/ folder this script is in)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--extra-train",
        type=parse_counts,
        metavar="N|TASK=N,...",
        help="write only fresh training records (OUT/<task>/train.jsonl), kept apart from "
        "the evaluation splits in --exclude; use another --out than data/",
    )
    parser.add_argument(
        "--exclude",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="with --extra-train: the folder whose test and validation splits no record may "
        "overlap (default: the data/ folder this script is in)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="with --extra-train: processes to draw chunks in"
    )
    args = parser.parse_args(argv)
    if args.extra_train is not None:
        if args.out.resolve() == Path(__file__).resolve().parent:
            parser.error("--extra-train writes train.jsonl files: give another --out than data/")
        extra_train(args.out, args.extra_train, args.seed, args.exclude, max(1, args.jobs))
        return 0
    for path in generate(args.out, args.seed):
        lines = path.read_bytes().count(b"\n")
        print(f"{path}: {lines} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
