#!/usr/bin/env python3
"""A small, fast, scriptable OpenAI-compatible chat-completions server for tests and benchmarks.

Run it as a program::

    python tests/llm_server.py --port 0 --latency-ms 50 --script replies.json

It prints exactly one line ``LISTENING <port>`` on stdout once it accepts connections and serves
until SIGTERM/SIGINT.  Or drive it from Python (no aiohttp/openai import in the test process)::

    with LLMServer(latency_ms=5) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        server.configure(script={"replies": {"2+2?": "4"}}, error_rate=0.1)
        ...
        server.stats(), server.requests(), server.reset()

Endpoints: ``POST /v1/chat/completions`` (``stream`` supported), ``GET /v1/models``,
``GET /health`` and the control API under ``/_control/`` (``config`` GET/POST, ``reset`` POST,
``stats`` GET, ``requests`` GET).

Script format (all parts optional)::

    {"default": "fallback reply" | null,
     "replies": {"<exact last user message>": "reply",
                 "sha256:<hex digest of the last user message>": "reply",
                 "<other>": ["1st reply", "2nd reply", "last one repeats"],
                 "tool:<exact content of the last tool result>": "reply",
                 "tool:sha256:<hex digest of that content>": "reply",
                 "messages:sha256:<hex>": "reply to this whole conversation"},
     "models": {"model-a": {"default": ..., "replies": {...}}}}

A turn is named by the last user message, or by the last tool result when the conversation
ends with one (a ``tool`` message: what a tool returned, fed back). Lookup order, in each
scope: the whole conversation (``messages:sha256:`` keys, digest by
``llm_server_tools.conversation_key(messages)``: roles, texts, names and calls, not call ids),
the turn's text, the turn's digest. Scopes: ``models[model].replies``,
``models[model].default``, top-level ``replies``, top-level ``default`` (which answers tool
turns too); when nothing matches, the turn's text is echoed. A reply is a string, ``null``
(echo), a list of replies (successive requests with that key; the last one repeats) or an
object ``{"content": str | null, "tool_calls": [{"name": str, "arguments": object | str,
"id": str}], "finish_reason": str, "delay_ms": float, "status": int, "message": str, "hang":
bool, "close": bool, "body": object | str}`` for tool calls and per-prompt faults (``body``:
an error status's body verbatim, another server's error shape).

Tool calls: ``tool_calls`` are answered in OpenAI's shape (``call_`` ids that follow from the
conversation, so the same conversation gets the same ids; ``type: function``; arguments as
compact JSON text, or a string as written; ``content`` null unless scripted; finish_reason
``tool_calls``), streamed as OpenAI streams them. They are answered only when the request
offers ``tools``: with ``tool_choice: "none"`` or no tools, the reply's ``content`` (else the
echo) is answered instead; a named ``tool_choice`` keeps that function's calls (or calls it
with ``{}``); ``"required"`` calls the first tool with ``{}`` when only text was scripted;
``parallel_tool_calls: false`` keeps the first call. Calls are not cut by ``max_tokens``.
A multi-turn script, for instance::

    {"replies": {"Weather in Paris?": {"tool_calls": [
                     {"name": "get_weather", "arguments": {"city": "Paris"}}]},
                 "tool:{\"temp_c\": 21}": "It is 21 C in Paris."}}

``validate_tools`` (default on) checks ``tools``, ``tool_choice`` and the tool turns of
``messages`` as OpenAI does and refuses malformed ones with its 400 bodies
(tests/llm_server_tools.py, with their sources): a name outside ``^[a-zA-Z0-9_-]+$``, a
missing ``type``/``function``/``name``, ``parameters`` that are not an object schema or use a
type outside JSON Schema's (BFCL's ``dict``, ``float``, ``tuple``), a strict function's schema
that is not closed, ``tool_choice`` without tools, arguments sent back as an object, a tool
message that answers no call, a call left unanswered.

OpenAI's API, closely: ``reasoning_models`` (fnmatch patterns such as ``o*``, ``gpt-5*``)
serves those models as OpenAI serves its reasoning models, with its exact 400 bodies for
``max_tokens`` (``unsupported_parameter``: use ``max_completion_tokens``), a
``temperature`` other than 1 (``unsupported_value``), ``top_p`` and the penalties, and an
unknown ``reasoning_effort``; any other model then refuses ``reasoning_effort``. A
reasoning model spends ``reasoning_tokens`` of ``max_completion_tokens`` before its reply
(reported in ``usage.completion_tokens_details``). ``response_formats`` lists the
``response_format`` types accepted (default all three); another is refused as OpenAI
does for a model without it (400, ``param: response_format``) or, with
``format_error="llama.cpp"``, as llama.cpp's server did before it took json_schema (a
500). An accepted ``json_schema`` needs a valid ``name`` and a ``schema``, and in strict
mode every object closed with every property required (OpenAI's 400 otherwise).

Order of checks for a chat request: ``exit_after`` (the process exits at request N+1, as if
killed) -> api key (401) -> JSON/shape (400) -> reasoning model parameters, tools and tool
turns, and ``response_format`` (400, or llama.cpp's 500) -> ``max_inflight`` (429) -> ``fail_first`` (500)
-> ``error_rate`` -> ``hang``/``hang_after`` (never answer, from the start or once N requests
were answered)/``close`` -> scripted reply -> latency.
Injected errors (everything before the scripted reply) are answered immediately; scripted
replies, including scripted error statuses, wait ``latency_ms`` (+ jitter) first.  Every injected
429 or 5xx carries ``Retry-After: <retry_after>`` (unless it is null) and ``retry-after-ms``
when configured.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import fnmatch
import hashlib
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from llm_server_tools import (
    answer_calls,
    check_calls,
    choose_calls,
    conversation_key,
    messages_refusal,
    strict_problem,
    text_of,
    tools_refusal,
)

if TYPE_CHECKING:
    from types import TracebackType

    from aiohttp import web

DEFAULT_MODEL = "test-model"
MAX_RECORDED = 10_000

#: Every runtime setting and its default.  ``LLMServer(**settings)``, ``.configure(**settings)``
#: and the command-line options all use these names.
DEFAULT_SETTINGS: dict[str, Any] = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "script": None,
    "error_rate": 0.0,
    "error_codes": [500, 429],
    "retry_after": 0,
    "retry_after_ms": None,
    "max_inflight": 0,
    "fail_first": 0,
    "api_key": None,
    "seed": 0,
    "hang": False,
    "close": False,
    "hang_after": 0,
    "exit_after": 0,
    "reasoning_models": [],
    "reasoning_tokens": 0,
    "response_formats": ["text", "json_object", "json_schema"],
    "format_error": "openai",
    "validate_tools": True,
}
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
FORMAT_ERRORS = ("openai", "llama.cpp")
# What OpenAI's API refuses for a reasoning model besides max_tokens and temperature.
_REASONING_UNSUPPORTED = (
    "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias"
)  # fmt: skip
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout", None),
    409: ("conflict", None),
    429: ("requests", "rate_limit_exceeded"),
}
_SCRIPT_KEYS = {"default", "replies", "models"}
_REPLY_KEYS = {
    "content", "tool_calls", "finish_reason", "delay_ms", "status", "message", "hang", "close",
    "body",
}  # fmt: skip
# script keys that name a turn by a digest: of the last user message, of the last tool result,
# of the whole conversation (conversation_key)
_HASHED = ("sha256:", "tool:sha256:", "messages:sha256:")
_WORD = re.compile(r"\S+")
_PIECE = re.compile(r"\s*\S+")


# --------------------------------------------------------------------------------------------
# settings and scripts (pure Python, shared by the server and the helper)
# --------------------------------------------------------------------------------------------


def _check_reply(value: Any, where: str, *, allow_list: bool = True) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, list) and allow_list:
        if not value:
            raise ValueError(f"{where}: a reply list must not be empty")
        for i, item in enumerate(value):
            _check_reply(item, f"{where}[{i}]", allow_list=False)
        return
    if isinstance(value, dict):
        unknown = set(value) - _REPLY_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown reply keys {sorted(unknown)}")
        if "content" in value and not isinstance(value["content"], str | None):
            raise ValueError(f"{where}: 'content' must be a string")
        if "status" in value and not isinstance(value["status"], int):
            raise ValueError(f"{where}: 'status' must be an integer")
        if "tool_calls" in value:
            check_calls(value["tool_calls"], where)
        return
    raise ValueError(f"{where}: a reply must be a string, null, a list or an object")


def _check_scope(scope: Any, where: str) -> None:
    if not isinstance(scope, dict):
        raise ValueError(f"{where} must be an object")
    _check_reply(scope.get("default"), f"{where}.default")
    replies = scope.get("replies", {})
    if not isinstance(replies, dict):
        raise ValueError(f"{where}.replies must be an object")
    for key, value in replies.items():
        _check_reply(value, f"{where}.replies[{key!r}]")


def load_script(script: Any) -> dict[str, Any] | None:
    """Validate a script given as a dict, a JSON file path or None; return the dict."""
    if script is None:
        return None
    if isinstance(script, str | os.PathLike):
        script = json.loads(Path(script).read_text(encoding="utf-8"))
    if not isinstance(script, dict):
        raise ValueError("a script must be a JSON object")
    unknown = set(script) - _SCRIPT_KEYS
    if unknown:
        raise ValueError(f"unknown script keys {sorted(unknown)}; expected {sorted(_SCRIPT_KEYS)}")
    _check_scope(script, "script")
    models = script.get("models", {})
    if not isinstance(models, dict):
        raise ValueError("script.models must be an object")
    for name, scope in models.items():
        if not isinstance(scope, dict) or set(scope) - {"default", "replies"}:
            raise ValueError(f"script.models[{name!r}] must be an object with default/replies")
        _check_scope(scope, f"script.models[{name!r}]")
    return script


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be an integer or null")
    number = int(value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0")
    return number


def normalize_settings(updates: dict[str, Any]) -> dict[str, Any]:
    """Validate and coerce a (partial) settings mapping; raise ValueError on a bad one."""
    unknown = set(updates) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    out: dict[str, Any] = {}
    for name, value in updates.items():
        if name in ("latency_ms", "jitter_ms"):
            number = float(value or 0)
            if number < 0:
                raise ValueError(f"{name} must be >= 0")
            out[name] = number
        elif name == "error_rate":
            rate = float(value or 0)
            if not 0.0 <= rate <= 1.0:
                raise ValueError("error_rate must be within [0, 1]")
            out[name] = rate
        elif name == "error_codes":
            if isinstance(value, str):
                value = [part for part in value.split(",") if part.strip()]
            if isinstance(value, int):
                value = [value]
            codes = [int(code) for code in value]
            if not codes or any(not 400 <= code <= 599 for code in codes):
                raise ValueError("error_codes must be a non-empty list of 4xx/5xx codes")
            out[name] = codes
        elif name in ("retry_after", "retry_after_ms"):
            out[name] = _opt_int(value, name)
        elif name in ("max_inflight", "fail_first", "hang_after", "exit_after"):
            out[name] = _opt_int(value, name) or 0
        elif name == "seed":
            out[name] = int(value or 0)
        elif name == "api_key":
            out[name] = str(value) if value else None
        elif name in ("hang", "close", "validate_tools"):
            out[name] = bool(value)
        elif name == "script":
            out[name] = load_script(value)
        elif name == "reasoning_models":
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("reasoning_models must be a list of model name patterns")
            out[name] = list(value)
        elif name == "reasoning_tokens":
            out[name] = _opt_int(value, name) or 0
        elif name == "response_formats":
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            unknown = set(value) - set(RESPONSE_FORMATS)
            if unknown:
                raise ValueError(f"response_formats: unknown {sorted(unknown)}")
            out[name] = list(value)
        elif name == "format_error":
            if value not in FORMAT_ERRORS:
                raise ValueError(f"format_error must be one of {list(FORMAT_ERRORS)}")
            out[name] = value
    return out


def is_reasoning(model: str, patterns: list[str]) -> bool:
    """Whether ``model`` is served as one of OpenAI's reasoning models (fnmatch patterns)."""
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    """OpenAI's error body, exactly."""
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def reasoning_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """What OpenAI's API answers (400) to a chat request a reasoning model does not take,
    or None: max_tokens, a temperature other than 1, top_p and the penalties, an unknown
    reasoning_effort."""
    if "max_tokens" in body:
        return openai_error(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return openai_error(
            f"Unsupported value: 'temperature' does not support {json.dumps(temperature)} "
            "with this model. Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    for name in _REASONING_UNSUPPORTED:
        if name in body:
            return openai_error(
                f"Unsupported parameter: '{name}' is not supported with this model.",
                name,
                "unsupported_parameter",
            )
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in _REASONING_EFFORTS:
        return openai_error(
            f"Invalid value: {json.dumps(effort)}. Supported values are: 'minimal', 'low', "
            "'medium', and 'high'.",
            "reasoning_effort",
            "invalid_value",
        )
    return None


def format_refusal(body: dict[str, Any], accepted: list[str], style: str) -> tuple[int, Any] | None:
    """(status, body) for a response_format this server does not take, or for a json_schema
    OpenAI would refuse (no name or schema; in strict mode, an object that is not closed or
    does not require every property); None when it is fine."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in accepted:
        if style == "llama.cpp":  # its server before json_schema support: a 500
            message = (
                f'response_format type must be one of "text" or "json_object", but got: {kind}'
            )
            return 500, {"error": {"code": 500, "message": message, "type": "server_error"}}
        return 400, openai_error(
            f"Invalid parameter: 'response_format' of type '{kind}' is not supported with "
            "this model.",
            "response_format",
            None,
        )
    if kind != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return 400, openai_error(
            "Missing required parameter: 'response_format.json_schema.schema'.",
            "response_format.json_schema.schema",
            "missing_required_parameter",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        return 400, openai_error(
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "response_format.json_schema.name",
            "invalid_value",
        )
    if spec.get("strict"):
        problem = strict_problem(spec["schema"])
        if problem is not None:
            return 400, openai_error(
                f"Invalid schema for response_format '{name}': {problem}",
                "response_format",
                None,
            )
    return None


def _truncate_words(text: str, max_words: int) -> tuple[str, int, bool]:
    """Cut ``text`` after ``max_words`` words; return (text, word count, truncated)."""
    matches = _WORD.findall(text)
    if len(matches) <= max_words:
        return text, len(matches), False
    if max_words <= 0:
        return "", 0, True
    end = 0
    for i, match in enumerate(_WORD.finditer(text)):
        if i == max_words - 1:
            end = match.end()
            break
    return text[:end], max_words, True


# --------------------------------------------------------------------------------------------
# the aiohttp server (aiohttp is only imported by run_server / the program)
# --------------------------------------------------------------------------------------------


class _App:
    """All server state plus the request handlers."""

    def __init__(self, settings: dict[str, Any], web_module: Any) -> None:
        self.web = web_module
        self.startup = copy.deepcopy(settings)
        self.settings: dict[str, Any] = {}
        self.counter = 0
        self.in_flight = 0
        self._apply_settings(copy.deepcopy(settings))
        self._clear_state()

    # ---- state -------------------------------------------------------------------------

    def _apply_settings(self, new: dict[str, Any]) -> None:
        self.settings.update(new)
        if "seed" in new:
            self._seed_rngs()
        if "script" in new:
            self._compile_script()

    def _seed_rngs(self) -> None:
        seed = self.settings["seed"]
        self.error_rng = random.Random(seed)
        self.jitter_rng = random.Random(f"jitter-{seed}")

    def _compile_script(self) -> None:
        script = self.settings["script"] or {}
        models = script.get("models") or {}
        self.model_scopes: dict[str, tuple[dict[str, Any], frozenset[str]]] = {
            name: self._compile_replies(scope.get("replies")) for name, scope in models.items()
        }
        self.model_defaults = {name: scope.get("default") for name, scope in models.items()}
        self.top_scope = self._compile_replies(script.get("replies"))
        self.top_default = script.get("default")
        self.model_names = list(models) or [DEFAULT_MODEL]

    @staticmethod
    def _compile_replies(
        replies: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The reply table (digests in lower case) and which digest kinds it holds."""
        table: dict[str, Any] = {}
        hashed: set[str] = set()
        for key, value in (replies or {}).items():
            prefix = next((p for p in _HASHED if key.startswith(p)), None)
            if prefix is not None:
                key = prefix + key[len(prefix) :].strip().lower()
                hashed.add(prefix)
            table[key] = value
        return table, frozenset(hashed)

    def _clear_state(self) -> None:
        self.started = time.time()
        self.total = 0
        self.answered = 0
        self.by_model: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()
        self.injected: collections.Counter[str] = collections.Counter()
        self.max_in_flight = self.in_flight
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.streamed = 0
        self.recorded: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_RECORDED)
        self.attempts: dict[str, int] = {}
        self.sequence: dict[tuple[str, str], int] = {}

    def reset(self) -> None:
        self.settings = {}
        self._apply_settings(copy.deepcopy(self.startup))
        self._clear_state()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "by_model": dict(self.by_model),
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "injected": dict(self.injected),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "streamed": self.streamed,
            "distinct_bodies": len(self.attempts),
            "uptime_s": round(time.time() - self.started, 3),
        }

    # ---- responses ---------------------------------------------------------------------

    def _json(self, payload: Any, status: int = 200) -> web.Response:
        response: web.Response = self.web.Response(
            body=json.dumps(payload).encode(), status=status, content_type="application/json"
        )
        return response

    def _error(
        self, status: int, message: str, *, retry: bool = False, code: str | None = None
    ) -> web.Response:
        err_type, default_code = _ERROR_TYPES.get(
            status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
        )
        body = {
            "error": {
                "message": message,
                "type": err_type,
                "param": None,
                "code": code or default_code or err_type,
            }
        }
        response = self._json(body, status)
        if retry and (status == 429 or status >= 500):
            retry_after = self.settings["retry_after"]
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
            retry_after_ms = self.settings["retry_after_ms"]
            if retry_after_ms is not None:
                response.headers["retry-after-ms"] = str(retry_after_ms)
        return response

    # ---- chat completions --------------------------------------------------------------

    def _resolve(self, model: str, text: str, tool_turn: bool, messages: list[Any]) -> Any:
        """The scripted reply for a turn (a string, None for echo, or a reply object):
        ``text`` is the last user message's, or with ``tool_turn`` the last tool result's."""
        prefix = "tool:" if tool_turn else ""
        keys: dict[str, str] = {}  # digest kind -> key, made when a table has that kind

        def key_for(kind: str) -> str:
            if kind not in keys:
                if kind == "messages:sha256:":
                    keys[kind] = conversation_key([m for m in messages if isinstance(m, dict)])
                else:
                    keys[kind] = kind + hashlib.sha256(text.encode()).hexdigest()
            return keys[kind]

        scopes: list[tuple[str, tuple[dict[str, Any], frozenset[str]]]] = []
        model_scope = self.model_scopes.get(model)
        if model_scope is not None:
            scopes.append((f"models/{model}", model_scope))
        for i, (name, (table, hashed)) in enumerate([*scopes, ("", self.top_scope)]):
            if table:
                # the whole conversation first, then the turn by its text, then by its digest
                candidates = [key_for(k) for k in ("messages:sha256:",) if k in hashed]
                candidates.append(prefix + text)
                digest = prefix + "sha256:"
                if digest in hashed:
                    candidates.append(key_for(digest))
                key = next((k for k in candidates if k in table), None)
                if key is not None:
                    return self._pick(name, key, table[key])
            if i == 0 and model_scope is not None:
                default = self.model_defaults.get(model)
                if default is not None:
                    return self._pick(name, "\x00default", default)
        if self.top_default is not None:
            return self._pick("", "\x00default", self.top_default)
        return None

    def _pick(self, scope: str, key: str, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        index = self.sequence.get((scope, key), 0)
        self.sequence[(scope, key)] = index + 1
        return value[min(index, len(value) - 1)]

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.total += 1
        exit_after = self.settings["exit_after"]
        if exit_after and self.total > exit_after:
            os._exit(0)  # as if killed: open connections drop, new ones are refused
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        auth = request.headers.get("Authorization")
        entry: dict[str, Any] = {
            "seq": self.total,
            "time": time.time(),
            "path": request.path,
            "body": None,
            "headers": headers,
            "authorization": auth is not None,
            "status": None,
        }
        self.recorded.append(entry)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            entry["raw"] = raw[:10_000].decode("utf-8", "replace")
            body = None
        entry["body"] = body
        model = body.get("model") if isinstance(body, dict) else None
        if isinstance(model, str):
            self.by_model[model] += 1
        response = self._reject(body, auth)
        if response is not None:
            return self._finish(entry, response)
        assert isinstance(body, dict)
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            return self._finish(entry, await self._complete(request, body, entry))
        finally:
            self.in_flight -= 1

    def _finish(self, entry: dict[str, Any], response: web.StreamResponse) -> web.StreamResponse:
        entry["status"] = response.status
        self.by_status[response.status] += 1
        if not response.prepared:
            response.headers["x-request-id"] = f"req_{entry['seq']:012x}"
        return response

    def _reject(self, body: Any, auth: str | None) -> web.Response | None:
        """Errors answered before the request counts as in flight."""
        settings = self.settings
        api_key = settings["api_key"]
        if api_key is not None and auth != f"Bearer {api_key}":
            self.injected["auth"] += 1
            return self._error(401, "Incorrect API key provided.")
        if not isinstance(body, dict):
            return self._error(400, "The request body is not a JSON object.")
        if not isinstance(body.get("model"), str):
            return self._error(400, "you must provide a model parameter", code="missing_model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "'messages' must be a non-empty array", code="bad_messages")
        if settings["reasoning_models"]:  # OpenAI's API: reasoning models and chat models
            if is_reasoning(body["model"], settings["reasoning_models"]):
                refusal = reasoning_refusal(body)
            elif "reasoning_effort" in body:
                refusal = openai_error(
                    "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                    "reasoning_effort",
                    "unsupported_parameter",
                )
            else:
                refusal = None
            if refusal is not None:
                self.injected["reasoning"] += 1
                return self._json(refusal, 400)
        if settings["validate_tools"]:
            refusal = tools_refusal(body) or messages_refusal(messages)
            if refusal is not None:
                self.injected["tools"] += 1
                return self._json(refusal, 400)
        refused = format_refusal(body, settings["response_formats"], settings["format_error"])
        if refused is not None:
            self.injected["response_format"] += 1
            return self._json(refused[1], refused[0])
        max_inflight = settings["max_inflight"]
        if max_inflight and self.in_flight >= max_inflight:
            self.injected["max_inflight"] += 1
            return self._error(
                429, f"Rate limit reached: more than {max_inflight} requests in flight", retry=True
            )
        return None

    async def _complete(
        self, request: web.Request, body: dict[str, Any], entry: dict[str, Any]
    ) -> web.StreamResponse:
        settings = self.settings
        model: str = body["model"]
        messages: list[Any] = body["messages"]
        fail_first = settings["fail_first"]
        if fail_first:
            key = hashlib.sha256(
                json.dumps([model, messages], sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            attempt = self.attempts.get(key, 0) + 1
            self.attempts[key] = attempt
            if attempt <= fail_first:
                self.injected["fail_first"] += 1
                return self._error(
                    500, f"Injected failure (attempt {attempt} of {fail_first})", retry=True
                )
        error_rate = settings["error_rate"]
        if error_rate and self.error_rng.random() < error_rate:
            status = self.error_rng.choice(settings["error_codes"])
            self.injected["error_rate"] += 1
            return self._error(status, f"Injected error {status}", retry=True)
        if settings["hang"] or (settings["hang_after"] and self.answered >= settings["hang_after"]):
            return await self._hang()
        if settings["close"]:
            return self._close(request)

        texts = []
        last_user = ""
        for message in messages:
            text = text_of(message.get("content")) if isinstance(message, dict) else ""
            texts.append(text)
            if isinstance(message, dict) and message.get("role") == "user":
                last_user = text
        # a tool result ends the conversation: the turn is that result's (else the last user
        # message's), so a script can answer what a tool returned
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        tool_turn = last.get("role") == "tool"
        turn = texts[-1] if tool_turn else last_user
        reply = self._resolve(model, turn, tool_turn, messages)
        finish_reason: str | None = None
        extra_delay = 0.0
        scripted_calls: list[dict[str, Any]] | None = None
        if isinstance(reply, dict):
            if reply.get("hang"):
                return await self._hang()
            if reply.get("close"):
                return self._close(request)
            extra_delay = float(reply.get("delay_ms") or 0.0)
            status = reply.get("status")
            if status is not None and status >= 400:
                await self._sleep(extra_delay)
                self.injected["script"] += 1
                if "body" in reply:  # another server's error shape, verbatim
                    raw = reply["body"]
                    if isinstance(raw, str):
                        return self.web.Response(text=raw, status=status)
                    return self._json(raw, status)
                message = reply.get("message") or f"Scripted error {status}"
                return self._error(status, message, retry=True)
            finish_reason = reply.get("finish_reason")
            scripted_calls = reply.get("tool_calls")
            reply = reply.get("content")
        calls = choose_calls(scripted_calls, body)
        # a reply of calls alone has content null; without calls (none offered, or
        # tool_choice none) a scripted call answers its content, else the echo; a call that
        # tool_choice forced on a text reply replaces the text
        content: str | None = turn if reply is None and not calls else reply
        if calls and not scripted_calls:
            content = None

        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        reasoning = is_reasoning(model, settings["reasoning_models"])
        # a reasoning model spends its token limit on reasoning first, then on the reply
        thought = min(settings["reasoning_tokens"], max_tokens or 10**9) if reasoning else 0
        truncated = False
        if content is not None and isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            content, completion_tokens, truncated = _truncate_words(content, max_tokens - thought)
        else:
            completion_tokens = len((content or "").split())
        answered_calls: list[dict[str, Any]] = []
        if calls:  # calls are not cut by max_tokens; their JSON counts as tokens
            seed = json.dumps([model, messages], sort_keys=True, separators=(",", ":"))
            answered_calls = answer_calls(calls, seed)
            completion_tokens += sum(
                len(c["function"]["arguments"].split()) + 1 for c in answered_calls
            )
        completion_tokens += thought
        if truncated:
            finish_reason = "length"
        else:
            finish_reason = finish_reason or ("tool_calls" if calls else "stop")
        prompt_tokens = sum(len(text.split()) for text in texts)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}

        await self._sleep(extra_delay)
        self.counter += 1
        self.answered += 1
        completion_id = f"chatcmpl-{self.counter:024x}"
        created = int(time.time())
        if body.get("stream"):
            self.streamed += 1
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            reply_message = {"content": content, "tool_calls": answered_calls}
            return await self._stream(
                request, completion_id, created, model, reply_message, finish_reason, usage,
                include_usage,
            )  # fmt: skip
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if answered_calls:
            message["tool_calls"] = answered_calls
        return self._json(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_llm_server",
            }
        )

    async def _sleep(self, extra_ms: float = 0.0) -> None:
        delay = self.settings["latency_ms"] + extra_ms
        jitter = self.settings["jitter_ms"]
        if jitter:
            delay += self.jitter_rng.uniform(0.0, jitter)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)

    async def _hang(self) -> web.Response:
        """Never answer; the handler is cancelled when the client goes away or on shutdown."""
        self.injected["hang"] += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def _close(self, request: web.Request) -> web.Response:
        """Drop the connection without answering."""
        self.injected["close"] += 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    async def _stream(
        self,
        request: web.Request,
        completion_id: str,
        created: int,
        model: str,
        reply: dict[str, Any],
        finish_reason: str,
        usage: dict[str, Any],
        include_usage: bool,
    ) -> web.StreamResponse:
        """The reply as OpenAI streams it: its role first, the text word by word, each call
        as an id and name, then its arguments in pieces, and the finish reason alone."""
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_llm_server",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload: dict[str, Any] = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                payload["usage"] = None
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        content, calls = reply["content"], reply["tool_calls"]
        parts = [chunk({"role": "assistant", "content": "" if content is not None else None})]
        parts.extend(chunk({"content": piece}) for piece in _PIECE.findall(content or ""))
        for i, call in enumerate(calls):
            fn = call["function"]
            head = {**call, "index": i, "function": {"name": fn["name"], "arguments": ""}}
            parts.append(chunk({"tool_calls": [head]}))
            args = fn["arguments"]
            for at in range(0, len(args), 8):
                piece = {"index": i, "function": {"arguments": args[at : at + 8]}}
                parts.append(chunk({"tool_calls": [piece]}))
        parts.append(chunk({}, finish_reason))
        if include_usage:
            payload = {**base, "choices": [], "usage": usage}
            parts.append(b"data: " + json.dumps(payload).encode() + b"\n\n")
        parts.append(b"data: [DONE]\n\n")
        response: web.StreamResponse = self.web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        await response.write(b"".join(parts))
        await response.write_eof()
        return response

    # ---- other endpoints ---------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "llm-server"}
            for name in self.model_names
        ]
        return self._json({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return self._json({"status": "ok"})

    async def get_config(self, request: web.Request) -> web.Response:
        return self._json(self.settings)

    async def post_config(self, request: web.Request) -> web.Response:
        try:
            updates = await request.json()
            if not isinstance(updates, dict):
                raise ValueError("the body must be a JSON object of settings")
            self._apply_settings(normalize_settings(updates))
        except (ValueError, TypeError, OSError) as exc:
            return self._error(400, f"bad settings: {exc}")
        return self._json(self.settings)

    async def post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return self._json(self.settings)

    async def get_stats(self, request: web.Request) -> web.Response:
        return self._json(self.stats())

    async def get_requests(self, request: web.Request) -> web.Response:
        entries = list(self.recorded)
        limit = request.query.get("limit", "")
        if limit:
            if not limit.isdigit():
                return self._error(400, "limit must be a non-negative integer")
            entries = entries[-int(limit) :] if int(limit) else []
        return self._json(entries)

    def make_app(self) -> web.Application:
        app: web.Application = self.web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/_control/config", self.get_config)
        app.router.add_post("/_control/config", self.post_config)
        app.router.add_post("/_control/reset", self.post_reset)
        app.router.add_get("/_control/stats", self.get_stats)
        app.router.add_get("/_control/requests", self.get_requests)
        return app


async def run_server(host: str, port: int, settings: dict[str, Any]) -> int:
    """Serve until SIGTERM/SIGINT; print ``LISTENING <port>`` once ready."""
    from aiohttp import web as web_module

    state = _App({**DEFAULT_SETTINGS, **settings}, web_module)
    runner = web_module.AppRunner(
        state.make_app(),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=0.5,
        handler_cancellation=True,
    )
    await runner.setup()
    site = web_module.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound_port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"LISTENING {bound_port}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--script", default=None, help="JSON script file")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--error-codes", default="500,429")
    parser.add_argument("--retry-after", type=int, default=0, help="-1 sends no Retry-After")
    parser.add_argument("--retry-after-ms", type=int, default=None)
    parser.add_argument("--max-inflight", type=int, default=0, help="0 means unlimited")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang", action="store_true", help="never answer chat requests")
    parser.add_argument("--close", action="store_true", help="drop chat connections")
    parser.add_argument("--hang-after", type=int, default=0, help="hang once N were answered")
    parser.add_argument("--exit-after", type=int, default=0, help="exit at request N+1")
    parser.add_argument(
        "--reasoning-models", default="", help="model patterns served as OpenAI reasoning models"
    )
    parser.add_argument("--reasoning-tokens", type=int, default=0)
    parser.add_argument("--response-formats", default=",".join(RESPONSE_FORMATS))
    parser.add_argument("--format-error", default="openai", choices=FORMAT_ERRORS)
    parser.add_argument(
        "--no-validate-tools",
        action="store_true",
        help="take any tools, tool_choice and tool turns (OpenAI refuses malformed ones)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        settings = normalize_settings(
            {
                "latency_ms": args.latency_ms,
                "jitter_ms": args.jitter_ms,
                "script": args.script,
                "error_rate": args.error_rate,
                "error_codes": args.error_codes,
                "retry_after": None if args.retry_after < 0 else args.retry_after,
                "retry_after_ms": args.retry_after_ms,
                "max_inflight": args.max_inflight,
                "fail_first": args.fail_first,
                "api_key": args.api_key,
                "seed": args.seed,
                "hang": args.hang,
                "close": args.close,
                "hang_after": args.hang_after,
                "exit_after": args.exit_after,
                "reasoning_models": args.reasoning_models,
                "reasoning_tokens": args.reasoning_tokens,
                "response_formats": args.response_formats,
                "format_error": args.format_error,
                "validate_tools": not args.no_validate_tools,
            }
        )
    except (ValueError, OSError) as exc:
        print(f"llm_server: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_server(args.host, args.port, settings))
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------------------------
# the helper: start the program as a subprocess and control it over HTTP (stdlib only)
# --------------------------------------------------------------------------------------------


class LLMServer:
    """Runs this file as a subprocess; use as a context manager.

    Keyword settings are those of :data:`DEFAULT_SETTINGS` (``script`` may be a dict or a JSON
    file path); they are the start-up settings that :meth:`reset` restores.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 15.0,
        **settings: Any,
    ) -> None:
        self.host = host
        self.settings = normalize_settings(settings)
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._script_file: str | None = None
        self._port: int | None = None
        # Never go through an HTTP proxy from the environment to reach localhost.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ---- life cycle --------------------------------------------------------------------

    def _command(self) -> list[str]:
        s = {**DEFAULT_SETTINGS, **self.settings}
        cmd = [sys.executable, str(Path(__file__).resolve())]
        cmd += ["--host", self.host, "--port", str(self._requested_port)]
        cmd += ["--latency-ms", repr(s["latency_ms"]), "--jitter-ms", repr(s["jitter_ms"])]
        cmd += ["--error-rate", repr(s["error_rate"])]
        cmd += ["--error-codes", ",".join(str(code) for code in s["error_codes"])]
        cmd += ["--retry-after", str(-1 if s["retry_after"] is None else s["retry_after"])]
        if s["retry_after_ms"] is not None:
            cmd += ["--retry-after-ms", str(s["retry_after_ms"])]
        cmd += ["--max-inflight", str(s["max_inflight"]), "--fail-first", str(s["fail_first"])]
        cmd += ["--seed", str(s["seed"])]
        if s["api_key"] is not None:
            cmd += ["--api-key", s["api_key"]]
        if s["reasoning_models"]:
            cmd += ["--reasoning-models", ",".join(s["reasoning_models"])]
        cmd += ["--reasoning-tokens", str(s["reasoning_tokens"])]
        cmd += ["--response-formats", ",".join(s["response_formats"])]
        cmd += ["--format-error", s["format_error"]]
        if not s["validate_tools"]:
            cmd.append("--no-validate-tools")
        if s["hang"]:
            cmd.append("--hang")
        if s["close"]:
            cmd.append("--close")
        if s["script"] is not None:
            fd, self._script_file = tempfile.mkstemp(prefix="llm_server_script_", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(s["script"], handle)
            cmd += ["--script", self._script_file]
        return cmd

    def start(self) -> LLMServer:
        if self._proc is not None:
            return self
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None

        def read_lines() -> None:
            for line in iter(stdout.readline, b""):
                lines.put(line)
                if line.startswith(b"LISTENING "):
                    return
            lines.put(b"")

        threading.Thread(target=read_lines, name="llm-server-stdout", daemon=True).start()
        deadline = time.monotonic() + self._startup_timeout
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._fail_start(f"no LISTENING line within {self._startup_timeout:g} s", seen)
            if not line:
                self._fail_start("the server exited before it was ready", seen)
            text = line.decode(errors="replace").strip()
            if text.startswith("LISTENING "):
                self._port = int(text.split()[1])
                return self
            seen.append(text)

    def _fail_start(self, why: str, stdout_lines: list[str]) -> None:
        stderr = self.stderr_text()
        code = self._proc.poll() if self._proc is not None else None
        self.stop()
        details = f"llm_server failed to start: {why} (exit code {code})"
        if stdout_lines:
            details += "\n--- stdout ---\n" + "\n".join(stdout_lines)
        raise RuntimeError(details + "\n--- stderr ---\n" + stderr)

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then kill after 10 s); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._script_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._script_file)
            self._script_file = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    # ---- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"{self.url}/v1"

    # ---- control -----------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if exc.code == 400:
                raise ValueError(f"llm_server {method} {path}: {text}") from None
            raise RuntimeError(f"llm_server {method} {path}: HTTP {exc.code}: {text}") from None

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings at runtime; returns the full new settings.  ValueError if invalid."""
        if isinstance(settings.get("script"), str | os.PathLike):
            settings["script"] = load_script(settings["script"])
        result: dict[str, Any] = self._call("POST", "/_control/config", settings)
        return result

    def config(self) -> dict[str, Any]:
        """The current settings."""
        result: dict[str, Any] = self._call("GET", "/_control/config")
        return result

    def reset(self) -> dict[str, Any]:
        """Settings back to the start-up ones; clear stats, recorded requests and counters."""
        result: dict[str, Any] = self._call("POST", "/_control/reset", {})
        return result

    def stats(self) -> dict[str, Any]:
        """Counters; ``by_status`` has int keys."""
        result: dict[str, Any] = self._call("GET", "/_control/stats")
        result["by_status"] = {int(code): n for code, n in result["by_status"].items()}
        return result

    def request_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded chat requests: seq, time, path, body, headers (no Authorization value),
        authorization (bool: was the header present), status."""
        query = f"?limit={int(limit)}" if limit else ""
        result: list[dict[str, Any]] = self._call("GET", f"/_control/requests{query}")
        return result

    def requests(self, limit: int | None = None) -> list[Any]:
        """Recorded chat request bodies (parsed JSON), oldest first (the last 10,000)."""
        return [entry["body"] for entry in self.request_log(limit)]


if __name__ == "__main__":
    sys.exit(main())
