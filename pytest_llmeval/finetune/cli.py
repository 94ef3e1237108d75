"""``python -m pytest_llmeval.finetune --config FILE [--set KEY=VALUE ...] [--dry-run] [--force]
[--resume]``.

Steps: read the config (one-line errors), load each task's training split and the split its
suite evaluates, check them for contamination (exact and n-gram overlap of the prompts;
refuse to train on contaminated data unless ``--force``), then train (``train.py``) or,
with ``--dry-run``, report token counts and a memory estimate without loading weights.
``--resume`` continues from the newest checkpoint in ``output_dir`` (``checkpoint.py``).

Multi-GPU: ``accelerate launch -m pytest_llmeval.finetune --config FILE``.

Exit status: 0 done; 1 refused (contamination) or training failed; 2 bad config or data,
or no checkpoint to resume (or a crashed run's checkpoints in the way of a fresh one).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.dataset import DatasetError, select
from pytest_llmeval.finetune import checkpoint, estimate, trainer_args
from pytest_llmeval.finetune.config import ConfigError, FinetuneConfig, load_config, optimizer_for
from pytest_llmeval.finetune.data import (
    TaskData,
    check_contamination,
    data_files,
    load_tasks,
    rows,
)
from pytest_llmeval.finetune.train import TrainError, is_main_process, run

DRY_RUN_ROWS = 256  # rows tokenized per task by --dry-run: a seeded sample


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pytest_llmeval.finetune",
        description="LoRA/QLoRA finetuning on an eval suite's training split (trl SFTTrainer).",
        epilog="Example: python -m pytest_llmeval.finetune --config "
        "finetune/llama-3.2-3b-4090.yaml --set lora.r=8 --dry-run",
    )
    p.add_argument("--config", required=True, type=Path, metavar="FILE", help="YAML config")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting by its dotted path (lora.r=8, tasks.0.limit=100); repeatable",
    )
    p.add_argument(
        "--tokenizer", metavar="PATH", help="tokenizer to use (same as --set tokenizer=PATH)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, count tokens, estimate memory; load no weights, train nothing",
    )
    p.add_argument(
        "--force", action="store_true", help="train even if training and eval data overlap"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in output_dir (written every "
        "training.save_steps steps)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def echo(line: str) -> None:
        if is_main_process():
            print(line, flush=True)

    overrides = list(args.overrides)
    if args.tokenizer:
        overrides.append(f"tokenizer={args.tokenizer}")
    try:
        cfg = load_config(args.config, overrides)
        resume, stale = checkpoint.prepare(cfg, args.resume)
        tasks = load_tasks(cfg)
    except (ConfigError, DatasetError, checkpoint.CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    echo(f"config {cfg.source}: base {cfg.base_model}, output {_rel(cfg.output_dir)}")
    for name, info in data_files(tasks).items():
        echo(
            f"task {name}: train {info['train']} ({info['rows']} rows, sha256 "
            f"{info['train_sha256'][:12]}), evaluated split {info['eval']}"
        )
    c = cfg.contamination
    reports = check_contamination(tasks, n=c.n, threshold=c.threshold)
    for name, report in reports.items():
        echo(f"contamination {name}: {report.summary()}")
    dirty = [name for name, r in reports.items() if not r.clean]
    refuse = bool(dirty) and not args.force
    if dirty and args.force:
        echo(f"warning: training on contaminated data ({', '.join(dirty)}) because of --force")

    if args.dry_run:
        dry_run(cfg, tasks, echo, resume)
        if refuse:
            _refusal(dirty)
            return 1
        echo("dry run: nothing trained")
        return 0
    if refuse:
        _refusal(dirty)
        return 1

    if stale and is_main_process():  # a finished run's: --resume must never pick one up
        checkpoint.remove(stale)
        echo(f"removed {len(stale)} checkpoint(s) of the finished run in {_rel(cfg.output_dir)}")
    try:
        manifest = run(cfg, tasks, reports, forced=args.force, echo=echo, resume=resume)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    resumed = manifest["resumed_from"]
    echo(
        f"trained {manifest['steps']} steps"
        + (f" (resumed at step {resumed['step']})" if resumed else "")
        + f" in {manifest['train_time_s']:.1f} s; loss "
        f"{_fmt(manifest['first_loss'])} -> {_fmt(manifest['final_loss'])}; "
        f"{'model' if cfg.lora is None else 'adapter'} and manifest.json in "
        f"{_rel(cfg.output_dir)}"
    )
    if manifest["stopped"] == "signal" and manifest["checkpoints"]:
        echo(
            f"stopped by a signal at step {manifest['steps']}: --resume continues from "
            f"{_rel(cfg.output_dir)}/{manifest['checkpoints'][-1]}"
        )
    echo(f"{manifest['eval_hint']}:" if manifest["eval_hint"] else "evaluate it with:")
    for line in manifest["eval_commands"]:
        echo(f"  {line}")
    return 0


def _refusal(dirty: Sequence[str]) -> None:
    print(
        f"error: refusing to train: training prompts overlap the evaluated split of "
        f"{', '.join(dirty)} (see the contamination lines above); fix the data, or pass "
        "--force to train anyway (the manifest records it)",
        file=sys.stderr,
    )


def dry_run(
    cfg: FinetuneConfig,
    tasks: Sequence[TaskData],
    echo: Any = print,
    resume: checkpoint.Checkpoint | None = None,
) -> None:
    """Token counts of a sample of formatted rows and a memory estimate. Loads no weights
    and downloads nothing: the tokenizer and config.json only if they are on disk (a local
    model, the hub cache, ``--tokenizer``), else a rough count and the table of known
    architectures."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    tokenizer, tok_note = _tokenizer(cfg)
    arch, arch_note = _arch(cfg)
    cuda = _cuda()
    optim, opt_note = optimizer_for(cfg.training.optimizer, cuda)
    gpu_optim, _ = optimizer_for(cfg.training.optimizer, True)
    q, lo, t = cfg.quantization, cfg.lora, cfg.training
    quant = (
        f"{q.mode} {q.quant_type}{' double quant' if q.double_quant else ''}, "
        f"compute {q.compute_dtype}"
        if q.mode == "4bit"
        else q.mode
    )
    echo(f"base model: {cfg.base_model} ({arch_note})")
    echo(f"tokenizer: {tok_note}")
    if lo is None:
        echo(f"full finetune (every weight trained); quantization {quant}")
    else:
        targets = (
            lo.target_modules if isinstance(lo.target_modules, str) else ",".join(lo.target_modules)
        )
        echo(
            f"LoRA r={lo.r} alpha={lo.alpha:g} dropout={lo.dropout:g} on {targets}; "
            f"quantization {quant}"
        )
    chat = tokenizer is None or bool(getattr(tokenizer, "chat_template", None))
    total_rows = sum(len(task.train) for task in tasks)
    n_steps = estimate.steps(total_rows, cfg)
    batch = (
        f"batches of up to {t.batch_tokens} tokens ({t.batch_size} rows at most)"
        if t.batch_tokens
        else f"batch {t.batch_size}"
    )
    length = f"{f'max_steps {t.max_steps}' if t.max_steps else f'{t.epochs:g} epoch(s)'} = "
    length += f"{n_steps} steps on one device"
    if t.max_time_s:  # the clock ends the run, and the schedule follows it
        length = f"a time budget of {t.max_time_s:g} s (as many steps as fit"
        length += f", at most {t.max_steps})" if t.max_steps else ")"
    echo(
        f"training ({'transformers Trainer' if t.trainer == 'plain' else 'trl SFTTrainer'}): "
        f"optimizer {optim}{f' ({opt_note})' if opt_note else ''}, lr "
        f"{t.learning_rate:g} {t.lr_scheduler}, warmup {t.warmup:g}, {batch} x "
        f"grad accum {t.grad_accum}, max_length {t.max_length}, {length}, gradient "
        f"checkpointing {'on' if t.gradient_checkpointing else 'off'}, loss on "
        f"{'completion only' if t.completion_only_loss else 'all tokens'}"
    )
    for line in _durability(cfg, resume, None if t.max_time_s else n_steps):
        echo(line)
    for task in tasks:
        sample = select(task.train, DRY_RUN_ROWS, t.seed)
        formatted = rows([_subset(task, sample)], chat=chat)
        stats = estimate.count_tokens(tokenizer, formatted, t.max_length)
        how = "" if stats.exact else ", rough: ~4 characters per token"
        echo(f"tokens {task.name} ({stats.rows} of {len(task.train)} rows{how}): {stats.line()}")
    if arch is None:
        echo("memory estimate: unavailable (unknown architecture)")
        return
    mem = estimate.memory(cfg, arch, gpu_optim)
    echo(f"memory estimate (rough peak, all sequences at max_length): {mem.total / 2**30:.1f} GiB")
    for line in mem.lines():
        echo(line)


