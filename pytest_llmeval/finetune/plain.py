"""``training.trainer: plain``: transformers' ``Trainer`` on rows tokenized up front.

For full finetunes of small models (the bundled model, built from scratch), where trl's
``SFTTrainer`` costs more than the model: it formats and tokenizes rows with a
single-process ``datasets.map``, and computes entropy and token-accuracy metrics with a
host sync at every step, which leaves a GPU idle between the short steps of a model of a
few million parameters. Here the rows are tokenized once (``pretok.py``: the fast
tokenizer's thread pool, no ``datasets``, no ``trl``), batches group rows of similar
length up to ``batch_tokens`` tokens, and nothing waits on the GPU between logging steps.

The weights stay in float32 and CUDA runs them under bf16 autocast (fp16 where the GPU
has no bf16), so the optimizer updates full-precision weights; ``save_dtype`` sets what is
written. The loss is the model's own mean over the loss tokens of a batch: the completion
with ``completion_only_loss``, else every token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_llmeval.finetune import budget, pretok
from pytest_llmeval.finetune.config import FinetuneConfig, optimizer_for
from pytest_llmeval.finetune.estimate import count

Echo = Callable[[str], None]
PASSES = 4  # shuffles of the data laid out ahead; the Trainer repeats them if it needs more


def build(
    cfg: FinetuneConfig,
    formatted: Sequence[Mapping[str, Any]],
    model: Any,
    tokenizer: Any,
    clock: budget.Clock,
    echo: Echo,
    arguments: Callable[..., Any],
) -> tuple[Any, pretok.Batches]:
    """The Trainer and its dataset, for the conversational rows ``formatted`` (``data.rows``);
    ``arguments(**kwargs)`` makes the TrainingArguments."""
    import torch
    import transformers

    t = cfg.training
    cuda = torch.cuda.is_available()
    start = time.perf_counter()
    data = pretok.encode(tokenizer, formatted, t.max_length)
    if not len(data):
        raise ValueError(f"no training row fits in max_length {t.max_length}")
    batches = pretok.plan(data.lengths, t.batch_tokens, t.batch_size, PASSES, t.seed)
    per_pass = len(batches) / PASSES
    dataset = pretok.Batches(data, batches, t.completion_only_loss)
    lengths = data.lengths
    echo(
        f"tokenized {len(data)} rows in {time.perf_counter() - start:.1f} s: "
        f"{count(data.n_tokens)} tokens, {lengths.mean():.0f} a row on average, longest "
        f"{int(lengths.max())}; {data.dropped} rows over max_length {t.max_length} left out; "
        f"{per_pass:.0f} batches a pass"
        + (f" of up to {t.batch_tokens} tokens" if t.batch_tokens else f" of {t.batch_size} rows")
    )
    if t.max_steps:
        steps = t.max_steps
    elif t.max_time_s:
        steps = budget.UNBOUNDED_STEPS
    else:
        steps = max(1, math.ceil(per_pass * t.epochs / t.grad_accum))
    half = None
    if cuda:
        half = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    optim, note = optimizer_for(t.optimizer, cuda)
    if note:
        echo(f"note: {note}")
    args = arguments(
        per_device_train_batch_size=1,  # an item is a whole batch (pretok.Batches)
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        adam_beta2=t.adam_beta2,
        lr_scheduler_type="constant",  # budget.scheduled installs the schedule
        max_steps=steps,
        seed=t.seed,
        data_seed=t.seed,
        optim=optim,
        bf16=half == "bf16",
        fp16=half == "fp16",
        use_cpu=not cuda,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # its isnan() check syncs with the GPU every step
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    schedule = t.lr_scheduler if t.lr_scheduler in budget.BUDGET_SCHEDULES else "cosine"

    def factor(num_training_steps: int) -> Callable[[int], float]:
        return budget.lr_lambda(
            schedule, t.warmup, t.cooldown, clock if t.max_time_s else None, num_training_steps
        )

    trainer_cls = budget.scheduled(transformers.Trainer, factor)
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=pretok.unwrap,
        processing_class=tokenizer,
    )
    return trainer, dataset


def progress_printer(
    transformers: Any, echo: Echo, clock: budget.Clock, dataset: pretok.Batches | None
) -> Any:
    """Loss lines with the time spent of the budget and the token rate."""

    class Progress(transformers.TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            line = f"step {state.global_step}"
            if clock.budget_s:
                line += f"  {clock.elapsed:.0f}/{clock.budget_s:g} s"
            elif state.max_steps:
                line += f"/{state.max_steps}"
            line += f"  loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0.0):.2e}"
            if dataset is not None and clock.session_s > 0:
                rate = dataset.tokens_served / clock.session_s
                pad = 1 - dataset.tokens_served / max(1, dataset.padded_served)
                line += f"  {count(rate)} tok/s, padding {pad:.0%}"
            echo(line)

    return Progress()
