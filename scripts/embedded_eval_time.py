"""How long `pytest evals/` takes on this CPU for a bundled-model shape, before training one.

For each shape (``HIDDEN x LAYERS [x INTERMEDIATE [x HEADS [x KV_HEADS]]]``) this builds a
randomly initialized Llama with a tokenizer trained on the shipped train splits, saves it
in float16 (the size it would ship at), and times:

- ``realistic``: the plugin's work with answers of the real length. A random model talks
  until ``max_tokens`` while a trained one stops at its end token, so each batch generates
  exactly as many tokens as the longest expected answer in it (plus the end token):
  prompts rendered by the suites' own templates, sorted by length into batches of 32 per
  task (what the engine does), greedy ``generate`` as the ``hf/`` provider calls it.
- ``pytest`` (``--pytest``): the real command, ``pytest evals/ --model hf/DIR -p
  no:cacheprovider --llmeval-cache off``: the upper bound, every answer ``max_tokens``
  long (400 for JSON extraction, 64 for QA).

    python scripts/embedded_eval_time.py --vocab 4096 --split-digits --tie 384x8x1024x6
    python scripts/embedded_eval_time.py 256x8 384x8x1024x6 --pytest --keep /tmp/shapes

Threads: torch's default (one per core), as `pytest evals/` runs; set OMP_NUM_THREADS to
compare. Other work on the machine slows every number down: note the load average printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pytest_llmeval.finetune import scratch  # noqa: E402
from pytest_llmeval.finetune.config import load_config  # noqa: E402
from pytest_llmeval.finetune.data import load_tasks, rows  # noqa: E402

BATCH = 32  # the plugin's default --llmeval-batch-size


def parse_shape(text: str) -> dict[str, int]:
    parts = [int(p) for p in text.lower().split("x")]
    if not 2 <= len(parts) <= 5:
        raise argparse.ArgumentTypeError(f"{text}: HIDDEN x LAYERS [x INTER [x HEADS [x KV]]]")
    hidden, layers = parts[:2]
    inter = parts[2] if len(parts) > 2 else 4 * hidden
    heads = parts[3] if len(parts) > 3 else max(1, hidden // 64)
    kv = parts[4] if len(parts) > 4 else heads
    return {
        "hidden": hidden,
        "layers": layers,
        "intermediate": inter,
        "heads": heads,
        "kv_heads": kv,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shapes", nargs="+", type=parse_shape)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--split-digits", action="store_true")
    p.add_argument("--tie", action="store_true", help="tie input and output embeddings")
    p.add_argument("--pytest", action="store_true", help="also time the real pytest evals/ run")
    p.add_argument("--keep", type=Path, help="keep the models in this folder")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    os.chdir(REPO)
    cfg = load_config(REPO / "finetune" / "embedded.yaml")
    tasks = load_tasks(cfg)
    texts = [m["content"] for r in rows(tasks) for m in (*r["prompt"], *r["completion"])]
    tok = scratch.build_tokenizer(texts, args.vocab, args.split_digits)
    work = args.keep or Path(tempfile.mkdtemp(prefix="shapes-"))
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")
    print(f"tokenizer: {len(tok)} tokens, split digits {args.split_digits}")
    jobs = []
    for task in tasks:
        evals = rows([dataclasses.replace(task, train=task.eval)])
        prompts = [
            tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False)
            for r in evals
        ]
        answers = [
            len(tok(r["completion"][0]["content"], add_special_tokens=False)["input_ids"]) + 1
            for r in evals
        ]
        lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            jobs.append(([prompts[j] for j in idx], max(answers[j] for j in idx)))
        print(
            f"{task.name}: {len(prompts)} prompts, mean {sum(lengths) / len(lengths):.0f} "
            f"tokens, answers mean {sum(answers) / len(answers):.1f} max {max(answers)}"
        )
    for shape in args.shapes:
        settings = scratch.ScratchSettings(
            vocab_size=args.vocab,
            max_positions=1024,
            split_digits=args.split_digits,
            tie_embeddings=args.tie,
            **shape,
        )
        name = "x".join(str(shape[k]) for k in ("hidden", "layers", "intermediate", "heads"))
        name += f"x{shape['kv_heads']}"
        directory = work / name
        torch.manual_seed(0)
        model = scratch.new_model(tok, settings)
        n_params = sum(p.numel() for p in model.parameters())
        model.to(torch.float16)
        directory.mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(directory)
        model.save_pretrained(directory)
        size = sum(f.stat().st_size for f in directory.iterdir())
        seconds, steps = realistic(directory, tok, jobs, torch)
        line = (
            f"{name}: {n_params / 1e6:.1f}M params, {size / 2**20:.1f} MiB fp16; realistic "
            f"generate {seconds:.1f} s ({steps} decode steps in {len(jobs)} batches)"
        )
        if args.pytest:
            line += f"; pytest evals/ {timed_pytest(directory):.1f} s (every answer max_tokens)"
        print(line, flush=True)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


def realistic(
    directory: Path, tok: Any, jobs: list[tuple[list[str], int]], torch: Any
) -> tuple[float, int]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    start = time.perf_counter()
    steps = 0
    for prompts, n_new in jobs:
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            model.generate(
                **enc,
                max_new_tokens=n_new,
                min_new_tokens=n_new,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        steps += n_new
    return time.perf_counter() - start, steps


def timed_pytest(directory: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "pytest", "evals/", "--model", f"hf/{directory}", "-q",
            "-p", "no:cacheprovider", "--llmeval-cache", "off",
            "--llmeval-db", str(directory / "runs.db"),
        ],
        cwd=REPO,
        capture_output=True,
        check=False,
    )  # fmt: skip
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
