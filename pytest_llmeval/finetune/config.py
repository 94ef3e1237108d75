"""Finetuning configuration: a YAML file, dotted ``--set KEY=VALUE`` overrides, dataclasses.

The file (see ``finetune/*.yaml``)::

    base_model: meta-llama/Llama-3.2-3B-Instruct   # hub id or local directory
    tokenizer: null                  # default: the base model's
    output_dir: out/llama-3.2-3b-json
    tasks:                           # the suite fixes the prompt: exactly the plugin's
      - suite: evals/eval_json_extraction.yaml
        split: train                 # data/<task>/test.jsonl -> data/<task>/train.jsonl
        # dataset: data/other.jsonl  # or name the training file outright
        # limit: 500                 # a seeded subset
    quantization: {mode: 4bit, quant_type: nf4, double_quant: true, compute_dtype: bfloat16}
    lora: {r: 16, alpha: 32, dropout: 0.05, target_modules: all-linear}
    training:
      optimizer: paged_adamw_8bit
      learning_rate: 2.0e-4            # ...
      save_steps: 200                  # a checkpoint every 200 steps (--resume), the last
      save_total_limit: 2              #   2 kept; null: none
      report_to: none                  # or tensorboard, wandb, [tensorboard, wandb]
      args: {dataloader_num_workers: 2}  # any other field of trl's SFTConfig (plain:
                                       #   TrainingArguments), checked against the class
    contamination: {n: 8, threshold: 0.5}

Overrides use the same dotted paths (``--set lora.r=8 --set tasks.0.limit=100``); the
value is read as YAML (``16`` is a number, ``[q_proj, v_proj]`` a list, ``null`` unsets).
String values in the file may name environment variables: ``${VAR}`` or
``${VAR:-default}``. Relative paths are taken from the current directory (the project
root), else from the config file's directory.

Every mistake is one line naming where it was made, as the suite loader does:
``finetune/x.yaml:12: field 'lora.r': 0 is less than the minimum of 1`` or
``--set lora.rr=8: field 'lora.rr': unknown setting (known: alpha, dropout, r, ...)``,
``finetune/x.yaml:20: field 'training.args.save_step': not a field of trl's SFTConfig
(did you mean 'save_steps'?)``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_llmeval.contamination import split_path
from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.finetune import trainer_args
from pytest_llmeval.finetune.scratch import ScratchSettings
from pytest_llmeval.suite import Suite, load_suite_file
from pytest_llmeval.yamlines import key_lines


class ConfigError(ValueError):
    """A bad setting; the message is one line: ``where: field 'a.b': why``."""


OPTIMIZERS = (
    "auto",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adamw_8bit",
    "adamw_torch",
    "adamw_torch_fused",
    "adafactor",
    "sgd",
)
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "wsd",  # warmup, stable, linear decay over the last `cooldown` share (budget.py)
)
TRAINERS = ("sft", "plain")
REPORT_TO = ("none", *trainer_args.REPORTERS)

_NAME = {"type": "string", "minLength": 1}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["base_model", "tasks", "output_dir"],
    "additionalProperties": False,
    "properties": {
        "base_model": _NAME,
        "tokenizer": {"type": ["string", "null"], "minLength": 1},
        "output_dir": _NAME,
        "tasks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["suite"],
                "additionalProperties": False,
                "properties": {
                    "suite": _NAME,
                    "split": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]+$"},
                    "dataset": {"type": ["string", "null"], "minLength": 1},
                    "limit": {"type": ["integer", "null"], "minimum": 1},
                },
            },
        },
        "quantization": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": ["none", "4bit", "8bit"]},
                "quant_type": {"enum": ["nf4", "fp4"]},
                "double_quant": {"type": "boolean"},
                "compute_dtype": {"enum": ["auto", "bfloat16", "float16", "float32"]},
            },
        },
        "scratch": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{
                    k: {"type": "integer", "minimum": 0 if k == "seed" else 1}
                    for k in (
                        "hidden",
                        "layers",
                        "heads",
                        "kv_heads",
                        "intermediate",
                        "vocab_size",
                        "max_positions",
                        "seed",
                    )
                },
                "split_digits": {"type": "boolean"},
                "tie_embeddings": {"type": "boolean"},
                "tokenizer_texts": {"type": ["integer", "null"], "minimum": 1},
            },
        },
        "lora": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "r": {"type": "integer", "minimum": 1},
                "alpha": {"type": "integer", "minimum": 1},
                "dropout": {"type": "number", "minimum": 0, "maximum": 1},
                "target_modules": {
                    "oneOf": [
                        {"const": "all-linear"},
                        {"type": "array", "minItems": 1, "items": _NAME},
                    ]
                },
            },
        },
        "training": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "optimizer": {"enum": list(OPTIMIZERS)},
                "learning_rate": {"type": "number", "exclusiveMinimum": 0},
                "lr_scheduler": {"enum": list(SCHEDULERS)},
                "warmup": {"type": "number", "minimum": 0},
                "batch_size": {"type": "integer", "minimum": 1},
                "grad_accum": {"type": "integer", "minimum": 1},
                "max_length": {"type": "integer", "minimum": 8},
                "epochs": {"type": "number", "exclusiveMinimum": 0},
                "max_steps": {"type": ["integer", "null"], "minimum": 1},
                "seed": {"type": "integer"},
                "gradient_checkpointing": {"type": "boolean"},
                "logging_steps": {"type": "integer", "minimum": 1},
                "completion_only_loss": {"type": "boolean"},
                "save_dtype": {"enum": [None, "float16", "bfloat16", "float32"]},
                "max_time_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "cooldown": {"type": "number", "minimum": 0, "maximum": 1},
                "weight_decay": {"type": "number", "minimum": 0},
                "adam_beta2": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "trainer": {"enum": list(TRAINERS)},
                "batch_tokens": {"type": ["integer", "null"], "minimum": 8},
                "save_steps": {"type": ["integer", "null"], "minimum": 1},
                "save_total_limit": {"type": ["integer", "null"], "minimum": 1},
                "report_to": {
                    "oneOf": [
                        {"enum": list(REPORT_TO)},
                        {"type": "array", "items": {"enum": list(REPORT_TO)}},
                    ]
                },
                "args": {"type": "object"},  # any other SFTConfig/TrainingArguments field
            },
        },
        "contamination": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "n": {"type": "integer", "minimum": 1},
                "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
    },
}


@dataclass(frozen=True)
class TaskConfig:
    """One training task: the suite fixes prompt and target; ``train`` is the file read."""

    suite: Suite
    suite_path: Path
    train: Path
    split: str
    limit: int | None = None


@dataclass(frozen=True)
class QuantConfig:
    mode: str = "none"  # none | 4bit | 8bit
    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "auto"  # auto: bf16 (or fp16) on CUDA, float32 on CPU


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass(frozen=True)
class TrainSettings:
    # auto: paged_adamw_8bit with CUDA, adamw_torch without (bitsandbytes' paged and 8-bit
    # optimizers need a GPU); an explicit paged/8-bit optimizer falls back the same way
    optimizer: str = "auto"
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup: float = 0.03  # below 1: a share of the steps; 1 or more: a number of steps
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    epochs: float = 1.0
    max_steps: int | None = None  # wins over epochs
    seed: int = 0
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    completion_only_loss: bool = True
    save_dtype: str | None = None  # full finetunes: the dtype the weights are saved in
    # a wall-clock budget for the training loop (seconds): the schedule follows the clock
    # and training stops when it is spent (budget.py); max_steps, if set, still caps it
    max_time_s: float | None = None
    cooldown: float = 0.2  # wsd: the last share of the run, over which the rate decays to 0
    weight_decay: float = 0.0
    adam_beta2: float = 0.999
    # sft: trl's SFTTrainer (LoRA, QLoRA, any model); plain: transformers' Trainer on rows
    # tokenized up front, length-grouped (plain.py): for small full finetunes, where trl's
    # per-row and per-step extras cost more than the model
    trainer: str = "sft"
    batch_tokens: int | None = None  # plain: a batch holds up to this many (padded) tokens
    # a checkpoint (weights, optimizer, schedule, RNG, data position) every save_steps
    # optimizer steps into output_dir/checkpoint-N, the last save_total_limit kept; what
    # --resume continues from; null: none
    save_steps: int | None = 200
    save_total_limit: int | None = 2
    report_to: str | tuple[str, ...] = "none"  # tensorboard, wandb... (installed apart)
    # any other field of the trainer's arguments (trl's SFTConfig, or TrainingArguments for
    # trainer: plain), checked against the installed class's fields (trainer_args.py)
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContaminationSettings:
    n: int = 8
    threshold: float = 0.5


@dataclass(frozen=True)
class FinetuneConfig:
    """A validated configuration; ``data`` is the merged mapping, kept for the manifest."""

    source: str
    base_model: str
    tokenizer: str | None
    output_dir: Path
    tasks: tuple[TaskConfig, ...]
    quantization: QuantConfig = field(default_factory=QuantConfig)
    lora: LoraSettings | None = field(default_factory=LoraSettings)  # None: full finetune
    scratch: ScratchSettings | None = None  # base_model "scratch": built from the data
    training: TrainSettings = field(default_factory=TrainSettings)
    contamination: ContaminationSettings = field(default_factory=ContaminationSettings)
    overrides: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_is_local(self) -> bool:
        return self.scratch is not None or Path(self.base_model).is_dir()


PAGED_OR_8BIT = ("paged_adamw_8bit", "paged_adamw_32bit", "adamw_8bit")


def optimizer_for(name: str, cuda: bool) -> tuple[str, str | None]:
    """The optimizer to use, and a note when the configured one cannot run here:
    bitsandbytes' paged and 8-bit optimizers need CUDA, so without it ``adamw_torch``."""
    if name == "auto":
        return ("paged_adamw_8bit" if cuda else "adamw_torch"), None
    if name in PAGED_OR_8BIT and not cuda:
        return "adamw_torch", f"{name} needs CUDA; using adamw_torch on this CPU"
    return name, None


