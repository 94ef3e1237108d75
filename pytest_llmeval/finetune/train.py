"""Training: LoRA / QLoRA (or full) with trl's ``SFTTrainer``, or a full finetune with
transformers' ``Trainer`` (``training.trainer: plain``, ``plain.py``); writes the adapter or
the model, the tokenizer and ``manifest.json``.

- The base is loaded fresh for training, 4-bit NF4 (double quant) or 8-bit through
  ``BitsAndBytesConfig`` when configured, then ``prepare_model_for_kbit_training``. Nothing
  is generated with it first: on CPUs with AVX512-BF16, running a 4-bit model in eval mode
  repacks its weights for an inference-only kernel, and training that instance afterwards
  silently learns almost nothing. Evaluate the adapter in a new process (the printed
  ``pytest`` command).
- Loss is on the completion only unless ``training.completion_only_loss: false``.
- Multi-GPU: ``accelerate launch -m pytest_llmeval.finetune --config FILE`` runs one process
  per GPU (DDP); a quantized base is placed whole on each process's GPU, only the main
  process prints and writes files. ``batch_size`` is per device.
- ``LLMEVAL_CUDA_MEMORY_GIB=22`` (environment): before the model is loaded, cap this
  process's CUDA memory at 22 GiB with ``torch.cuda.set_per_process_memory_fraction``, so a
  run on a larger GPU fails with an out-of-memory error where a card of that size would
  (e.g. 22 on an H100 to emulate a 24 GB RTX 4090). The cap covers PyTorch's caching
  allocator, not the CUDA context or bitsandbytes' paged (managed) optimizer state. With
  CUDA, the peak ``max_memory_allocated``/``max_memory_reserved`` are printed and written
  to the manifest as ``cuda_memory``. No-op without CUDA.
- ``training.max_time_s``: a wall-clock budget for the training loop (``budget.py``): the
  schedule follows the clock and training stops when it is spent. ``LLMEVAL_TRAIN_END_BY``
  (environment, Unix time) cuts the budget so that training ends by then, whatever the
  loading took; SIGTERM stops training after the step in flight. Either way the model is
  saved and the manifest says why training stopped.
- Checkpoints every ``training.save_steps`` steps, and ``--resume`` from the newest
  (``checkpoint.py``): the manifest says which checkpoint and step a run resumed from.
- Transformers versions: ``TrainingArguments`` fields renamed between the versions in use
  (``gradient_checkpointing`` in 5.17, ``activation_checkpointing`` in 5.24) are passed
  under the name the installed version has (``trainer_args.arguments``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_llmeval import contamination
from pytest_llmeval.finetune import budget, checkpoint, sft, trainer_args
from pytest_llmeval.finetune.commands import eval_commands
from pytest_llmeval.finetune.config import FinetuneConfig
from pytest_llmeval.finetune.data import TaskData, data_files, rows
from pytest_llmeval.finetune.estimate import count

Echo = Callable[[str], None]
VERSIONED = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "datasets",
    "accelerate",
    "bitsandbytes",
    "pytest-llmeval",
)


class TrainError(RuntimeError):
    """Training cannot start (the model or tokenizer cannot be loaded); one line."""


def is_main_process() -> bool:
    """True outside ``accelerate launch``/torchrun, and on rank 0 under them."""
    return int(os.environ.get("RANK", "0")) == 0


def run(
    cfg: FinetuneConfig,
    tasks: Sequence[TaskData],
    reports: Mapping[str, contamination.Report],
    forced: bool = False,
    echo: Echo = print,
    rootdir: Path | None = None,
    resume: checkpoint.Checkpoint | None = None,
) -> dict[str, Any]:
    """Train, save adapter + tokenizer + manifest into ``cfg.output_dir``; returns the manifest.
    With ``resume``, training goes on from that checkpoint (``checkpoint.prepare``).

    A full finetune's weights are saved before anything else that could fail (the manifest,
    the clean-up), and also when training itself fails or is stopped: then as the weights
    of the last step done, and the error is raised after. SIGTERM (``timeout``) ends training
    after the step in flight, as a spent time budget does."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # before anything imports it
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    # raised inside transformers when peft/trl use the old checkpointing names: not ours to fix
    for old in ("is_gradient_checkpointing", "gradient_checkpointing_enable"):
        warnings.filterwarnings("ignore", f"`{old}` is deprecated", FutureWarning)
    rootdir = rootdir or Path.cwd()
    t, q = cfg.training, cfg.quantization
    missing = trainer_args.missing_reporters(t.report_to)
    if missing:  # before minutes of loading, not at the Trainer's first log
        raise TrainError(missing)
    cuda = torch.cuda.is_available()
    memory_cap = cap_cuda_memory(torch)  # before anything is allocated on the GPU
    if memory_cap:
        echo(
            f"{MEMORY_CAP_ENV}: CUDA memory capped at {memory_cap['cap_gib']:g} GiB "
            f"({memory_cap['fraction']:.3f} of {memory_cap['device_total'] / 2**30:.1f} GiB)"
        )
    plain_run = t.trainer == "plain"
    # plain: float32 weights under autocast; the optimizer updates full-precision weights
    dtype = torch.float32 if plain_run else compute_dtype(torch, q.compute_dtype, cuda)

    base_model = cfg.base_model
    formatted = rows(tasks, chat=True) if plain_run or cfg.scratch is not None else None
    if cfg.scratch is not None:  # a tokenizer trained on this data and a random model
        from pytest_llmeval.finetune import scratch

        assert formatted is not None
        started = time.perf_counter()
        texts = [m["content"] for r in formatted for m in (*r["prompt"], *r["completion"])]
        built = cfg.output_dir / "scratch-base"
        if resume is not None and (built / "config.json").is_file():
            base_model = str(built)  # the crashed run's tokenizer; its checkpoint has the weights
            echo(f"resuming: the tokenizer and model shape built before, in {built}")
        else:
            base_model = str(scratch.build(built, texts, cfg.scratch))
            sc = cfg.scratch
            echo(
                f"built a {sc.layers}-layer, {sc.hidden}-wide Llama and a {sc.vocab_size}-token "
                f"BPE tokenizer from {min(len(texts), sc.tokenizer_texts or len(texts))} of "
                f"{len(texts)} texts in {time.perf_counter() - started:.1f} s"
            )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.tokenizer or base_model)
    except OSError as exc:
        raise TrainError(f"cannot load the tokenizer: {exc}".splitlines()[0]) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    clock = budget.Clock(t.max_time_s)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dataset: Any = None
    try:
        if plain_run:
            from pytest_llmeval.finetune import plain

            if not getattr(tokenizer, "chat_template", None):
                raise TrainError("trainer: plain needs a tokenizer with a chat template")
            model = _load(transformers, base_model, cfg, {"dtype": dtype})
            assert formatted is not None
            trainer, dataset = plain.build(
                cfg,
                formatted,
                model,
                tokenizer,
                clock,
                echo,
                partial(trainer_args.arguments, transformers.TrainingArguments, cfg),
            )
            n_rows = len(dataset.data)
        else:
            trainer, model, n_rows = sft.build(
                cfg, tasks, base_model, tokenizer, dtype, clock, world, echo
            )
    except sft.LoadError as exc:
        raise TrainError(f"cannot load {cfg.base_model}: {exc}") from None
    except trainer_args.ArgumentsError as exc:  # training.args, most likely
        raise TrainError(f"{cfg.source}: {exc}") from None
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.add_callback(progress_printer(transformers, echo, clock, dataset))
    trainer.add_callback(budget.budget_callback(transformers, clock))
    trainer.add_callback(checkpoint.callback(transformers, clock, cfg.data, _counts(dataset)))
    trained: Any = trainer.model
    full = cfg.lora is None
    if full:
        trainable = total = sum(p.numel() for p in trained.parameters())
        method = "full" if cfg.scratch is None else "full, from scratch"
    else:
        trainable, total = trained.get_nb_trainable_parameters()
        method = "QLoRA" if q.mode == "4bit" else ("LoRA on int8" if q.mode == "8bit" else "LoRA")
    optim = trainer.args.optim
    optim = getattr(optim, "value", optim)
    echo(
        f"training {method}: {n_rows} rows, {count(trainable)} of {count(total)} params "
        f"trainable, optimizer {optim}, {'cuda' if cuda else 'cpu'} x{world}"
        + (f", time budget {t.max_time_s:g} s" if t.max_time_s else "")
    )
    served = 0  # tokens the plain trainer served before the checkpoint resumed from
    if resume is not None:
        clock.before_s = resume.trained_s or 0.0
        if dataset is not None:  # the Trainer skips the batches done without reading them
            served = dataset.tokens_served = int(resume.counts.get("tokens_served", 0))
            dataset.padded_served = int(resume.counts.get("padded_served", 0))
        echo(
            f"resuming from {_rel(resume.path, rootdir)} (step {resume.step}"
            + (f", {resume.trained_s:.0f} s trained" if resume.trained_s is not None else "")
            + ")"
        )
        for line in checkpoint.changed(resume.config, cfg.data):
            echo(f"note: changed since the checkpoint: {line}")
    end_by = training_end_by()
    if end_by is not None and t.max_time_s:
        left = max(1.0, end_by - time.time())
        if clock.before_s + left < t.max_time_s:
            clock.budget_s = clock.before_s + left
            echo(f"{END_BY_ENV}: the time budget is cut to {left:.0f} s to end by then")
    start = time.perf_counter()
    previous = _stop_on_sigterm(clock)
    try:
        result = trainer.train(resume_from_checkpoint=str(resume.path) if resume else None)
    except BaseException as exc:
        # torch.OutOfMemoryError is torch 2.5's name for torch.cuda.OutOfMemoryError
        if isinstance(exc, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):
            echo(_memory_line(cuda_memory(torch, memory_cap), "at the out-of-memory error"))
        if full and is_main_process():  # keep what was learned so far
            _save(trainer, trained, t.save_dtype, torch, cfg.output_dir)
            echo(
                f"training failed ({type(exc).__name__}): the last step's weights are in "
                f"{cfg.output_dir}"
            )
        raise
    finally:
        _restore_sigterm(previous)
    train_time = time.perf_counter() - start
    memory = cuda_memory(torch, memory_cap)
    if memory:
        echo(_memory_line(memory, "peak"))
    _save(trainer, trained, t.save_dtype if full else None, torch, cfg.output_dir)
    if cfg.scratch is not None:
        import shutil

        shutil.rmtree(cfg.output_dir / "scratch-base", ignore_errors=True)
    history = [
        {"step": int(e["step"]), "loss": float(e["loss"])}
        for e in trainer.state.log_history
        if "loss" in e
    ]
    manifest = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config_file": cfg.source,
        "overrides": list(cfg.overrides),
        "config": dict(cfg.data),
        "base_model": cfg.base_model,
        "tokenizer": cfg.tokenizer or cfg.base_model,
        "method": method,
        "trainer": "transformers.Trainer" if plain_run else "trl.SFTTrainer",
        "quantization": q.mode,
        "optimizer": optim,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "world_size": world,
        "trainable_params": int(trainable),
        "total_params": int(total),
        "data": data_files(tasks),
        "contamination": {name: r.as_dict() for name, r in reports.items()},
        "contamination_forced": forced and not all(r.clean for r in reports.values()),
        "git": _git(rootdir),
        "versions": versions(),
        "steps": int(trainer.state.global_step),
        "train_time_s": round(train_time, 2),  # this process's; a resumed run's earlier
        "trained_s": round(clock.elapsed, 2),  # processes count in trained_s
        "resumed_from": resume.as_dict(_rel(resume.path, rootdir)) if resume else None,
        "checkpoints": [c.path.name for c in checkpoint.find(cfg.output_dir)],
        "time_budget_s": clock.budget_s,
        "stopped": "signal" if clock.stopped else ("time budget" if clock.spent else "steps"),
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "mean_train_loss": float(result.training_loss),
        "loss_history": history,
        "cuda_memory": memory,
    }
    if dataset is not None:
        d = dataset.data
        manifest["tokens"] = {
            "rows": len(d),
            "rows_over_max_length": d.dropped,
            "tokens": d.n_tokens,
            "trained": dataset.tokens_served,
            "trained_padded": dataset.padded_served,
            "per_second": round((dataset.tokens_served - served) / max(train_time, 1e-9)),
            "passes": round(dataset.tokens_served / max(d.n_tokens, 1), 2),
        }
    try:  # a store that cannot be read: no command, and still a manifest
        commands, hint = eval_commands(cfg, tasks, rootdir)
    except Exception as exc:
        commands, hint = [], f"no evaluation command: {type(exc).__name__}: {exc}"
    manifest["eval_commands"] = commands
    manifest["eval_hint"] = hint
    if is_main_process():
        path = cfg.output_dir / "manifest.json"
        path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    del trainer, model  # evaluate in a new process, never on the training instance
    return manifest