def _durability(
    cfg: FinetuneConfig, resume: checkpoint.Checkpoint | None, n_steps: int | None
) -> list[str]:
    """Checkpoints, resuming, reporting and the extra trainer arguments, as a run would use
    them (``n_steps``: the run's length, None when the clock decides)."""
    t = cfg.training
    out = _rel(cfg.output_dir)
    if not t.save_steps:
        line = "checkpoints: none (training.save_steps: null); --resume will have nothing"
    elif n_steps is not None and t.save_steps > n_steps:
        line = (
            f"checkpoints: none, every {t.save_steps} steps is more than the {n_steps} of "
            "this run (lower training.save_steps)"
        )
    else:
        line = (
            f"checkpoints: every {t.save_steps} steps into {out}/checkpoint-N, the last "
            f"{t.save_total_limit or 'all'} kept"
        )
    lines = [line]
    if resume is not None:
        lines.append(f"resume: from {_rel(resume.path)} (step {resume.step})")
    reporters = trainer_args.reporters(t.report_to)
    lines.append(f"report to: {', '.join(reporters) or 'none (the terminal only)'}")
    missing = trainer_args.missing_reporters(t.report_to)
    if missing:
        lines.append(f"warning: {missing}")
    if t.args:
        lines.append("trainer arguments: " + ", ".join(f"{k}={v!r}" for k, v in t.args.items()))
    return lines


