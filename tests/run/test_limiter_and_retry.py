from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from pytest_llmeval.models.openai import retry_after
from pytest_llmeval.run.engine import _backoff
from pytest_llmeval.run.limiter import AdaptiveLimiter


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "0.5"}) == 0.5  # not valid HTTP, but seen in the wild
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after({"retry-after": when}) or 0) <= 31
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_backoff_prefers_a_sane_retry_after() -> None:
    assert _backoff(0, 1.5) == 1.5
    assert 0.375 <= _backoff(0, None) <= 0.5
    assert 6.0 <= _backoff(10, None) <= 8.0  # capped
    assert _backoff(1, 3600) <= 1.0  # an absurd Retry-After falls back to backoff


def test_limiter_starts_slow_and_doubles_per_round_trip() -> None:
    lim = AdaptiveLimiter(32)
    assert lim.limit == 4 and lim.slow_start  # the first burst is not the full concurrency
    for _ in range(4):  # one round trip of 4 successes
        lim.observe(200, 0.0)
    assert lim.limit == 8
    for _ in range(24):
        lim.observe(200, 0.0)
    assert lim.limit == 32 and not lim.slow_start


def test_limiter_halves_once_per_episode_and_regrows_carefully() -> None:
    async def scenario() -> AdaptiveLimiter:
        lim = AdaptiveLimiter(16, start=16)
        sent = time.monotonic()
        for _ in range(5):  # five 429s for requests sent before the cut: one cut
            lim.observe(429, sent)
        assert lim.limit == 8 and lim.stats.cuts == 1 and lim.ceiling == 16
        lim.observe(429, time.monotonic() + 1)  # a request sent after the cut
        assert lim.limit == 4 and lim.ceiling == 8
        for _ in range(4):  # one slot per round trip, up to 3/4 of the rate-limited level
            lim.observe(200, 0.0)
        assert lim.limit == pytest.approx(4.92, abs=0.01)
        for _ in range(20):  # then four times slower close to it: 20 successes, one slot
            lim.observe(200, 0.0)
        assert 5.7 < lim.limit < 6.1
        for _ in range(1000):
            lim.observe(200, 0.0)
        assert lim.limit == 16
        return lim

    lim = asyncio.run(scenario())
    assert lim.stats.rate_limited == 6 and lim.stats.min_limit == 4


def test_limiter_bounds_in_flight_and_serves_priority_first() -> None:
    order: list[str] = []

    async def worker(lim: AdaptiveLimiter, name: str, priority: bool = False) -> None:
        await lim.acquire(priority)
        order.append(name)
        await asyncio.sleep(0.01)
        lim.release()

    async def scenario() -> int:
        lim = AdaptiveLimiter(2)
        tasks = [asyncio.create_task(worker(lim, f"n{i}")) for i in range(6)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(worker(lim, "urgent", priority=True)))
        await asyncio.gather(*tasks)
        return lim.stats.max_in_flight

    assert asyncio.run(scenario()) == 2
    assert order[:3] == ["n0", "n1", "urgent"]


def test_cancelled_waiter_leaks_no_slot() -> None:
    async def scenario() -> int:
        lim = AdaptiveLimiter(1)
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lim.release()
        await asyncio.wait_for(lim.acquire(), 1)
        return lim.in_flight

    assert asyncio.run(scenario()) == 1
