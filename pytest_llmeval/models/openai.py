"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, transformers serve).

Requests go through the openai SDK (auth, transport, timeouts, error types); failures come
back as ModelErrors marked retryable, with the server's ``Retry-After``, and the engine
retries them.
The API key is read by the SDK from ``OPENAI_API_KEY`` and never leaves this module.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import openai

from pytest_llmeval.models import DEFAULT_OPENAI_URL as DEFAULT_BASE_URL
from pytest_llmeval.models import ModelSettings, effective_base_url
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError


class OpenAIModel:
    """Chat completions through ``openai.AsyncOpenAI``, one client (one pool) per process."""

    def __init__(self, settings: ModelSettings) -> None:
        self.spec = settings.spec
        self.name = settings.name
        self.base_url = effective_base_url(settings)
        self.settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self._listeners: list[Callable[[int, float], None]] = []

    def add_status_listener(self, listener: Callable[[int, float], None]) -> None:
        """Call ``listener(status, sent_at)`` for every HTTP response, retries included.

        The engine's adaptive limiter uses it to see 429s that the SDK then retries itself.
        """
        self._listeners.append(listener)

    def identity(self) -> dict[str, Any]:
        return {"provider": "openai", "model": self.name, "base_url": self.base_url}

    def _get_client(self) -> openai.AsyncOpenAI:
        # Created lazily inside the engine's event loop: the client binds to the loop.
        if self._client is None:
            key = os.environ.get("OPENAI_API_KEY")
            if key is None and self.base_url != DEFAULT_BASE_URL:
                key = "unused"  # local servers ignore it, but the SDK insists on one
            self._client = openai.AsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                timeout=self.settings.timeout,
                # Retries happen in the engine, which gives the concurrency slot back while
                # it waits: SDK retries would hold it and defeat the adaptive limit.
                max_retries=0,
                http_client=self._http_client(),
            )
        return self._client

    def _http_client(self) -> Any:
        hooks: dict[str, list[Callable[..., Any]]] = {
            "request": [self._on_request],
            "response": [self._on_response],
        }
        try:
            # The SDK's aiohttp transport costs about a third less CPU per request than
            # its default httpx one, which matters at hundreds of requests per second.
            return openai.DefaultAioHttpClient(event_hooks=hooks)
        except RuntimeError:  # openai without its aiohttp extra
            return openai.DefaultAsyncHttpxClient(event_hooks=hooks)

    async def _on_request(self, request: Any) -> None:
        request.extensions["llmeval_sent"] = time.monotonic()

    async def _on_response(self, response: Any) -> None:
        sent = response.request.extensions.get("llmeval_sent", 0.0)
        for listener in self._listeners:
            listener(response.status_code, sent)

    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": [dict(m) for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.response_format:
            kwargs["response_format"] = {"type": params.response_format}
        start = time.perf_counter()
        try:
            # The SDK's documented low-level call: its auth, transport, timeouts and error
            # types, without the per-request typed transform of the params and the pydantic
            # model of the reply, which cost more CPU than the HTTP call itself (profiled:
            # ~60% of the client's time at 0 ms server latency).
            data: Any = await self._get_client().post(
                "/chat/completions", body=kwargs, cast_to=object
            )
        except openai.APIStatusError as exc:
            status = exc.status_code
            raise ModelError(
                f"HTTP {status} from {self.base_url}: {_message(exc)}",
                retryable=status in (408, 409, 429) or status >= 500,
                retry_after=retry_after(exc.response.headers),
                status=status,
            ) from None
        except openai.APITimeoutError as exc:
            # The aiohttp transport reports a refused connection as a connect timeout, so
            # say what actually happened when the cause is known.
            cause = exc.__cause__
            if cause is not None and "connect" in type(cause).__name__.lower():
                raise ModelError(
                    f"cannot connect to {self.base_url}: {one_line(str(cause))}", retryable=True
                ) from None
            why = f"{type(cause).__name__}: {cause}" if cause else "no response"
            raise ModelError(
                f"no answer within the {self.settings.timeout:g} s request timeout from "
                f"{self.base_url} ({one_line(why)})",
                retryable=True,
                timeout=True,
            ) from None
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"cannot connect to {self.base_url}: {exc.__cause__ or exc}", retryable=True
            ) from None
        except openai.OpenAIError as exc:
            raise ModelError(f"{type(exc).__name__}: {exc}") from None
        latency = (time.perf_counter() - start) * 1000.0
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (TypeError, KeyError, IndexError, AttributeError):
            raise ModelError(
                f"{self.base_url} returned no usable choice: {str(data)[:200]}"
            ) from None
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_ms=latency,
            model=data.get("model") or self.name,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After``
    (seconds, fractional accepted, or an HTTP date)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def _message(exc: openai.APIStatusError) -> str:
    """The server's own reason, on one line: OpenAI and llama.cpp put it in
    ``error.message``, vLLM in ``message``, TGI and Ollama in ``error`` (a string), FastAPI
    servers such as ``transformers serve`` in ``detail``; else the body's text."""
    reason = server_reason(exc.body)
    if reason is None:
        try:
            reason = exc.response.text
        except Exception:  # a streamed body that cannot be read again
            reason = None
    return one_line(reason or str(exc.message))


def server_reason(body: Any) -> str | None:
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        err = err.get("message") or err.get("detail")
    for value in (err, body.get("message"), body.get("detail")):
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:  # FastAPI validation errors
            return "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v) for v in value)
    return None


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
