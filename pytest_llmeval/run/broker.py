"""One engine for all xdist workers: it lives in the controller and serves them over a
local socket.

Workers cannot see their future items through xdist's public API, and an engine per worker
would multiply the API quota by the worker count, load a local model N times and import
the openai SDK N times. Instead each worker sends its plan (every worker collects the same
items; the first plan wins) and claims results by item id; the controller's engine keeps
one concurrency limit, one cache and one model. Workers are then left with what they are
good at: running test bodies and scorers in parallel.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Sequence
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError
from pytest_llmeval.run.engine import Engine, Request


class Broker:
    """Serves an Engine to worker processes (controller side)."""

    def __init__(self, engines: dict[str, Engine], address: str | None = None) -> None:
        self.engines = engines  # "model", and "judge" when a judge is configured
        self.authkey = secrets.token_bytes(16)
        # A Unix socket in the run's private directory (``address``; else the platform
        # default: multiprocessing's temp dir, a named pipe on Windows), authenticated with
        # a random key.
        self._listener = Listener(address, authkey=self.authkey)
        self.address: Any = self._listener.address
        self._plan_lock = threading.Lock()
        self._planned: set[str] = set()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="llmeval-broker", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                return  # closed
            except Exception:  # a peer that failed authentication: ignore it
                continue
            if self._closing.is_set():  # close()'s wake-up call
                conn.close()
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    op, *args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    reply: tuple[str, Any] = ("ok", self._dispatch(op, args))
                except ModelError as exc:
                    reply = ("model_error", (str(exc), exc.fatal, exc.status))
                except Exception as exc:  # reported to the worker, never silently dropped
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                try:
                    conn.send(reply)
                except (OSError, EOFError):
                    return

    def _dispatch(self, op: str, args: list[Any]) -> Any:
        target, *args = args
        engine = self.engines[target]
        if op == "plan":
            with self._plan_lock:
                # Every worker collected the same items, so the first plan is everyone's.
                if target not in self._planned:
                    self._planned.add(target)
                    engine.plan(args[0])
            return None
        if op == "result":
            return engine.result(args[0])
        if op == "generate":
            return engine.generate(args[0], args[1], *args[2:3])
        raise ValueError(f"unknown broker operation {op!r}")

    def close(self) -> None:
        """Stop accepting, then close. Closing the listening socket does not wake a thread
        blocked in accept() on Linux: its file descriptor could then be reused by the next
        session's listener in this process (pytester runs in-process), which the old
        thread would serve with the old key. So wake it with a connection of our own and
        let it end first."""
        self._closing.set()
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                Client(self.address, authkey=self.authkey).close()
            self._thread.join(timeout=5)
        self._listener.close()


class RemoteEngine:
    """The controller's engine as a worker sees it: the same calls, over the socket."""

    def __init__(
        self,
        address: Any,
        authkey: bytes,
        target: str = "model",
        conn: Connection | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.target = target
        self._conn = conn if conn is not None else Client(address, authkey=authkey)
        self._lock = lock if lock is not None else threading.Lock()

    def sibling(self, target: str) -> RemoteEngine:
        """The broker's other engine (the judge), over the same connection."""
        return RemoteEngine(None, b"", target, self._conn, self._lock)

    def _call(self, *message: Any) -> Any:
        with self._lock:
            self._conn.send(message)
            status, value = self._conn.recv()
        if status == "model_error":
            message, fatal, code = value
            raise ModelError(str(message), fatal=fatal, status=code)
        if status == "error":
            raise RuntimeError(f"llmeval broker: {value}")
        return value

    def plan(self, requests: Sequence[Request]) -> None:
        self._call("plan", self.target, list(requests))

    def result(self, request: Request) -> Completion:
        result: Completion = self._call("result", self.target, request)
        return result

    def generate(
        self, messages: Sequence[Message], params: GenerateParams, repeat: int = 0
    ) -> Completion:
        result: Completion = self._call("generate", self.target, list(messages), params, repeat)
        return result

    def close(self) -> None:
        self._conn.close()

    def summary(self) -> None:
        return None
