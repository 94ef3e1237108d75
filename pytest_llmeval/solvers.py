"""Solvers: a sample's own multi-step program, written in Python and run by the engine.

A solver is an ``async def`` registered in a ``conftest.py`` and named by a suite
(``solver: NAME``). It is given the sample and a ``generate`` that sends chat messages to
the model under evaluation through the engine (concurrency, retries, the response cache,
recording), and returns the final answer: a string, the ``Completion`` of its last call,
or None for the last call's answer. The engine runs every sample's solver concurrently.

    from pytest_llmeval import solver

    @solver("plan_then_answer")
    async def plan_then_answer(sample, generate):
        plan = await generate(f"Plan how to answer: {sample['question']}")
        return await generate([
            {"role": "user", "content": sample["question"]},
            {"role": "assistant", "content": plan.text},
            {"role": "user", "content": "Now answer in one word."},
        ])
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion, Message


class Generate(Protocol):
    """What a solver is given: ``await generate(messages, **params)``; ``messages`` is a
    string (one user message) or chat messages; params override the suite's
    (``max_tokens``, ``temperature``, ``tools``...)."""

    def __call__(
        self, messages: str | Sequence[Message], **params: Any
    ) -> Awaitable[Completion]: ...


SolverFn = Callable[["Sample", Generate], Awaitable["str | Completion | None"]]


@dataclass(frozen=True)
class SolverInfo:
    name: str
    fn: SolverFn
    source: str | None  # the file that registered it, so another process can load it


SOLVERS: dict[str, SolverInfo] = {}


def solver(name: str) -> Callable[[SolverFn], SolverFn]:
    """Register an ``async def solver(sample, generate)`` under ``name``."""

    def register(fn: SolverFn) -> SolverFn:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"solver {name!r} must be an async def (it runs on the engine)")
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:
            source = None
        SOLVERS[name] = SolverInfo(name, fn, source)
        return fn

    return register


def solver_names() -> list[str]:
    return sorted(SOLVERS)


def resolve(name: str, source: str | None) -> SolverInfo:
    """The registered solver; in a process that never imported the file that registers it
    (an xdist controller runs the engine, and loads only the conftests of its arguments),
    that file is imported first."""
    found = SOLVERS.get(name)
    if found is None and source and Path(source).is_file():
        module = f"_llmeval_solvers_{abs(hash(source))}"
        spec = importlib.util.spec_from_file_location(module, source)
        if spec is not None and spec.loader is not None:
            mod = importlib.util.module_from_spec(spec)
            sys.modules[module] = mod
            spec.loader.exec_module(mod)
        found = SOLVERS.get(name)
    if found is None:
        raise LookupError(f"unknown solver {name!r} (registered: {', '.join(SOLVERS) or 'none'})")
    return found
