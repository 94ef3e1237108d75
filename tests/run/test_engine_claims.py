"""The engine on its own (no pytest project): how claims hand answers over, and how a
local model's batches are formed while items claim one at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Message
from pytest_llmeval.run.engine import Engine, Request


class BatchModel:
    """A local model's shape: one ``generate`` over many requests, one at a time."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.sizes: list[int] = []
        self.seconds = seconds
        self._lock = asyncio.Lock()

    def identity(self) -> dict[str, Any]:
        return {"provider": "fake", "model": "batch"}

    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        (comp,) = await self.agenerate_batch([(messages, params)])
        return comp

    async def agenerate_batch(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion]:
        async with self._lock:
            self.sizes.append(len(requests))
            await asyncio.sleep(self.seconds)
            return [Completion(text=str(m[-1]["content"])) for m, _ in requests]

    async def aclose(self) -> None:
        pass


def _requests(n: int) -> list[Request]:
    return [
        Request(f"item{i}", [{"role": "user", "content": f"q{i}"}], GenerateParams())
        for i in range(n)
    ]


def _run(model: BatchModel, n: int, *, window: int, batch_size: int) -> Engine:
    engine = Engine(
        lambda: model,
        identity=model.identity,
        concurrency=4,
        window=window,
        cache_mode="off",
        batch_size=batch_size,
    )
    requests = _requests(n)
    engine.plan(requests)
    try:
        for req in requests:  # items claim in plan order, scoring a little in between
            assert engine.result(req).text == req.messages[-1]["content"]
            time.sleep(0.001)
    finally:
        engine.close()
    return engine


def test_batches_stay_whole_while_items_claim_one_at_a_time() -> None:
    """Each claim frees one slot of the window; a block waits for room for a whole batch
    (main started batches of one or two here), and an item whose request is not started
    yet gets its block at once, not a batch of one."""
    model = BatchModel()
    engine = _run(model, 40, window=8, batch_size=8)
    assert sum(model.sizes) == 40
    assert model.sizes == [8] * 5, model.sizes
    assert engine.stats.model_calls == 40 and engine.stats.wasted == 0


def test_the_default_shape_runs_whole_batches_and_a_smaller_tail() -> None:
    """The defaults (window 4 x 16, batch 32): main ran 200 requests as 18 batches, most of
    8 to 10; whole batches now, and one smaller batch at the plan's tail."""
    model = BatchModel()
    _run(model, 200, window=64, batch_size=32)
    assert model.sizes == [32] * 6 + [8], model.sizes


def test_ready_answers_are_claimed_without_the_loop_and_counted() -> None:
    """Answers generated ahead are handed over directly; the loop still counts every one
    as prefetched (claims are settled in bulk, and at close)."""
    model = BatchModel(seconds=0.0)
    engine = _run(model, 30, window=64, batch_size=1)  # batch size 1: one request each
    stats = engine.stats
    assert stats.planned == 30 and stats.prefetched + stats.cold == 30
    assert stats.wasted == 0
