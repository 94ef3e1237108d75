"""Checkpoints and ``--resume``: a run that dies keeps what it learned.

Both trainers write a checkpoint every ``training.save_steps`` optimizer steps into
``output_dir/checkpoint-N`` (the weights or the adapter, optimizer, schedule, RNG states,
trainer state with the loss history), keeping the last ``save_total_limit``; SIGTERM
adds one at the step it stops after. The Trainer writes ``trainer_state.json`` last, so
a checkpoint without a readable one (killed while saving) is skipped. Beside it the
module writes ``llmeval_checkpoint.json``: the seconds trained so far (a resumed time
budget goes on from there) and the config (a resumed run names the settings it changed).

``--resume`` continues from the newest complete checkpoint in ``output_dir``. A run
without ``--resume`` refuses an ``output_dir`` that holds a checkpoint of an unfinished
run (no ``manifest.json`` after it, or one that says a signal stopped it): that is the
run a crash left, and starting over would rotate its checkpoints away. Checkpoints of a
finished run are removed first, so that ``--resume`` can never pick up a stale one.

Pure but for the Trainer callback, built from the module object passed in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.finetune.budget import Clock
from pytest_llmeval.finetune.config import FinetuneConfig

PREFIX = "checkpoint-"
NOTES = "llmeval_checkpoint.json"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


class CheckpointError(ValueError):
    """``--resume`` without a checkpoint, or a crashed run's checkpoints in the way."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    trained_s: float | None = None  # None: written before its notes (killed in between)
    config: Mapping[str, Any] | None = None
    counts: Mapping[str, int] = field(default_factory=dict)  # the plain trainer's tokens

    def as_dict(self, shown: str | None = None) -> dict[str, Any]:
        """What the manifest records of a resumed run (``shown``: the path as displayed)."""
        path = shown or str(self.path)
        return {"checkpoint": path, "step": self.step, "trained_s": self.trained_s}


def find(output_dir: Path) -> list[Checkpoint]:
    """The complete checkpoints in ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = _NAME.match(path.name)
        if not match or not path.is_dir():
            continue
        state = _json(path / "trainer_state.json")
        if state is None:
            continue
        notes = _json(path / NOTES) or {}
        found.append(
            Checkpoint(
                path,
                int(state.get("global_step") or match.group(1)),
                notes.get("trained_s"),
                notes.get("config"),
                notes.get("counts") or {},
            )
        )
    return sorted(found, key=lambda c: c.step)


def prepare(cfg: FinetuneConfig, resume: bool) -> tuple[Checkpoint | None, list[Path]]:
    """The checkpoint to resume from (``--resume``), and the stale checkpoints of a
    finished run that a fresh run removes first; CheckpointError, one line, when
    ``--resume`` has nothing to resume or a fresh run would bury a crashed one."""
    out = cfg.output_dir
    found = find(out)
    if resume:
        if not found:
            every = cfg.training.save_steps
            raise CheckpointError(
                f"--resume: no checkpoint in {_shown(out)} to resume from ("
                + (f"one is written every {every} steps" if every else "training.save_steps")
                + ")"
            )
        return found[-1], []
    if found and not finished(out, found[-1]):
        last = found[-1]
        raise CheckpointError(
            f"{_shown(out)} holds {last.path.name} (step {last.step}) of an unfinished run: "
            "pass --resume to continue it, or remove it to start over"
        )
    stale = [p for p in out.iterdir() if _NAME.match(p.name) and p.is_dir()] if found else []
    return None, stale


def finished(output_dir: Path, last: Checkpoint) -> bool:
    """A manifest written after the checkpoint, by a run that was not stopped by a signal."""
    manifest = output_dir / "manifest.json"
    try:
        newer = manifest.stat().st_mtime >= (last.path / "trainer_state.json").stat().st_mtime
    except OSError:
        return False
    return newer and (_json(manifest) or {}).get("stopped") != "signal"


def remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """``a.b: old -> new`` for each setting that differs from the checkpoint's config."""
    if old is None:
        return []
    a, b = _flat(old), _flat(json.loads(json.dumps(new, default=str)))
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]


def callback(
    transformers: Any,
    clock: Clock,
    config: Mapping[str, Any],
    counts: Callable[[], Mapping[str, int]] | None = None,
) -> Any:
    """Writes the notes into each checkpoint (``counts()``: counters to carry on from); on
    SIGTERM (``clock.stopped``), asks for a checkpoint at the step training stops after,
    when checkpoints are on."""

    class CheckpointNotes(transformers.TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            strategy = getattr(args.save_strategy, "value", args.save_strategy)
            if clock.stopped and strategy != "no":
                control.should_save = True
            return control

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if not state.is_world_process_zero:
                return
            path = Path(args.output_dir) / f"{PREFIX}{state.global_step}"
            if path.is_dir():
                notes = {
                    "trained_s": round(clock.elapsed, 3),
                    "config": config,
                    "counts": dict(counts()) if counts else {},
                }
                _write(path / NOTES, notes)

    return CheckpointNotes()


def _write(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # never half a file, whenever the process dies


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)
