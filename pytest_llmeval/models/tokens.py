"""Counting a request's prompt tokens before it is sent: tiktoken's encoding for OpenAI
models where tiktoken is installed, else a stated approximation (4 characters a token, plus
4 tokens a message, which errs high on English)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pytest_llmeval.models.base import Message

APPROX = "approx: 4 characters a token"
PER_MESSAGE = 4  # role and separators, as OpenAI's chat format counts them (about)


@lru_cache(maxsize=32)
def _encoding(model: str) -> Any:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.encoding_for_model(model)
    except KeyError:
        try:
            return tiktoken.get_encoding("o200k_base")
        except Exception:
            return None
    except Exception:  # no network for an encoding file: fall back to the approximation
        return None


def method(spec: str | None) -> str:
    """How prompts of this model are counted: ``tiktoken (ENCODING)`` or the approximation."""
    enc = _encoding(_openai_name(spec)) if _openai_name(spec) else None
    return f"tiktoken ({enc.name})" if enc is not None else APPROX


def count(messages: Sequence[Message], spec: str | None = None) -> int:
    """Prompt tokens of chat messages (tools and parts as their JSON text)."""
    name = _openai_name(spec)
    enc = _encoding(name) if name else None
    total = 3  # the reply's priming
    for m in messages:
        total += PER_MESSAGE
        text = "".join(
            v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in m.items()
            if v is not None
        )
        total += len(enc.encode(text, disallowed_special=())) if enc else math.ceil(len(text) / 4)
    return total


def _openai_name(spec: str | None) -> str | None:
    """The model name tiktoken knows, for OpenAI's own models (a bare name or openai/NAME)."""
    if not spec:
        return None
    provider, _, name = spec.partition("/")
    if not name:
        return provider
    return name if provider == "openai" else None