# -- loading ----------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``2e-4`` as a string; a learning rate written so means a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Lines = dict[tuple[Any, ...], int]


def load_config(
    path: Path,
    overrides: Sequence[str] = (),
    rootdir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> FinetuneConfig:
    """Read, override, validate and resolve a config file; ConfigError on the first mistake."""
    rootdir = rootdir or Path.cwd()
    environ = os.environ if environ is None else environ
    where = _display(path, rootdir)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read config: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}{line}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}:1: a finetune config must be a mapping of settings")
    lines: Lines = key_lines(node)
    origin = _Origin(where, lines)
    data = _expand_env(data, (), environ, origin)
    for item in overrides:
        _apply_override(data, item, origin)
    _validate(data, origin)
    return _build(data, path, rootdir, origin, tuple(overrides))


class _Origin:
    """Where each setting came from: a line of the file, or a ``--set`` argument."""

    def __init__(self, where: str, lines: Lines) -> None:
        self.where = where
        self.lines = lines
        self.overrides: dict[tuple[Any, ...], str] = {}

    def error(self, path: Sequence[Any], message: str) -> ConfigError:
        key = tuple(path)
        prefixes = [key[:i] for i in range(len(key), -1, -1)]
        # an override of the setting or of a section above it replaced what the file said
        loc = next((self.overrides[p] for p in prefixes if p in self.overrides), None)
        if loc is None:
            line = next((self.lines[p] for p in prefixes if p in self.lines), None)
            loc = self.where if line is None else f"{self.where}:{line}"
        name = ".".join(str(p) for p in path)
        return ConfigError(f"{loc}: field {name!r}: {message}" if name else f"{loc}: {message}")


