"""Whether a model can still be worked with. A server that refuses this configuration (a bad
key, an unknown model, the same rejected request again and again), that nothing answers, or
that stopped answering, ends the run at once instead of every sample spending its requests
and retries on it. The engine reports each call's outcome here; once ``dead`` is set, it
fails what waits and sends nothing more."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pytest_llmeval.models.base import ModelError

REJECTED, OUTAGE = "rejected", "outage"  # ModelError.fatal: exit 4 (fix it) or 6 (retry)


class Health:
    def __init__(
        self,
        where: Callable[[], str],
        remote: Callable[[], bool],
        on_dead: Callable[[], None],
        *,
        max_retries: int,
        give_up_after: int = 8,
        stall_timeout: float = 120.0,
    ) -> None:
        self._where, self._remote, self._on_dead = where, remote, on_dead
        self.max_retries = max_retries
        self.give_up_after = give_up_after
        self.stall_timeout = stall_timeout
        self.dead: ModelError | None = None
        self.failing_since: float | None = None  # wall time of the first failure since
        self._ever_answered = False
        self._last_answer = time.monotonic()
        self._last_answer_wall: float | None = None
        self._early_rejections: list[str] = []
        self._failures_in_a_row = 0
        self._outstanding = 0  # requests between their first send and their outcome
        self._busy_since = time.monotonic()

    # -- what the engine reports ---------------------------------------------------------
    def sent(self) -> None:
        self._outstanding += 1
        if self._outstanding == 1:
            self._busy_since = time.monotonic()

    def settled(self) -> None:
        self._outstanding -= 1

    def answered(self) -> None:
        self._ever_answered = True
        self._last_answer = time.monotonic()
        self._last_answer_wall = time.time()
        self.failing_since = None
        self._failures_in_a_row = 0

    def failing(self) -> None:
        if self.failing_since is None:
            self.failing_since = time.time()

    def attempt_failed(self, exc: ModelError, last: bool) -> None:
        """Errors that say the run cannot work, whatever the retries would do."""
        self.failing()
        where = self._where()
        if exc.fatal is not None:  # the model itself says the run cannot work
            self.die(exc.fatal, str(exc))
        elif exc.about_tools:
            # one sample's tool schema refused: that sample's error, however many samples
            # before it met the same (a suite's first samples may share a bad tool)
            pass
        elif exc.status in (401, 403):
            self.die(REJECTED, f"{where} refused the request (HTTP {exc.status}): {exc}")
        elif exc.status == 404 and not self._ever_answered:
            self.die(REJECTED, f"{where} does not know this model or endpoint: {exc}")
        elif exc.status is not None and not exc.retryable and not self._ever_answered:
            self._early_rejections.append(str(exc))
            if len(self._early_rejections) >= 3 and len(set(self._early_rejections)) == 1:
                self.die(
                    REJECTED,
                    f"the first {len(self._early_rejections)} requests were all rejected "
                    f"the same way: {exc}",
                )
        elif exc.timeout and not self._ever_answered:
            self.die(OUTAGE, f"no answer from {where} before the request timeout: {exc}")
        elif exc.status is None and last and not self._ever_answered:
            # nothing has ever answered and the connection itself keeps failing: no server
            self.die(OUTAGE, f"{exc} (after {self.max_retries + 1} attempts)")

    def request_failed(self, exc: ModelError, attempts: int) -> None:
        """A request failed for good. A server that fails every request is down: stop after
        a few in a row instead of spending every remaining request's retry budget on it."""
        if not exc.retryable:
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self.give_up_after:
            self.die(
                OUTAGE,
                f"{self._failures_in_a_row} requests in a row failed after {attempts} "
                f"attempts each; last: {exc}",
            )

    async def watch(self, closed: Callable[[], bool]) -> None:
        """A server that accepts requests and never answers: give up after
        ``stall_timeout`` seconds in which requests waited on it and none was answered.
        Only for servers: a local model may rightly take minutes over one batch."""
        while not closed() and self.dead is None:
            await asyncio.sleep(min(1.0, self.stall_timeout / 4))
            if self._outstanding == 0 or not self._remote():
                continue
            silent = time.monotonic() - max(self._last_answer, self._busy_since)
            if silent > self.stall_timeout:
                last = (
                    time.strftime("%H:%M:%S", time.localtime(self._last_answer_wall))
                    if self._last_answer_wall
                    else "none yet"
                )
                self.failing()
                self.die(
                    OUTAGE, f"no answer from {self._where()} for {silent:.0f} s (the last: {last})"
                )

    # -- the verdict -----------------------------------------------------------------------
    def die(self, kind: str, reason: str) -> None:
        if self.dead is None:
            self.dead = ModelError(reason, fatal=kind)
            self._on_dead()

    def error(self) -> ModelError:
        """A fresh error to raise for a request that meets a dead server."""
        assert self.dead is not None
        return ModelError(str(self.dead), fatal=self.dead.fatal)
