"""What to run after training: the ``pytest`` command that evaluates the adapter against
the base model's newest complete run, found through the public ``Results`` API (no
pytest behind it), or the base model's command first when there is none.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from pytest_llmeval.finetune.config import FinetuneConfig
from pytest_llmeval.finetune.data import TaskData


def base_run(cfg: FinetuneConfig, db: Path) -> str | None:
    """The newest complete, whole run of ``hf/<base>`` without an adapter, if any; read
    through the public ``Results`` API (no pytest behind it)."""
    if not db.is_file():
        return None
    from pytest_llmeval import Results
    from pytest_llmeval.store.storage import StoreError

    specs = {f"hf/{cfg.base_model}"}
    if cfg.base_is_local:
        specs.add(f"hf/{Path(cfg.base_model).resolve()}")
    try:
        results = Results(db)
    except StoreError:
        return None
    with results:
        for run in results.runs(limit=None, status="complete"):
            if run.model in specs and not run.partial and not (run.params or {}).get("adapter"):
                return run.id
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
