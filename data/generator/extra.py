"""Extra training data: fresh records from the same distribution, kept apart from the
shipped evaluation splits (``python data/generate.py --extra-train``).

Records are drawn in seeded chunks of ``EXTRA_CHUNK`` (so the output does not depend on the
number of processes), then thinned until no shipped test or validation prompt shares more
than ``OVERLAP`` of its rare word 8-grams with them, as the finetune module's contamination
check counts.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.draw import norm_prompt
from generator.splits import TASKS, dump_jsonl

EXTRA_CHUNK = 5000  # samples per seeded chunk: the output does not depend on --jobs
NGRAM = 8  # as pytest_llmeval.contamination: word 8-grams of the prompt the model sees
_WORD = re.compile(r"\w+")


def prompt_view(task: str, record: dict[str, Any]) -> str:
    """The user message the eval prompt shows for ``record`` (the task templates of
    ``pytest_llmeval/tasks.py``); only its words matter here."""
    if task == "json_extraction":
        return f"JSON Schema:\n{json.dumps(record['schema'])}\n\nText:\n{record['input']}"
    return f"Context:\n{record['context']}\n\nQuestion: {record['question']}"


def prompt_key(task: str, record: dict[str, Any]) -> str:
    """The key the split builders deduplicate prompts by."""
    if task == "json_extraction":
        return norm_prompt(record["input"])
    return norm_prompt(record["question"] + " || " + record["context"])


def word_grams(text: str, n: int = NGRAM) -> set[str]:
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _extra_chunk(
    job: tuple[str, int, int, int, frozenset[str], frozenset[str]],
) -> list[tuple[bytes, str, frozenset[str]]]:
    """One seeded chunk of ``task`` records, none with an excluded prompt key: each as its
    JSON line (id ``je-train-0010042`` for record 42 of chunk 1), its key, and the
    excluded-prompt n-grams its own prompt contains."""
    task, seed, index, n, keys, grams = job
    rng = random.Random(f"{seed}:{task}:extra:{index}")
    records = TASKS[task](rng, "train", n, set(keys))
    prefix = "je" if task == "json_extraction" else "qa"
    out = []
    for i, r in enumerate(records):
        r["id"] = f"{prefix}-train-{index * EXTRA_CHUNK + i:07d}"
        line = dump_jsonl([r])
        out.append((line, prompt_key(task, r), frozenset(word_grams(prompt_view(task, r)) & grams)))
    return out


def extra_train(
    out_dir: Path,
    counts: dict[str, int],
    seed: int,
    exclude_dir: Path,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write ``out_dir/<task>/train.jsonl``: up to ``counts[task]`` fresh records drawn with
    ``seed``, in chunks of ``EXTRA_CHUNK`` (one process each, ``jobs`` at a time).

    Kept apart from ``exclude_dir/<task>/{test,validation}.jsonl`` as the finetune module's
    contamination check (``pytest_llmeval/contamination.py``) measures it, split by split:

    - no record has the prompt of an excluded one (the builders' own normalized key);
    - the share of an excluded prompt's word 8-grams that also occur in the records stays at
      most ``OVERLAP`` (the check flags above 0.5), counting as that check does: n-grams in
      more than ``max(3, 0.2%)`` of all prompts are template boilerplate and left out. Where
      a prompt's share is higher, the records holding its rarest shared n-grams are dropped,
      until no prompt's is.

    Record ``i`` of chunk ``c`` has the id ``je-train-{c * EXTRA_CHUNK + i:07d}`` (or ``qa-``).
    """
    import multiprocessing

    written = []
    for task, n in counts.items():
        splits: dict[str, list[set[str]]] = {}
        keys: set[str] = set()
        for split in ("test", "validation"):
            path = exclude_dir / task / f"{split}.jsonl"
            if path.is_file():
                excluded = [json.loads(line) for line in path.read_text().splitlines() if line]
                keys.update(prompt_key(task, r) for r in excluded)
                splits[split] = [word_grams(prompt_view(task, r)) for r in excluded]
        grams = frozenset().union(*(g for prompts in splits.values() for g in prompts))
        sizes = [min(EXTRA_CHUNK, n - i) for i in range(0, n, EXTRA_CHUNK)]
        chunks = [(task, seed, i, size, frozenset(keys), grams) for i, size in enumerate(sizes)]
        if jobs > 1 and len(chunks) > 1:
            with multiprocessing.get_context("fork").Pool(min(jobs, len(chunks))) as pool:
                parts = pool.map(_extra_chunk, chunks, chunksize=1)
        else:
            parts = [_extra_chunk(c) for c in chunks]
        records: list[tuple[bytes, frozenset[str]]] = []
        seen: set[str] = set()
        for part in parts:  # a prompt drawn in two chunks is kept once
            for line, key, shared in part:
                if key not in seen:
                    seen.add(key)
                    records.append((line, shared))
        repeated = n - len(records)
        records, dropped = _separate(records, splits)
        folder = out_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "train.jsonl"
        path.write_bytes(b"".join(line for line, _ in records))
        written.append(path)
        log(
            f"{path}: {len(records)} records (seed {seed}; {n} drawn, {repeated} repeated a prompt "
            f"of another chunk, {dropped} dropped for 8-gram overlap with "
            f"{' and '.join(f'{len(v)} {k}' for k, v in splits.items())} prompts)"
        )
    return written


OVERLAP = 0.3  # the most of an excluded prompt's non-boilerplate 8-grams the records may hold


def _separate(
    records: list[tuple[bytes, frozenset[str]]], splits: dict[str, list[set[str]]]
) -> tuple[list[tuple[bytes, frozenset[str]]], int]:
    """Drop records until every excluded prompt's overlap share is at most ``OVERLAP``."""
    df: dict[str, int] = {}
    for _, shared in records:
        for g in shared:
            df[g] = df.get(g, 0) + 1
    dropped = 0
    while True:
        banned: set[str] = set()
        for prompts in splits.values():
            in_split: dict[str, int] = {}
            for grams in prompts:
                for g in grams:
                    in_split[g] = in_split.get(g, 0) + 1
            limit = max(3, 0.002 * (len(records) + len(prompts)))
            for grams in prompts:
                rare = [g for g in grams if df.get(g, 0) + in_split[g] <= limit]
                # rarest first: banning those drops the fewest records
                held = sorted((g for g in rare if df.get(g, 0)), key=lambda g: (df[g], g))
                excess = len(held) - int(OVERLAP * len(rare))
                banned.update(held[: max(0, excess)])
        if not banned:
            return records, dropped
        kept = []
        for record, shared in records:
            if shared & banned:
                dropped += 1
                for g in shared:
                    df[g] -= 1
            else:
                kept.append((record, shared))
        records = kept
