"""Response cache keys: everything that can change an answer, and nothing else.

Keyed like Inspect AI's cache (model identity, base URL, params, messages, epoch) so that
two models, two servers or two quantizations of one checkpoint never share an entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmeval.models.base import GenerateParams, Message

MODES = ("auto", "on", "off", "refresh")


def cache_key(
    identity: Mapping[str, Any],
    params: GenerateParams,
    messages: Sequence[Message],
    repeat: int = 0,
) -> str:
    payload = {
        "model": dict(identity),
        "params": params.as_dict(),
        "messages": [dict(m) for m in messages],
        "repeat": repeat,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reads(mode: str, params: GenerateParams) -> bool:
    """``auto`` (the default) serves cached answers only for greedy decoding."""
    return mode == "on" or (mode == "auto" and params.temperature == 0)


def writes(mode: str, params: GenerateParams) -> bool:
    return mode == "refresh" or reads(mode, params)