def _counts(dataset: Any) -> Any:
    """The plain trainer's token counters, for its checkpoints; None for the sft trainer."""
    if dataset is None:
        return None
    return lambda: {"tokens_served": dataset.tokens_served, "padded_served": dataset.padded_served}


def _load(transformers: Any, base_model: str, cfg: FinetuneConfig, kwargs: dict[str, Any]) -> Any:
    try:
        return sft.load_model(transformers, base_model, kwargs)
    except sft.LoadError as exc:
        raise TrainError(f"cannot load {cfg.base_model}: {exc}") from None


def _save(trainer: Any, model: Any, save_dtype: str | None, torch: Any, output_dir: Path) -> None:
    """The model (a full finetune, in ``save_dtype``) or the adapter, and the tokenizer."""
    if save_dtype:  # e.g. float16: half the file for a bundled model
        model.to(getattr(torch, save_dtype))
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "use_cache", None) is False:
        config.use_cache = True  # training turned it off; generation wants the cache
    trainer.save_model(str(output_dir))
    # the Trainer's pickled arguments: the manifest holds the config, readable
    (output_dir / "training_args.bin").unlink(missing_ok=True)


def _stop_on_sigterm(clock: budget.Clock) -> Any:
    """SIGTERM (as from ``timeout``) ends training after the step in flight."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        clock.stopped = True

    return signal.signal(signal.SIGTERM, stop)


def _restore_sigterm(previous: Any) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def progress_printer(transformers: Any, echo: Echo, clock: budget.Clock, dataset: Any) -> Any:
    from pytest_llmeval.finetune.plain import progress_printer as printer

    return printer(transformers, echo, clock, dataset)


MEMORY_CAP_ENV = "LLMEVAL_CUDA_MEMORY_GIB"
END_BY_ENV = "LLMEVAL_TRAIN_END_BY"


def training_end_by() -> float | None:
    """``LLMEVAL_TRAIN_END_BY`` (Unix time): a budgeted run's training ends by then, even if
    loading and tokenizing took longer than planned; None when unset."""
    raw = os.environ.get(END_BY_ENV, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise TrainError(f"{END_BY_ENV}={raw!r}: expected a Unix time in seconds") from None


def _cuda_device() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))  # the GPU of this process under DDP


def cap_cuda_memory(torch: Any) -> dict[str, Any] | None:
    """Apply ``LLMEVAL_CUDA_MEMORY_GIB`` (GiB, for this process's GPU); None when it is
    unset or there is no CUDA."""
    raw = os.environ.get(MEMORY_CAP_ENV, "").strip()
    if not raw or not torch.cuda.is_available():
        return None
    try:
        gib = float(raw)
    except ValueError:
        gib = 0.0
    if not gib > 0:
        raise TrainError(f"{MEMORY_CAP_ENV}={raw!r}: expected a number of GiB, such as 22")
    device = _cuda_device()
    total = int(torch.cuda.get_device_properties(device).total_memory)
    fraction = min(gib * 2**30 / total, 1.0)
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    torch.cuda.reset_peak_memory_stats(device)
    return {"cap_gib": gib, "fraction": fraction, "device_total": total}


def cuda_memory(torch: Any, cap: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """This process's peak GPU memory so far, in bytes, and the cap; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    device = _cuda_device()
    return {
        "max_memory_allocated": int(torch.cuda.max_memory_allocated(device)),
        "max_memory_reserved": int(torch.cuda.max_memory_reserved(device)),
        "cap_gib": cap["cap_gib"] if cap else None,
        "device_total": int(torch.cuda.get_device_properties(device).total_memory),
    }


def _memory_line(memory: Mapping[str, Any] | None, what: str) -> str:
    if not memory:
        return f"GPU memory {what}: n/a"
    cap = f", cap {memory['cap_gib']:g} GiB" if memory["cap_gib"] else ""
    return (
        f"GPU memory {what}: {memory['max_memory_allocated'] / 2**30:.2f} GiB allocated, "
        f"{memory['max_memory_reserved'] / 2**30:.2f} GiB reserved{cap}"
    )


def compute_dtype(torch: Any, name: str, cuda: bool) -> Any:
    """``auto``: bf16 on GPUs that have it, else fp16; float32 on CPU (as the plugin does)."""
    if name == "auto":
        if cuda:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(rootdir: Path) -> dict[str, Any]:
    try:  # the manifest is written after the weights: nothing here may stop it
        from pytest_llmeval.store.storage import git_info  # pure: no pytest behind it

        return dict(git_info(rootdir))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _rel(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
