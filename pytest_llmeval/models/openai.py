"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, transformers serve).

Retries, backoff and ``Retry-After`` handling are the openai SDK's own (``max_retries``).
The API key is read by the SDK from ``OPENAI_API_KEY`` and never leaves this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import openai

from pytest_llmeval.models import ModelSettings
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIModel:
    """Chat completions through ``openai.AsyncOpenAI``, one client (one pool) per process."""

    def __init__(self, settings: ModelSettings) -> None:
        self.spec = settings.spec
        self.name = settings.name
        self.base_url = (
            settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.settings = settings
        self._client: openai.AsyncOpenAI | None = None

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
                max_retries=self.settings.max_retries,
            )
        return self._client

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
            resp = await self._get_client().chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise ModelError(
                f"HTTP {exc.status_code} from {self.base_url}: {_message(exc)}"
            ) from None
        except openai.APITimeoutError:
            raise ModelError(
                f"timed out after {self.settings.timeout:g}s ({self.settings.max_retries} retries) "
                f"at {self.base_url}"
            ) from None
        except openai.APIConnectionError as exc:
            raise ModelError(f"cannot connect to {self.base_url}: {exc.__cause__ or exc}") from None
        except openai.OpenAIError as exc:
            raise ModelError(f"{type(exc).__name__}: {exc}") from None
        latency = (time.perf_counter() - start) * 1000.0
        if not resp.choices:
            raise ModelError(f"{self.base_url} returned no choices")
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_ms=latency,
            model=resp.model or self.name,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc.message)[:300]
