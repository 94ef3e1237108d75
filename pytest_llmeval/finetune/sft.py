"""trl's ``SFTTrainer`` for ``training.trainer: sft`` (the default): any base model, full,
LoRA or QLoRA (4-bit NF4 or 8-bit through ``BitsAndBytesConfig`` and
``prepare_model_for_kbit_training``), on conversational prompt/completion rows that trl
formats and tokenizes. trl, datasets and peft are imported here, on use.

``trainer_args.arguments`` builds its ``SFTConfig``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pytest_llmeval.finetune import budget
from pytest_llmeval.finetune.config import FinetuneConfig, optimizer_for
from pytest_llmeval.finetune.data import TaskData, rows
from pytest_llmeval.finetune.trainer_args import arguments

Echo = Callable[[str], None]


class LoadError(OSError):
    """The base model cannot be loaded; one line."""


def load_model(transformers: Any, base_model: str, kwargs: dict[str, Any]) -> Any:
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(base_model, **kwargs)
    except OSError as exc:  # not on disk and no hub access, gated repo, bad path...
        raise LoadError(f"{exc}".splitlines()[0]) from None


def build(
    cfg: FinetuneConfig,
    tasks: Sequence[TaskData],
    base_model: str,
    tokenizer: Any,
    dtype: Any,
    clock: budget.Clock,
    world: int,
    echo: Echo,
) -> tuple[Any, Any, int]:
    """trl's SFTTrainer on the formatted rows: any model, LoRA or QLoRA or full."""
    import torch
    import transformers
    from datasets import Dataset, disable_progress_bars  # type: ignore[import-untyped]
    from peft import LoraConfig, prepare_model_for_kbit_training
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    disable_progress_bars()
    t, q = cfg.training, cfg.quantization
    cuda = torch.cuda.is_available()
    optim, note = optimizer_for(t.optimizer, cuda)
    if note:
        echo(f"note: {note}")
    chat = bool(getattr(tokenizer, "chat_template", None))
    dataset = Dataset.from_list(rows(tasks, chat=chat))
    kwargs: dict[str, Any] = {"dtype": dtype}
    if q.mode != "none":
        kwargs["quantization_config"] = bnb_config(transformers, torch, cfg, dtype)
        if cuda:  # each DDP process holds the whole quantized model on its own GPU
            from accelerate import PartialState  # type: ignore[import-untyped]

            kwargs["device_map"] = {"": PartialState().local_process_index}
    model = load_model(transformers, base_model, kwargs)
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
    own_schedule = bool(t.max_time_s) or t.lr_scheduler == "wsd"
    args = arguments(
        SFTConfig,
        cfg,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        adam_beta2=t.adam_beta2,
        lr_scheduler_type="constant" if own_schedule else t.lr_scheduler,
        warmup_steps=int(t.warmup) if t.warmup >= 1 else float(t.warmup),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or (budget.UNBOUNDED_STEPS if t.max_time_s else -1),
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
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world > 1 else None,
    )
    trainer_cls = SFTTrainer
    if own_schedule:

        def factor(num_training_steps: int) -> Callable[[int], float]:
            name = t.lr_scheduler if t.lr_scheduler in budget.BUDGET_SCHEDULES else "cosine"
            timed = clock if t.max_time_s else None
            return budget.lr_lambda(name, t.warmup, t.cooldown, timed, num_training_steps)

        trainer_cls = budget.scheduled(SFTTrainer, factor)
    trainer = trainer_cls(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
    )
    return trainer, model, len(dataset)


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
