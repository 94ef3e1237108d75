"""Training rows from eval samples, formatted exactly as the plugin prompts the model.

A row is trl's conversational prompt/completion pair::

    {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
     "completion": [{"role": "assistant", "content": TARGET}]}

The prompt is the suite's own ``Prompt.render(sample)`` (system + user, as ``pytest evals/``
sends it) and the target is the task's expected field: compact JSON of ``expected_output``
for JSON extraction, ``expected_answer`` for QA (the first one when it is a list). trl
applies the tokenizer's chat template with ``add_generation_prompt=True`` to the prompt,
as the plugin's ``hf/`` provider does. For a tokenizer without a chat template the row is
plain text in the provider's fallback transcript (``System: ...`` / ``User: ...`` /
``Assistant:``); trl then appends the EOS token to the completion.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval import contamination
from pytest_llmeval.dataset import DatasetError, Sample, file_hash
from pytest_llmeval.finetune.config import FinetuneConfig, TaskConfig
from pytest_llmeval.suite import Suite


@dataclass(frozen=True)
class TaskData:
    """One task's training samples, and the evaluated samples they must not overlap."""

    name: str
    config: TaskConfig
    train_display: str
    train: tuple[Sample, ...]
    eval: tuple[Sample, ...]

    @property
    def suite(self) -> Suite:
        return self.config.suite

    @property
    def target_field(self) -> str:
        field = self.suite.expected_field
        if field is None:
            raise DatasetError(f"{self.suite.source}: suite has no expected field to train on")
        return field


def load_tasks(cfg: FinetuneConfig, rootdir: Path | None = None) -> list[TaskData]:
    """Load and validate every task's training split and evaluated split."""
    rootdir = rootdir or Path.cwd()
    out: list[TaskData] = []
    seen: set[str] = set()
    for i, task in enumerate(cfg.tasks):
        name = task.suite.name if task.suite.name not in seen else f"{task.suite.name}.{i}"
        seen.add(name)
        display = _display(task.train, rootdir)
        train_suite = dataclasses.replace(task.suite, dataset=task.train, dataset_display=display)
        train = train_suite.samples(task.limit, seed=cfg.training.seed)
        data = TaskData(name, task, display, tuple(train), tuple(task.suite.samples()))
        _ = data.target_field  # fail now, before anything is tokenized
        out.append(data)
    return out


def target_text(value: Any) -> str:
    """What the model should answer: compact JSON for objects, the first of several
    acceptable answers, else the value as text."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return str(value[0])
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def row(suite: Suite, sample: Sample, target_field: str, chat: bool = True) -> dict[str, Any]:
    """One training row for ``sample``; ``chat=False`` for tokenizers without a template."""
    messages = suite.prompt.render(sample)
    target = target_text(sample[target_field])
    if chat:
        return {"prompt": messages, "completion": [{"role": "assistant", "content": target}]}
    return {"prompt": plain_prompt(messages), "completion": " " + target}


def rows(tasks: Iterable[TaskData], chat: bool = True) -> list[dict[str, Any]]:
    return [row(t.suite, s, t.target_field, chat) for t in tasks for s in t.train]


def plain_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The ``hf/`` provider's transcript for a model without a chat template."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join([*lines, "Assistant:"])


def check_contamination(
    tasks: Iterable[TaskData], n: int = 8, threshold: float = 0.5
) -> dict[str, contamination.Report]:
    """Each task's training prompts against the prompts of the split its suite evaluates."""
    reports = {}
    for t in tasks:
        train = contamination.prompt_texts(t.suite.prompt, t.train)
        evals = contamination.prompt_texts(t.suite.prompt, t.eval)
        reports[t.name] = contamination.check(train, evals, n=n, threshold=threshold)
    return reports


def data_files(tasks: Iterable[TaskData]) -> dict[str, dict[str, Any]]:
    """Per task: training and evaluated files with their sha256, and row counts."""
    return {
        t.name: {
            "suite": t.suite.source,
            "train": t.train_display,
            "train_sha256": file_hash(t.config.train),
            "rows": len(t.train),
            "eval": t.suite.dataset_display,
            "eval_sha256": file_hash(t.suite.dataset),
            "eval_samples": len(t.eval),
        }
        for t in tasks
    }


def _display(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
