"""Adaptive concurrency: slow start, halve on 429, grow back by one slot per round trip
(AIMD), carefully near the level that was rate-limited.

Runs on the engine's event loop; ``observe`` is fed every HTTP response status, including
the ones the openai SDK retries on its own, so the limit reacts before retries pile up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class LimiterStats:
    rate_limited: int = 0
    cuts: int = 0
    min_limit: float = 0.0
    max_in_flight: int = 0


class AdaptiveLimiter:
    """A semaphore whose size moves between 1 and ``maximum``.

    It starts small (``start`` slots) and doubles each round trip while every answer
    succeeds (slow start): a server that caps what it takes in flight is not hit with the
    full concurrency before it has shown that it takes it. A 429 ends slow start and halves
    the limit, once per episode: responses to requests that started before the last cut
    were sent under the old limit and say nothing new. After that each success adds
    ``1/limit`` (one slot per round trip), and four times less close to the level that drew
    the last 429, so a hard cap is probed rarely instead of every few requests.
    """

    def __init__(self, maximum: int, start: int = 4) -> None:
        self.maximum = maximum
        self.limit = float(min(maximum, max(1, start)))
        self.slow_start = self.limit < maximum
        self.ceiling: float | None = None  # the limit at the last 429
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_cut = 0.0
        self.stats = LimiterStats(min_limit=float(maximum))

    @property
    def slots(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self, priority: bool = False) -> None:
        if self.in_flight < self.slots and not self._waiters:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if priority:
            self._waiters.appendleft(fut)
        else:
            self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(fut)
            raise

    def _take(self) -> None:
        self.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.slots:
            fut = self._waiters.popleft()
            if not fut.done():
                self._take()
                fut.set_result(None)

    def observe(self, status: int, started: float) -> None:
        """Feed one HTTP response: ``started`` is when its request was sent (monotonic)."""
        if status == 429:
            self.stats.rate_limited += 1
            if started >= self._last_cut:
                self.ceiling = self.limit
                self.slow_start = False
                self.limit = max(1.0, self.limit / 2)
                self._last_cut = time.monotonic()
                self.stats.cuts += 1
                self.stats.min_limit = min(self.stats.min_limit, self.limit)
        elif status < 400:
            if self.slow_start:
                step = 1.0
                self.slow_start = self.limit + step < self.maximum
            elif self.ceiling is not None and self.limit + 1 >= 0.75 * self.ceiling:
                step = 1.0 / (4 * self.limit)
            else:
                step = 1.0 / self.limit
            self.limit = min(float(self.maximum), self.limit + step)
            self._wake()
