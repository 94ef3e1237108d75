"""Runs model calls on an asyncio loop in a background thread.

Test items block on a future; the loop owns the model (and its one HTTP connection pool).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from pytest_llmeval.models.base import Completion, GenerateParams, Message, Model

T = TypeVar("T")


class Engine:
    """Owns one model and the event loop its calls run on."""

    def __init__(self, make_model: Callable[[], Model]) -> None:
        self._make_model = make_model
        self._model: Model | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = self._make_model()
        return self._model

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="llmeval-engine", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the engine loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def submit(
        self, messages: Sequence[Message], params: GenerateParams
    ) -> concurrent.futures.Future[Completion]:
        model = self.model
        return self.run(model.agenerate(messages, params))

    def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Blocking call: what the ``model`` fixture uses."""
        return self.submit(messages, params).result()

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._model is not None:
            # Closing is best effort: every result is already recorded.
            with contextlib.suppress(Exception):
                self.run(self._model.aclose()).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None
