"""What OpenAI's API and compatible servers accept: which models are reasoning models, the
parameters they take, and how a server's refusal of a parameter is read.

Pure (no openai import): the runner resolves a suite's params with it before the cache
key is computed, and the OpenAI provider builds and adapts its requests with it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pytest_llmeval.models import DEFAULT_OPENAI_URL, ModelSettings, effective_base_url
from pytest_llmeval.models.base import GenerateParams

# OpenAI's reasoning families (o1, o3, o4-mini, gpt-5, gpt-5.1, codex-mini...): they take
# max_completion_tokens, not max_tokens, and only their default temperature and top_p.
# gpt-5-chat-latest and friends are chat models. A fine-tune ("ft:o4-mini-...:org::id")
# is its base model's family.
_REASONING = re.compile(r"^(o\d+|gpt-5(\.\d+)?|codex-mini)(-|$)")
_CHAT = re.compile(r"-chat(-|$)")

# Fields the provider sets from GenerateParams and may rename or drop when a server
# refuses them. Pass-through fields (reasoning_effort, extra_body) are the user's own
# request: a refusal of one is reported, never silently dropped.
ADAPTABLE = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop"}
)
# `Unsupported parameter: 'max_tokens' is not supported with this model. Use
# 'max_completion_tokens' instead.` (code unsupported_parameter) and `Unsupported value:
# 'temperature' does not support 0.0 with this model. Only the default (1) value is
# supported.` (code unsupported_value); proxies sometimes keep the text but not the code.
_UNSUPPORTED = re.compile(r"Unsupported (parameter|value): '([A-Za-z_]+)'")
_USE_INSTEAD = re.compile(r"Use '([A-Za-z_]+)' instead")


def is_reasoning_model(name: str) -> bool:
    """Whether ``name`` is one of OpenAI's reasoning models (matched by name)."""
    base = name[3:] if name.startswith("ft:") else name
    base = base.split(":", 1)[0].lower()
    return bool(_REASONING.match(base)) and not _CHAT.search(base)


def reasoning_on_openai(settings: ModelSettings | None) -> bool:
    """A known reasoning model on OpenAI's own API: its request is right from the start.
    Other servers (Azure, proxies) get the adapt-once behaviour instead."""
    return (
        settings is not None
        and settings.provider == "openai"
        and effective_base_url(settings) == DEFAULT_OPENAI_URL
        and is_reasoning_model(settings.name)
    )


def effective_params(settings: ModelSettings | None, params: GenerateParams) -> GenerateParams:
    """The params a model really decodes with. A reasoning model on OpenAI's API samples
    at its default temperature (1) and top_p whatever the task's defaults say, so its
    cache key and cache policy say so too; a value the user set is kept (and sent)."""
    if not reasoning_on_openai(settings):
        return params
    temperature = params.temperature if "temperature" in params.explicit else 1.0
    top_p = params.top_p if "top_p" in params.explicit else None
    if (temperature, top_p) == (params.temperature, params.top_p):
        return params
    return replace(params, temperature=temperature, top_p=top_p)


def refused_param(code: str | None, param: str | None, message: str) -> tuple[str, str] | None:
    """``(param, kind)`` when a 4xx says a request field is not accepted: kind is
    ``"parameter"`` (the field itself) or ``"value"`` (this value of it)."""
    found = _UNSUPPORTED.search(message or "")
    if code in ("unsupported_parameter", "unsupported_value") and param:
        return param, code.removeprefix("unsupported_")
    if found:
        return found.group(2), found.group(1)
    return None


def replacement(param: str, message: str) -> str | None:
    """The field to send instead of ``param``, when the server names one (or we know it)."""
    found = _USE_INSTEAD.search(message or "")
    if found and found.group(1) != param:
        return found.group(1)
    return "max_completion_tokens" if param == "max_tokens" else None


def refuses_format(
    fmt: str, status: int, code: str | None, param: str | None, message: str
) -> bool:
    """Whether an error refuses ``response_format`` of type ``fmt``: OpenAI's 400 names the
    param; older llama.cpp answers 500 ``response_format type must be one of "text" or
    "json_object", but got: json_schema``; vLLM and others name it in the message."""
    text = (message or "").lower()
    if "invalid schema" in text:  # this one schema, not the feature: the sample's error
        return False
    if status >= 500 and "response_format" not in text:
        return False
    if param == "response_format" or code in ("response_format_unsupported",):
        return True
    return "response_format" in text or (fmt in text and "schema" in text)


def public_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as the run stores it: no model or messages, a schema by its
    strictness only and tools by their number (each sample may send its own)."""
    out = {k: v for k, v in body.items() if k not in ("model", "messages")}
    if isinstance(out.get("tools"), list):
        out["tools"] = len(out["tools"])
    fmt = out.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema") or {}
        out["response_format"] = {"type": "json_schema", "strict": bool(inner.get("strict"))}
    return out
