"""The arguments the trainers get: trl's ``SFTConfig`` (``trainer: sft``) or transformers'
``TrainingArguments`` (``trainer: plain``).

- ``arguments`` builds them for both trainers: checkpoints every ``training.save_steps``
  (the last ``save_total_limit`` kept), ``training.report_to``, then what the trainer
  passes, then ``training.args``; each under the field name the installed version has
  (``RENAMED``).
- ``training.args`` is a map of any other field of that dataclass, checked against the
  installed class's own fields (``dataclasses.fields``) when the config is read: an
  unknown field is a one-line config error with a did-you-mean, and a field that has a
  setting of its own (``OWNED``) names that setting instead.
- ``missing_reporters`` says which ``report_to`` integration is not installed, with the
  ``pip install`` line, before any weights are loaded.

trl and transformers are imported on use; the check is skipped where the trainer's
package is not installed (training then says so itself).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.finetune.config import FinetuneConfig

# TrainingArguments fields renamed between the transformers versions in use (5.17 on the
# GPU machines: gradient_checkpointing; 5.24 here: activation_checkpointing): new -> old
RENAMED = {
    "activation_checkpointing": "gradient_checkpointing",
    "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs",
}

# fields that a setting of the config (or a flag) owns: training.args may not set them
OWNED = {
    "output_dir": "output_dir",
    "per_device_train_batch_size": "training.batch_size",
    "gradient_accumulation_steps": "training.grad_accum",
    "learning_rate": "training.learning_rate",
    "weight_decay": "training.weight_decay",
    "adam_beta2": "training.adam_beta2",
    "lr_scheduler_type": "training.lr_scheduler",
    "warmup_steps": "training.warmup",
    "warmup_ratio": "training.warmup",
    "num_train_epochs": "training.epochs",
    "max_steps": "training.max_steps",
    "seed": "training.seed",
    "data_seed": "training.seed",
    "optim": "training.optimizer",
    "max_length": "training.max_length",
    "completion_only_loss": "training.completion_only_loss",
    "logging_steps": "training.logging_steps",
    "save_steps": "training.save_steps",
    "save_total_limit": "training.save_total_limit",
    "report_to": "training.report_to",
    "resume_from_checkpoint": "the --resume flag",
    **dict.fromkeys(
        ("gradient_checkpointing", "activation_checkpointing"), "training.gradient_checkpointing"
    ),
}

# report_to names: the module that shows the integration is installed, and the package
REPORTERS = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (("wandb",), "wandb"),
    "mlflow": (("mlflow",), "mlflow"),
    "trackio": (("trackio",), "trackio"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "clearml": (("clearml",), "clearml"),
}


def arguments(cls: Any, cfg: FinetuneConfig, **kwargs: Any) -> Any:
    """``cls(output_dir=..., **kwargs)`` (TrainingArguments or trl's SFTConfig) with the
    settings every run shares and ``training.args`` last, under the field names the
    installed version has."""
    names = {f.name for f in dataclasses.fields(cls)}
    old_names = {v: k for k, v in RENAMED.items()}
    t = cfg.training
    shared: dict[str, Any] = {
        "output_dir": str(cfg.output_dir),
        "save_strategy": "steps" if t.save_steps else "no",
        "report_to": list(reporters(t.report_to)) or "none",
        "disable_tqdm": True,
    }
    if t.save_steps:
        shared.update(save_steps=t.save_steps, save_total_limit=t.save_total_limit)
    out: dict[str, Any] = {}
    for key, value in {**shared, **kwargs, **t.args}.items():
        if key not in names:
            other = RENAMED.get(key) or old_names.get(key)
            if other in names:
                key = other
        out[key] = value
    try:
        return cls(**out)
    except ValueError as exc:  # __post_init__ refusing a combination, often of training.args
        raise ArgumentsError(f"{_name(cls)}: {exc}".splitlines()[0]) from None


class ArgumentsError(ValueError):
    """The trainer's arguments refuse a value or a combination; one line."""


def _name(cls: Any) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def reporters(report_to: str | Sequence[str]) -> tuple[str, ...]:
    """The integrations named, ``none`` left out."""
    names = (report_to,) if isinstance(report_to, str) else tuple(report_to)
    return tuple(n for n in names if n != "none")


def missing_reporters(report_to: str | Sequence[str]) -> str | None:
    """One line naming the ``report_to`` integrations that are not installed, or None."""
    missing = [
        name
        for name in reporters(report_to)
        if name in REPORTERS and not any(importlib.util.find_spec(m) for m in REPORTERS[name][0])
    ]
    if not missing:
        return None
    packages = " ".join(REPORTERS[name][1] for name in missing)
    return (
        f"training.report_to: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
        f"not installed: pip install {packages} (or report_to: none)"
    )


def trainer_class(trainer: str) -> tuple[Any, str] | None:
    """The dataclass ``trainer`` takes its arguments in, and its name; None when the
    package that has it is not installed."""
    try:
        if trainer == "plain":
            from transformers import TrainingArguments

            return TrainingArguments, "transformers' TrainingArguments"
        import logging

        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # trl imports it
        from trl import SFTConfig  # type: ignore[attr-defined]

        return SFTConfig, "trl's SFTConfig"
    except ImportError:
        return None


def unknown(args: Mapping[str, Any], trainer: str) -> tuple[str, str] | None:
    """The first key of ``args`` that the trainer's arguments cannot take, and why."""
    for key in args:
        if key in OWNED:
            return key, f"set {OWNED[key]} instead"
    found = trainer_class(trainer) if args else None
    if found is None:
        return None
    cls, name = found
    names = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    for key in args:
        if key in names or RENAMED.get(key) in names or _old(key) in names:
            continue
        close = difflib.get_close_matches(key, names, n=1)
        hint = ""
        if close:  # a field with a setting of its own: name the setting
            hint = f" (did you mean {OWNED[close[0]] if close[0] in OWNED else repr(close[0])}?)"
        return key, f"not a field of {name}{hint}"
    return None


def _old(key: str) -> str | None:
    return next((new for new, old in RENAMED.items() if old == key), None)