def _tokenizer(cfg: FinetuneConfig) -> tuple[Any, str]:
    name = cfg.tokenizer or cfg.base_model
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError, ImportError):
        return None, f"{name} not available locally; counting ~4 characters per token"
    return tok, f"{name}{' (override)' if cfg.tokenizer else ''}"


def _arch(cfg: FinetuneConfig) -> tuple[estimate.Arch | None, str]:
    if cfg.scratch is not None:
        sc = cfg.scratch
        arch = estimate.Arch(
            hidden=sc.hidden,
            layers=sc.layers,
            intermediate=sc.intermediate or 4 * sc.hidden,
            heads=sc.heads,
            kv_heads=sc.kv_heads,
            vocab=sc.vocab_size,
            tied=sc.tie_embeddings,
        )
        return arch, "built from scratch with the scratch: settings"
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(cfg.base_model, local_files_only=True)
        return estimate.arch_from_config(config), "architecture from its config.json"
    except (OSError, ValueError, ImportError, AttributeError):
        pass
    known = estimate.known_arch(cfg.base_model)
    if known is None:
        return None, "config not available locally, architecture not in the built-in table"
    key, arch = known
    return arch, f"config not available locally: architecture of {key} from the built-in table"


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _subset(task: TaskData, samples: Sequence[Any]) -> TaskData:
    from dataclasses import replace

    return replace(task, train=tuple(samples))


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
