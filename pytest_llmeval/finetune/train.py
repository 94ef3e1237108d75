"""LoRA / QLoRA training with trl's ``SFTTrainer``; writes the adapter and ``manifest.json``.

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
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_llmeval import contamination
from pytest_llmeval.finetune.config import FinetuneConfig, optimizer_for
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
) -> dict[str, Any]:
    """Train, save adapter + tokenizer + manifest into ``cfg.output_dir``; returns the manifest."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # before anything imports it
    import torch
    import transformers
    from datasets import Dataset, disable_progress_bars  # type: ignore[import-untyped]
    from peft import LoraConfig, prepare_model_for_kbit_training
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    # raised inside transformers when peft/trl use the old checkpointing names: not ours to fix
    for old in ("is_gradient_checkpointing", "gradient_checkpointing_enable"):
        warnings.filterwarnings("ignore", f"`{old}` is deprecated", FutureWarning)
    rootdir = rootdir or Path.cwd()
    t, q = cfg.training, cfg.quantization
    cuda = torch.cuda.is_available()
    memory_cap = cap_cuda_memory(torch)  # before anything is allocated on the GPU
    if memory_cap:
        echo(
            f"{MEMORY_CAP_ENV}: CUDA memory capped at {memory_cap['cap_gib']:g} GiB "
            f"({memory_cap['fraction']:.3f} of {memory_cap['device_total'] / 2**30:.1f} GiB)"
        )
    dtype = compute_dtype(torch, q.compute_dtype, cuda)
    optim, note = optimizer_for(t.optimizer, cuda)
    if note:
        echo(f"note: {note}")

    base_model = cfg.base_model
    if cfg.scratch is not None:  # a tokenizer trained on this data and a random model
        from pytest_llmeval.finetune import scratch

        texts = [
            m["content"] for r in rows(tasks, chat=True) for m in (*r["prompt"], *r["completion"])
        ]
        base_model = str(scratch.build(cfg.output_dir / "scratch-base", texts, cfg.scratch))
        echo(
            f"built a {cfg.scratch.layers}-layer, {cfg.scratch.hidden}-wide Llama and a "
            f"{cfg.scratch.vocab_size}-token BPE tokenizer from {len(texts)} texts"
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.tokenizer or base_model)
    except OSError as exc:
        raise TrainError(f"cannot load the tokenizer: {exc}".splitlines()[0]) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    chat = bool(getattr(tokenizer, "chat_template", None))
    dataset = Dataset.from_list(rows(tasks, chat=chat))

    kwargs: dict[str, Any] = {"dtype": dtype}
    if q.mode != "none":
        kwargs["quantization_config"] = bnb_config(transformers, torch, cfg, dtype)
        if cuda:  # each DDP process holds the whole quantized model on its own GPU
            from accelerate import PartialState  # type: ignore[import-untyped]

            kwargs["device_map"] = {"": PartialState().local_process_index}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(base_model, **kwargs)
    except OSError as exc:  # not on disk and no hub access, gated repo, bad path...
        raise TrainError(f"cannot load {cfg.base_model}: {exc}".splitlines()[0]) from None
    gc = t.gradient_checkpointing
    gc_kwargs = {"use_reentrant": False} if gc else None
    if q.mode != "none":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gc, gradient_checkpointing_kwargs=gc_kwargs
        )
    lora = (
        None
        if cfg.lora is None
        else LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=(
                cfg.lora.target_modules
                if isinstance(cfg.lora.target_modules, str)
                else list(cfg.lora.target_modules)
            ),
            task_type="CAUSAL_LM",
        )
    )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    args = SFTConfig(
        output_dir=str(cfg.output_dir),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=int(t.warmup) if t.warmup >= 1 else float(t.warmup),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        seed=t.seed,
        data_seed=t.seed,
        optim=optim,
        activation_checkpointing=gc,
        activation_checkpointing_kwargs=gc_kwargs,
        bf16=cuda and dtype == torch.bfloat16,  # trl's default would turn bf16 on, even on CPU
        fp16=cuda and dtype == torch.float16,
        use_cpu=not cuda,
        max_length=t.max_length,
        completion_only_loss=t.completion_only_loss,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world > 1 else None,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.add_callback(_loss_printer(transformers, echo))
    trained: Any = trainer.model
    if lora is None:
        trainable = total = sum(p.numel() for p in trained.parameters())
        method = "full" if cfg.scratch is None else "full, from scratch"
    else:
        trainable, total = trained.get_nb_trainable_parameters()
        method = "QLoRA" if q.mode == "4bit" else ("LoRA on int8" if q.mode == "8bit" else "LoRA")
    echo(
        f"training {method}: {len(dataset)} rows, {count(trainable)} of {count(total)} params "
        f"trainable, optimizer {optim}, "
        f"{'cuda' if cuda else 'cpu'} x{world}"
    )
    start = time.perf_counter()
    try:
        result = trainer.train()
    except torch.OutOfMemoryError:
        echo(_memory_line(cuda_memory(torch, memory_cap), "at the out-of-memory error"))
        raise
    train_time = time.perf_counter() - start
    memory = cuda_memory(torch, memory_cap)
    if memory:
        echo(_memory_line(memory, "peak"))
    if lora is None and t.save_dtype:  # e.g. float16: half the file for a bundled model
        trained.to(getattr(torch, t.save_dtype))
    trainer.save_model(str(cfg.output_dir))  # adapter or full model, and the tokenizer
    # the Trainer's pickled arguments: the manifest holds the config, readable
    (cfg.output_dir / "training_args.bin").unlink(missing_ok=True)
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
        "train_time_s": round(train_time, 2),
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "mean_train_loss": float(result.training_loss),
        "loss_history": history,
        "cuda_memory": memory,
    }
    commands, hint = eval_commands(cfg, tasks, rootdir)
    manifest["eval_commands"] = commands
    manifest["eval_hint"] = hint
    if is_main_process():
        path = cfg.output_dir / "manifest.json"
        path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    del trainer, model  # evaluate in a new process, never on the training instance
    return manifest