def _expand_env(value: Any, path: tuple[Any, ...], environ: Mapping[str, str], o: _Origin) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), environ, o) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), environ, o) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if environ.get(name):
            return environ[name]
        if default is not None:
            return default
        raise o.error(path, f"environment variable {name} is not set")

    return _ENV.sub(sub, value)


def _apply_override(data: dict[str, Any], item: str, origin: _Origin) -> None:
    where = f"--set {item}"
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{where}: expected KEY=VALUE, such as lora.r=16")
    path: tuple[Any, ...] = tuple(int(p) if p.isdigit() else p for p in key.strip().split("."))
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node: Any = data
    for i, part in enumerate(path[:-1]):
        here = ".".join(str(p) for p in path[: i + 1])
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise ConfigError(f"{where}: field {here!r}: no such item ({len(node)} in all)")
            node = node[part]
        elif isinstance(node, dict) and not isinstance(part, int):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"{where}: field {here!r}: cannot set a key inside this value")
    last = path[-1]
    in_list = isinstance(node, list) and isinstance(last, int) and last < len(node)
    if not in_list and not (isinstance(node, dict) and not isinstance(last, int)):
        raise ConfigError(f"{where}: field {key.strip()!r}: cannot set this item")
    node[last] = value
    origin.overrides[path] = where


def _validate(data: Mapping[str, Any], origin: _Origin) -> None:
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return
    err = errors[0]
    path = list(err.path)
    if err.validator == "required":
        raise origin.error([*path, err.message.split("'")[1]], "missing")
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))  # type: ignore[union-attr]
        for extra in sorted(k for k in err.instance if k not in allowed):
            raise origin.error([*path, extra], f"unknown setting (known: {', '.join(allowed)})")
    if err.validator == "oneOf" and path[-1:] == ["target_modules"]:
        raise origin.error(path, "must be 'all-linear' or a list of module names")
    if err.validator == "oneOf" and path[-1:] == ["report_to"]:
        raise origin.error(path, f"must be one of, or a list of: {', '.join(REPORT_TO)}")
    raise origin.error(path, err.message)


