"""The ``openai/`` provider's declaration: OpenAI's API and any OpenAI-compatible server.

It lives apart from ``models/openai.py``, which imports the openai SDK at import time:
every process checks the model before tests run, and xdist workers, which never call the
model themselves, must not pay for that import.
"""

from __future__ import annotations

import os
from typing import Any

from pytest_llmeval.models import ModelSettings, SpecError, effective_base_url
from pytest_llmeval.models.base import Model
from pytest_llmeval.models.registry import Provider


def _build(settings: ModelSettings) -> Model:
    from pytest_llmeval.models.openai import OpenAIModel

    return OpenAIModel(settings)


def _identity(settings: ModelSettings) -> dict[str, Any]:
    return {"provider": "openai", "model": settings.name, "base_url": effective_base_url(settings)}


def _check(settings: ModelSettings, flag: str, url_flag: str) -> None:
    local = settings.base_url or os.environ.get("OPENAI_BASE_URL")
    if not local and not os.environ.get("OPENAI_API_KEY"):
        raise SpecError(
            f"{flag} {settings.spec!r}: OPENAI_API_KEY is not set (for a local "
            f"OpenAI-compatible server pass {url_flag} http://HOST:PORT/v1)"
        )


PROVIDER = Provider(
    "openai", build=_build, identity=_identity, check=_check, requires={"openai": "openai"}
)
