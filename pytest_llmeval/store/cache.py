"""The response cache, one owner: its keys (everything that can change an answer, and
nothing else), when it is read and written, and its entries in the results database.

Keyed like Inspect AI's cache (model identity, base URL, params, messages, epoch) so that
two models, two servers or two quantizations of one checkpoint never share an entry. The
engine asks ``Lookup`` for answers before it calls a model; the recorder stores new
answers with ``entry``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Message
from pytest_llmeval.result import Call

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


class Lookup:
    """Reads cached answers from the results database (its own connection: the engine
    calls it from its own thread)."""

    def __init__(self, db: Path, mode: str) -> None:
        self.db, self.mode = db, mode

    def __call__(self, keys: list[str]) -> dict[str, Completion]:
        if self.mode in ("off", "refresh") or not self.db.exists():
            return {}
        from pytest_llmeval.store.storage import Store

        store = Store(self.db)
        try:
            found = store.get_cache(keys)
        finally:
            store.close()
        return {key: hit(key, e["response"], e["latency_ms"]) for key, e in found.items()}


def hit(key: str, response: Mapping[str, Any], latency_ms: float | None) -> Completion:
    """A cached answer as a completion: its latency is the lookup's, the model's is kept."""
    return Completion(
        text=response["text"],
        finish_reason=response.get("finish_reason"),
        prompt_tokens=response.get("prompt_tokens"),
        completion_tokens=response.get("completion_tokens"),
        latency_ms=0.0,
        model=response.get("model") or "",
        cached=True,
        metadata={"cache_key": key, "original_latency_ms": latency_ms},
    )


def entry(call: Call, model: str | None, run_id: str | None = None) -> dict[str, Any]:
    """A model's (or judge's) answer as a cache row."""
    assert call.cache_key is not None
    return {
        "key": call.cache_key,
        "model": model or "",
        "latency_ms": call.latency_ms,
        "run_id": run_id,
        "response": call.response(),
    }