def _build(
    data: Mapping[str, Any], path: Path, rootdir: Path, origin: _Origin, overrides: tuple[str, ...]
) -> FinetuneConfig:
    base_dir = path.parent
    scratch = data.get("scratch")
    if (data["base_model"] == "scratch") != (scratch is not None):
        raise origin.error(
            ["base_model"],
            "base_model: scratch and a scratch: section go together (a model built from nothing)",
        )
    base = (
        "scratch"
        if scratch is not None
        else _model_path(data["base_model"], rootdir, base_dir, ["base_model"], origin)
    )
    tokenizer = data.get("tokenizer")
    if tokenizer is not None:
        tokenizer = _model_path(tokenizer, rootdir, base_dir, ["tokenizer"], origin)
    tasks = tuple(_task(spec, i, rootdir, base_dir, origin) for i, spec in enumerate(data["tasks"]))
    full = "lora" in data and data["lora"] is None  # lora: null trains every weight
    lora = dict(data.get("lora") or {})
    if isinstance(lora.get("target_modules"), list):
        lora["target_modules"] = tuple(lora["target_modules"])
    training = dict(data.get("training") or {})
    warmup = training.get("warmup", TrainSettings.warmup)
    if warmup >= 1 and warmup != int(warmup):
        raise origin.error(["training", "warmup"], "a share below 1, or a whole number of steps")
    if training.get("trainer") == "plain" and not full:
        raise origin.error(
            ["training", "trainer"], "plain trains every weight: it needs lora: null"
        )
    if training.get("batch_tokens") and training.get("trainer", "sft") != "plain":
        raise origin.error(["training", "batch_tokens"], "only the plain trainer batches by tokens")
    if isinstance(training.get("report_to"), list):
        training["report_to"] = tuple(training["report_to"])
    bad = trainer_args.unknown(training.get("args") or {}, training.get("trainer", "sft"))
    if bad is not None:
        raise origin.error(["training", "args", bad[0]], bad[1])
    training["args"] = dict(training.get("args") or {})
    if training.get("max_time_s") and training.get("lr_scheduler", "cosine") not in (
        "wsd",
        "cosine",
        "linear",
        "constant",
        "constant_with_warmup",
    ):
        raise origin.error(
            ["training", "lr_scheduler"],
            "a time budget (max_time_s) runs wsd, cosine, linear or constant schedules",
        )
    return FinetuneConfig(
        source=origin.where,
        base_model=base,
        tokenizer=tokenizer,
        output_dir=_path(data["output_dir"], rootdir),
        tasks=tasks,
        quantization=QuantConfig(**(data.get("quantization") or {})),
        lora=None if full else LoraSettings(**lora),
        scratch=ScratchSettings(**scratch) if scratch is not None else None,
        training=TrainSettings(**training),
        contamination=ContaminationSettings(**(data.get("contamination") or {})),
        overrides=overrides,
        data=copy.deepcopy(dict(data)),
    )


def _task(
    spec: Mapping[str, Any], i: int, rootdir: Path, base_dir: Path, origin: _Origin
) -> TaskConfig:
    suite_path = _existing(spec["suite"], rootdir, base_dir)
    if suite_path is None:
        raise origin.error(["tasks", i, "suite"], f"file not found: {spec['suite']}")
    try:
        suite = load_suite_file(suite_path, rootdir)
    except DatasetError as exc:
        raise ConfigError(str(exc)) from None  # already names the suite file and line
    split = spec.get("split") or "train"
    if spec.get("dataset"):
        train = _existing(spec["dataset"], rootdir, base_dir)
        if train is None:
            raise origin.error(["tasks", i, "dataset"], f"file not found: {spec['dataset']}")
    else:
        derived = split_path(suite.dataset, split)
        if derived is None:
            raise origin.error(
                ["tasks", i, "split"],
                f"cannot tell the {split} split of {suite.dataset_display} (name the file "
                f"test.jsonl or similar, or give the training file as 'dataset')",
            )
        if not derived.is_file():
            raise origin.error(
                ["tasks", i, "split"], f"no {split} split at {_display(derived, rootdir)}"
            )
        train = derived
    return TaskConfig(suite, suite_path, train, split, spec.get("limit"))


def _model_path(name: str, rootdir: Path, base_dir: Path, path: list[Any], origin: _Origin) -> str:
    """A local directory (kept as written when it is relative to the project root), or a
    hub id; a name that looks like a path must exist, as ``--model hf/PATH`` demands."""
    p = Path(name).expanduser()
    if (rootdir / p).is_dir():
        return name if not p.is_absolute() and rootdir == Path.cwd() else str(rootdir / p)
    if not p.is_absolute() and (base_dir / p).is_dir():
        return str((base_dir / p).resolve())
    if p.is_absolute() or name.startswith((".", "~")):
        raise origin.error(path, f"no model directory at {name}")
    return name


def _existing(name: str, rootdir: Path, base_dir: Path) -> Path | None:
    p = Path(name).expanduser()
    candidates = [p] if p.is_absolute() else [rootdir / p, base_dir / p]
    return next((c for c in candidates if c.is_file()), None)


def _path(name: str, rootdir: Path) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else rootdir / p


def _display(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