MEMORY_CAP_ENV = "LLMEVAL_CUDA_MEMORY_GIB"


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


def bnb_config(transformers: Any, torch: Any, cfg: FinetuneConfig, dtype: Any) -> Any:
    q = cfg.quantization
    if q.mode == "8bit":
        return transformers.BitsAndBytesConfig(load_in_8bit=True)
    return transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q.quant_type,
        bnb_4bit_use_double_quant=q.double_quant,
        bnb_4bit_compute_dtype=dtype,
    )


def _loss_printer(transformers: Any, echo: Echo) -> Any:
    class LossPrinter(transformers.TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs and state.is_world_process_zero:
                echo(
                    f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                    f"lr {logs.get('learning_rate', 0.0):.2e}"
                )

    return LossPrinter()


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(rootdir: Path) -> dict[str, Any]:
    from pytest_llmeval.recorder import git_info

    return git_info(rootdir)


# -- what to run next ----------------------------------------------------------------------------
def base_run(cfg: FinetuneConfig, db: Path) -> str | None:
    """The newest complete, whole run of ``hf/<base>`` without an adapter, if any."""
    if not db.is_file():
        return None
    from pytest_llmeval.storage import Store, StoreError

    specs = {f"hf/{cfg.base_model}"}
    if cfg.base_is_local:
        specs.add(f"hf/{Path(cfg.base_model).resolve()}")
    try:
        store = Store(db, readonly=True)
    except StoreError:
        return None
    try:
        for run in store.list_runs(limit=None, status="complete"):
            params = run.get("params") or {}
            if run.get("model") in specs and not run.get("partial") and not params.get("adapter"):
                return str(run["id"])
    finally:
        store.close()
    return None


def eval_commands(
    cfg: FinetuneConfig, tasks: Sequence[TaskData], rootdir: Path
) -> tuple[list[str], str | None]:
    """The ``pytest`` command that evaluates the adapter against the base model's latest
    complete run; without such a run, the base model's command first, and a hint."""
    dirs = sorted({_rel(t.config.suite_path.parent, rootdir) for t in tasks})
    target = " ".join(shlex.quote(d + "/") for d in dirs) or "evals/"
    quant = {"4bit": " --load-in-4bit", "8bit": " --load-in-8bit"}.get(cfg.quantization.mode, "")
    if cfg.lora is None:  # a full finetune is a model of its own
        return [
            f"pytest {target} --model {shlex.quote('hf/' + _rel(cfg.output_dir, rootdir))}"
        ], None
    base = f"pytest {target} --model {shlex.quote('hf/' + cfg.base_model)}{quant}"
    adapter = f"--adapter {shlex.quote(_rel(cfg.output_dir, rootdir))}"
    run_id = base_run(cfg, rootdir / ".llmeval" / "llmeval.db")
    if run_id:
        return [f"{base} {adapter} --llmeval-baseline={run_id}"], None
    hint = (
        f"no complete run of hf/{cfg.base_model} in .llmeval/llmeval.db yet: "
        "run the base model first, then the adapter against it"
    )
    return [base, f"{base} {adapter} --llmeval-baseline=latest"], hint


def _rel(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
