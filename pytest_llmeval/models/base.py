"""The one model protocol: chat messages in, a Completion out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Message = Mapping[str, str]


@dataclass(frozen=True)
class GenerateParams:
    """Generation parameters; every field is part of the response cache key."""

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: str | None = None  # "json_object" where the server supports it

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class Completion:
    """What a model returned for one request."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    model: str = ""
    cached: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)


class ModelError(Exception):
    """A failed model call. ``retryable`` errors (429, 5xx, timeouts, lost connections) are
    retried by the engine, honouring ``retry_after`` (seconds) when the server sent one.

    ``status`` is the HTTP status when there was one; ``timeout`` marks a request that got
    no answer in time. ``fatal`` is set when the run cannot go on: ``"rejected"`` (the
    server refuses this configuration: a bad key, an unknown model, a parameter it rejects)
    or ``"outage"`` (the server is down or stopped answering).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        timeout: bool = False,
        fatal: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.timeout = timeout
        self.fatal = fatal


class Model(Protocol):
    """A model behind a spec string such as ``openai/gpt-4o-mini`` or ``hf/PATH``."""

    spec: str

    def identity(self) -> dict[str, Any]:
        """What distinguishes this model's answers (provider, base URL, revision...); no secrets."""
        ...

    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Generate one completion; raise ModelError when the call fails for good."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
