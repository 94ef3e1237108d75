"""The shipped splits of both tasks, drawn in order and written as JSON Lines.

Each task has its own ``random.Random`` seeded with ``"<seed>:<task>"``; test and validation
are drawn before train, so the train size never changes them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from generator.draw import Rng
from generator.json_extraction.record import json_split
from generator.qa.record import qa_split

DEFAULT_SEED = 20261127
# Generation order: test and validation before train, so their content does not depend on
# the train size. Files are named after the split.
SPLITS: tuple[tuple[str, int], ...] = (("test", 200), ("validation", 50), ("train", 2400))


SplitBuilder = Callable[[Rng, str, int, set[str]], list[dict[str, Any]]]
TASKS: dict[str, SplitBuilder] = {"json_extraction": json_split, "qa": qa_split}


def build(seed: int = DEFAULT_SEED) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """All records, by task then split; the same seed always gives the same records."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task, builder in TASKS.items():
        rng = random.Random(f"{seed}:{task}")
        seen: set[str] = set()
        out[task] = {split: builder(rng, split, n, seen) for split, n in SPLITS}
    return out


def dump_jsonl(records: Sequence[dict[str, Any]]) -> bytes:
    lines = [json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n" for r in records]
    return "".join(lines).encode("ascii")


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every split file under ``out_dir``; return the paths written."""
    written = []
    for task, splits in build(seed).items():
        folder = out_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, records in splits.items():
            path = folder / f"{split}.jsonl"
            path.write_bytes(dump_jsonl(records))
            written.append(path)
    return written
