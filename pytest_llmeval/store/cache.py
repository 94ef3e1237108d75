"""The response cache, one owner: its keys (everything that can change an answer, and
nothing else), when it is read and written, and its entries in the results database.

Keyed like Inspect AI's cache (model identity, base URL, params, messages, epoch) so that
two models, two servers or two quantizations of one checkpoint never share an entry. The
engine asks ``Lookup`` for answers before it calls a model; the recorder stores new
answers with ``entry``. Each entry keeps its key's components (``key_parts``: the model
identity, the params, a hash of the messages, the repeat index) beside the key, so
``llmeval cache explain`` can say which of them made a request miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Message
from pytest_llmeval.result import Call, completion_of

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
    return _sha256(payload)


def key_parts(
    identity: Mapping[str, Any],
    params: GenerateParams,
    messages: Sequence[Message],
    repeat: int = 0,
) -> dict[str, Any]:
    """What ``cache_key`` hashes, kept beside the entry (the messages only as their hash:
    the prompt is in the run's results already)."""
    return {
        "identity": dict(identity),
        "params": params.as_dict(),
        "messages_sha": messages_hash(messages),
        "repeat": repeat,
    }


def messages_hash(messages: Sequence[Mapping[str, Any]]) -> str:
    """The hash of a request's messages, as a stored row's ``prompt`` gives them too."""
    return _sha256([dict(m) for m in messages])


def canonical(value: Any) -> str:
    """JSON with sorted keys: what keys hash, and how entries store their components."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def reads(mode: str, params: GenerateParams) -> bool:
    """``auto`` (the default) serves cached answers only for greedy decoding."""
    return mode == "on" or (mode == "auto" and params.temperature == 0)


def writes(mode: str, params: GenerateParams) -> bool:
    return mode == "refresh" or reads(mode, params)


class Lookup:
    """Reads cached answers from the results database (its own connection: the engine
    calls it from its own thread); with ``ttl_days``, an older entry is not read (the
    answer is asked again and overwrites it)."""

    def __init__(self, db: Path, mode: str, ttl_days: float | None = None) -> None:
        self.db, self.mode, self.ttl_days = db, mode, ttl_days

    def __call__(self, keys: list[str]) -> dict[str, Completion]:
        if self.mode in ("off", "refresh") or not self.db.exists():
            return {}
        from pytest_llmeval.store.storage import Store

        store = Store(self.db)
        try:
            found = store.get_cache(keys, max_age_days=self.ttl_days)
        finally:
            store.close()
        return {key: hit(key, e["response"], e["latency_ms"]) for key, e in found.items()}


def hit(key: str, response: Mapping[str, Any], latency_ms: float | None) -> Completion:
    """A cached answer as a completion: its latency is the lookup's, the model's is kept."""
    meta = {"cache_key": key, "original_latency_ms": latency_ms}
    comp: Completion = completion_of(response, 0.0, cached=True, metadata=meta)
    return comp


def entry(call: Call, model: str | None, run_id: str | None = None) -> dict[str, Any]:
    """A model's (or judge's) answer as a cache row, with its key's components."""
    assert call.cache_key is not None
    return {
        "key": call.cache_key,
        "model": model or "",
        "latency_ms": call.latency_ms,
        "run_id": run_id,
        "response": call.response(),
        "parts": dict(call.cache_parts) if call.cache_parts else None,
    }
