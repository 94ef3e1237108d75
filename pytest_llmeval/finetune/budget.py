"""Learning-rate schedules that also run on a wall-clock budget, and the callback that stops
training when the budget is spent.

With ``training.max_time_s`` set, a run's length is a number of seconds, not of steps: the
schedule's progress is the share of the budget used so far (read from the clock at every
optimizer step), warmup is a number of steps (or, below 1, a share of the budget), and
the Trainer stops at the first step that ends past the budget. Without it, progress is
the share of ``max_steps`` done, as Hugging Face's schedulers count it.

``wsd`` (warmup, stable, decay) holds the peak rate and decays it linearly to zero over
the last ``cooldown`` share of the run: with a clock-driven run, the decay starts when
``1 - cooldown`` of the budget is spent, whatever the step count turns out to be. A
budgeted run needs no step estimate and always ends with a fully decayed rate. ``cosine``,
``linear`` and ``constant`` follow the same progress on a budget.

Pure: the Trainer callback and the scheduler are built from the module objects passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BUDGET_SCHEDULES = ("wsd", "cosine", "linear", "constant", "constant_with_warmup")
UNBOUNDED_STEPS = 10**9  # max_steps of a budgeted run without one: the clock ends it


@dataclass
class Clock:
    """Seconds trained: since ``start()``, plus ``before_s`` trained before a resumed
    checkpoint; ``fraction`` of ``budget_s`` (None: no budget)."""

    budget_s: float | None
    now: Callable[[], float] = time.monotonic
    started: float | None = field(default=None)
    stopped: bool = False  # asked to stop (SIGTERM): ends training like a spent budget
    before_s: float = 0.0  # a resumed run: the budget spent up to its checkpoint

    def start(self) -> None:
        if self.started is None:
            self.started = self.now()

    @property
    def elapsed(self) -> float:
        return self.before_s + self.session_s

    @property
    def session_s(self) -> float:
        """Seconds since ``start()`` in this process (``before_s`` left out)."""
        return 0.0 if self.started is None else self.now() - self.started

    def fraction(self) -> float:
        if not self.budget_s:
            return 0.0
        return min(1.0, self.elapsed / self.budget_s)

    @property
    def spent(self) -> bool:
        return bool(self.budget_s) and self.elapsed >= float(self.budget_s or 0.0)


def shape(name: str, progress: float, cooldown: float) -> float:
    """The schedule's multiplier at ``progress`` in [0, 1], warmup aside."""
    p = min(max(progress, 0.0), 1.0)
    if name == "wsd":
        if cooldown <= 0 or p < 1.0 - cooldown:
            return 1.0
        return max(0.0, (1.0 - p) / cooldown)
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    if name == "linear":
        return 1.0 - p
    return 1.0  # constant, constant_with_warmup


def lr_lambda(
    name: str,
    warmup: float,
    cooldown: float,
    clock: Clock | None = None,
    max_steps: int | None = None,
) -> Callable[[int], float]:
    """The multiplier ``LambdaLR`` applies after ``step`` optimizer steps.

    On a budget (``clock`` with ``budget_s``): progress from the clock, warmup in steps
    (1 or more) or as a share of the budget (below 1). Otherwise: progress is
    ``step / max_steps`` and a warmup below 1 is a share of ``max_steps``."""
    timed = clock is not None and bool(clock.budget_s)
    if not timed and not max_steps:
        raise ValueError("a schedule needs max_steps or a time budget")

    def factor(step: int) -> float:
        if timed:
            assert clock is not None
            progress = clock.fraction()
            warm = min(1.0, (step + 1) / warmup) if warmup >= 1 else _share(progress, warmup)
        else:
            assert max_steps
            progress = step / max_steps
            steps = warmup if warmup >= 1 else warmup * max_steps
            warm = min(1.0, (step + 1) / steps) if steps > 0 else 1.0
        if name == "constant":
            warm = 1.0
        return warm * shape(name, progress, cooldown)

    return factor


def _share(progress: float, warmup: float) -> float:
    return 1.0 if warmup <= 0 else min(1.0, max(progress / warmup, 1e-3))


def budget_callback(transformers: Any, clock: Clock) -> Any:
    """Starts ``clock`` when training starts; stops training at the first step that ends
    with the budget spent or a stop asked for (the step in flight is finished, and
    counted)."""

    class TimeBudget(transformers.TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.start()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if clock.spent or clock.stopped:
                control.should_training_stop = True
            return control

    return TimeBudget()


def scheduled(trainer_cls: Any, factor: Callable[[int], Callable[[int], float]]) -> Any:
    """``trainer_cls`` whose scheduler is ``LambdaLR(optimizer, factor(num_training_steps))``:
    the one hook every Trainer version has for it (``create_scheduler``), so no
    version-specific scheduler names or arguments are involved."""
    import torch

    class Scheduled(trainer_cls):  # type: ignore[misc,valid-type]
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if getattr(self, "lr_scheduler", None) is None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or self.optimizer, factor(num_training_steps)
                )
                self._created_lr_scheduler = True
            return self.lr_scheduler  # type: ignore[has-type]

    Scheduled.__name__ = Scheduled.__qualname__ = f"Scheduled{trainer_cls.__name__}"
    return Scheduled
