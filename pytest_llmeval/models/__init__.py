"""Model specs (``gpt-4o-mini``, ``openai/NAME``, ``hf/REPO_OR_PATH``, ``NAME/MODEL`` of a
provider of your own) and what a run needs to know about a model before it builds one.

Providers own their declarations (``models/registry.py``); they are imported on first use,
so importing the plugin never imports openai or torch, and a missing extra gives a one-line
install hint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.models import registry
from pytest_llmeval.models.base import Completion, GenerateParams, Model, ModelError
from pytest_llmeval.models.registry import Provider, SpecError

__all__ = [
    "Completion",
    "GenerateParams",
    "Model",
    "ModelError",
    "ModelSettings",
    "Provider",
    "SpecError",
    "check_settings",
    "create_model",
    "identity",
    "parse_spec",
    "split_spec",
]

EMBEDDED_DIR = Path(__file__).resolve().parents[1] / "embedded"
EMBEDDED_DEFAULT = "embedded/default"


DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
TIMEOUT_S = 60.0  # seconds per request
MAX_RETRIES = 4
DTYPES = ("auto", "float32", "bfloat16", "float16")  # local models' weights


@dataclass(frozen=True)
class ModelSettings:
    """Everything needed to build a model in any process (plain data, picklable).

    ``options`` holds the local-model flags that were given, by key: ``load_in_4bit``,
    ``load_in_8bit``, ``adapter``, ``dtype``, ``revision``, ``trust_remote_code``; a
    provider says which it takes (``Provider.options``).
    """

    spec: str
    base_url: str | None = None
    timeout: float = TIMEOUT_S
    max_retries: int = MAX_RETRIES
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return split_spec(self.spec)[0]

    @property
    def name(self) -> str:
        return split_spec(self.spec)[1]


def split_spec(spec: str, flag: str = "--model") -> tuple[str, str]:
    """Split a spec into (provider, name), checking its form only; a bare name such as
    ``gpt-4o-mini`` means OpenAI."""
    spec = spec.strip()
    if not spec:
        raise SpecError(f"{flag}: empty model spec")
    if "/" not in spec:
        return "openai", spec
    provider, _, name = spec.partition("/")
    if not name:
        raise SpecError(f"{flag} {spec!r}: missing model name after {provider!r}/")
    return provider, name


def parse_spec(spec: str, flag: str = "--model") -> tuple[str, str]:
    """``split_spec``, and the provider must be registered (built in or an entry point).

    A pytest run also asks conftest hooks for other providers (``run/providers.py``)."""
    provider, name = split_spec(spec, flag)
    if provider not in registry.BUILTIN and provider not in registry.names():
        raise registry.unknown(spec.strip(), provider, flag)
    return provider, name


def effective_base_url(settings: ModelSettings) -> str:
    """The URL an OpenAI-compatible call goes to: the option, the SDK's env var, or OpenAI."""
    url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_URL
    return url.rstrip("/")


def _provider(settings: ModelSettings, flag: str) -> Provider:
    found = registry.find(settings.provider, settings.spec, flag)
    if found is None:
        raise registry.unknown(settings.spec, settings.provider, flag)
    return found


def identity(settings: ModelSettings) -> dict[str, Any]:
    """What distinguishes a model's answers, from settings alone (its provider says what;
    no model is built). Part of every response cache key; never holds secrets."""
    found = registry.find(settings.provider, settings.spec)
    return found.identify(settings) if found else registry.default_identity(settings)


def check_settings(
    settings: ModelSettings, flag: str = "--model", url_flag: str = "--llmeval-base-url"
) -> None:
    """Catch what would fail on every sample before any test runs: an unknown provider,
    a missing extra, an option the provider does not take, the provider's own checks."""
    _provider(settings, flag).validate(settings, flag, url_flag)


def create_model(settings: ModelSettings, flag: str = "--model") -> Model:
    """Build the registered provider's model object; imports the provider now."""
    return _provider(settings, flag).make(settings, flag)
