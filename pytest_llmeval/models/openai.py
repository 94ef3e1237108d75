"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, transformers serve).

Requests go on the SDK's wire format through a bare aiohttp session (``models/wire.py``:
the SDK itself costs a second to import and more CPU per request than the request), or
through the openai SDK where aiohttp is missing or ``LLMEVAL_OPENAI_TRANSPORT=sdk`` asks for
it. Failures come back as ModelErrors marked retryable, with the server's ``Retry-After``,
and the engine retries them. Tools and tool calls go as OpenAI takes them (``models/tools.py``).
The API key is read from ``OPENAI_API_KEY`` and never leaves this module.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.models import DEFAULT_OPENAI_URL as DEFAULT_BASE_URL
from pytest_llmeval.models import ModelSettings, compat, effective_base_url, structured, tools
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError
from pytest_llmeval.untrusted import printable, valid_text

if TYPE_CHECKING:
    import openai

    from pytest_llmeval.models.wire import ChatClient

_MAX_ADAPTATIONS = 4  # fields one request may lose before its refusal stands
_TOKEN_LIMITS = frozenset({"max_tokens", "max_completion_tokens"})


class _Refused(Exception):
    """An HTTP error status, carrying the ModelError it will be unless the request is
    adapted and sent again."""

    def __init__(self, error: ModelError) -> None:
        super().__init__(str(error))
        self.error = error


class OpenAIModel:
    """Chat completions through ``openai.AsyncOpenAI``, one client (one pool) per process."""

    def __init__(self, settings: ModelSettings) -> None:
        self.spec = settings.spec
        self.name = settings.name
        self.base_url = effective_base_url(settings)
        self.settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self._wire: ChatClient | None = None
        self._use_sdk = _sdk_wanted()
        self._listeners: list[Callable[[int, float], None]] = []
        # what this server refused, learned once per session (one instance per process;
        # under xdist the controller's, which sends for every worker)
        self._reasoning = compat.reasoning_on_openai(settings)
        self._renamed: dict[str, str] = {}
        self._dropped: set[str] = set()
        self._refused_formats: set[str] = set()
        self._adapted: list[dict[str, str]] = []
        self._shapes: dict[str, int] = {}  # request fields (JSON) -> requests answered
        self._checked: Counter[bool] = Counter()
        self._starved = 0

    def add_status_listener(self, listener: Callable[[int, float], None]) -> None:
        """Call ``listener(status, sent_at)`` for every HTTP response, retries included.

        The engine's adaptive limiter uses it to see 429s that the SDK then retries itself.
        """
        self._listeners.append(listener)

    def identity(self) -> dict[str, Any]:
        return {"provider": "openai", "model": self.name, "base_url": self.base_url}

    def _api_key(self) -> str | None:
        key = os.environ.get("OPENAI_API_KEY")
        if key is None and self.base_url != DEFAULT_BASE_URL:
            key = "unused"  # local servers ignore it, but the SDK insists on one
        return key

    def _get_client(self) -> openai.AsyncOpenAI:
        # Created lazily inside the engine's event loop: the client binds to the loop.
        if self._client is None:
            import openai

            key = self._api_key()
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
        import openai

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
        # A request the server refuses for a field it does not take is sent again without
        # it (or renamed), once: what was learned holds for the rest of the session. This
        # happens here, before the engine's health watch could count it as a rejection.
        for _ in range(_MAX_ADAPTATIONS + 1):
            body = self._body(messages, params)
            try:
                data, latency = await self._post(body)
            except _Refused as refused:
                if self._body(messages, params) != body:
                    continue  # learned (here or by a concurrent request): send it again
                raise refused.error from None
            break
        else:  # pragma: no cover - each adaptation removes a field, so this cannot loop
            raise ModelError(f"{self.base_url} kept refusing the request")
        try:
            choice = data["choices"][0]
            message = choice["message"]
            # kept exactly, controls and all; only what no UTF-8 file could hold is replaced
            text = valid_text(message.get("content") or "")  # null with tool calls alone
            calls = tools.parse_calls(message.get("tool_calls"))
        except (TypeError, KeyError, IndexError, AttributeError):
            raise ModelError(
                f"{self.base_url} returned no usable choice: {printable(str(data)[:200])}"
            ) from None
        usage = data.get("usage") or {}
        finish = choice.get("finish_reason")
        # a reply that ran out of tokens before any text or call (a reasoning model's)
        self._sent(body, starved=finish == "length" and not text.strip() and not calls)
        metadata: dict[str, Any] = {}
        check = self._check(text, params, body)
        if check is not None:
            metadata["structured_output"] = check
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        if reasoning is not None:
            metadata["reasoning_tokens"] = reasoning
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached:
            metadata["cached_tokens"] = cached  # billed at the cached-input price
        if isinstance(usage.get("cost"), int | float):  # a gateway that reports its charge
            metadata["server_cost_usd"] = float(usage["cost"])
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_ms=latency,
            model=data.get("model") or self.name,
            metadata=metadata,
            tool_calls=calls,
        )

    # -- the request body --------------------------------------------------------------------
    def _body(self, messages: Sequence[Message], params: GenerateParams) -> dict[str, Any]:
        """What is sent: the params as this server takes them, given what it refused."""
        reasoning = self._reasoning
        body: dict[str, Any] = {"model": self.name, "messages": tools.wire_messages(messages)}
        # a reasoning model on OpenAI's API only takes its default temperature and top_p:
        # left out unless the user set them
        if not reasoning or "temperature" in params.explicit:
            body["temperature"] = params.temperature
        if params.top_p is not None and (not reasoning or "top_p" in params.explicit):
            body["top_p"] = params.top_p
        body["max_completion_tokens" if reasoning else "max_tokens"] = params.max_tokens
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        fmt = self._format(params)
        if fmt == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": params.json_schema}
        elif fmt:
            body["response_format"] = {"type": fmt}
        if params.tools:
            body["tools"] = [dict(t) for t in params.tools]
        if params.tool_choice is not None:
            body["tool_choice"] = params.tool_choice
        for name, value in params.extra.items():
            body.setdefault(name, value)
        for name in list(body):
            if name in self._renamed:
                body[self._renamed[name]] = body.pop(name)
            elif name in self._dropped:
                del body[name]
        return body

    def _format(self, params: GenerateParams) -> str | None:
        """The response_format to ask for: json_schema falls back to json_object, then to
        none, on a server that refused it."""
        fmt = params.response_format
        if fmt == "json_schema" and params.json_schema is None:
            fmt = "json_object"  # nothing to send as the schema (a direct call)
        while fmt is not None and fmt in self._refused_formats:
            fmt = "json_object" if fmt == "json_schema" else None
        return fmt

    async def _post(self, body: dict[str, Any]) -> tuple[Any, float]:
        if not self._use_sdk:
            return await self._post_wire(body)
        import openai

        start = time.perf_counter()
        try:
            # The SDK's documented low-level call: its auth, transport, timeouts and error
            # types, without the per-request typed transform of the params and the pydantic
            # model of the reply, which cost more CPU than the HTTP call itself (profiled:
            # ~60% of the client's time at 0 ms server latency).
            data: Any = await self._get_client().post(
                "/chat/completions", body=body, cast_to=object
            )
        except openai.APIStatusError as exc:
            status = exc.status_code
            reason = _message(exc)
            self._learn(body, status, exc.code, exc.param, reason)
            raise _Refused(
                ModelError(
                    f"HTTP {status} from {self.base_url}: {reason}",
                    retryable=status in (408, 409, 429) or status >= 500,
                    retry_after=retry_after(exc.response.headers),
                    status=status,
                    about_tools=_about_tools(body, status, exc.param, reason),
                )
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
        return data, (time.perf_counter() - start) * 1000.0

    async def _post_wire(self, body: dict[str, Any]) -> tuple[Any, float]:
        """``_post`` on the bare transport: the same errors, the same messages."""
        from pytest_llmeval.models import wire

        start = time.perf_counter()
        sent = time.monotonic()
        if self._wire is None:
            key = self._api_key()
            if key is None:
                raise ModelError(f"OpenAIError: {wire.NO_KEY}")
            # made inside the engine's event loop: the session binds to the loop
            self._wire = wire.ChatClient(self.base_url, key, self.settings.timeout)
        try:
            status, data = await self._wire.post(body)
        except wire.StatusError as exc:
            self._heard(exc.status, sent)
            reason = one_line(server_reason(exc.body) or exc.text or exc.message)
            self._learn(body, exc.status, exc.code, exc.param, reason)
            raise _Refused(
                ModelError(
                    f"HTTP {exc.status} from {self.base_url}: {reason}",
                    retryable=exc.status in (408, 409, 429) or exc.status >= 500,
                    retry_after=retry_after(exc.headers),
                    status=exc.status,
                    about_tools=_about_tools(body, exc.status, exc.param, reason),
                )
            ) from None
        except wire.TransportError as exc:
            if exc.kind == "timeout":
                raise ModelError(
                    f"no answer within the {self.settings.timeout:g} s request timeout from "
                    f"{self.base_url} ({one_line(f'{exc.name}: {exc}')})",
                    retryable=True,
                    timeout=True,
                ) from None
            message = one_line(str(exc)) if exc.kind == "connect" else str(exc)
            raise ModelError(
                f"cannot connect to {self.base_url}: {message}", retryable=True
            ) from None
        self._heard(status, sent)
        return data, (time.perf_counter() - start) * 1000.0

    def _heard(self, status: int, sent: float) -> None:
        for listener in self._listeners:
            listener(status, sent)

    # -- adapting to the server, and what was sent ---------------------------------------
    def _learn(
        self, body: dict[str, Any], status: int, code: str | None, param: str | None, reason: str
    ) -> None:
        """Remember a field this server refuses, so the request can go again without it."""
        refused = compat.refused_param(code, param, reason) if 400 <= status < 500 else None
        if refused is not None:
            name, kind = refused
            if name not in body or name not in compat.ADAPTABLE:
                return
            if kind == "value" and name in _TOKEN_LIMITS:
                return  # a limit it finds too large: the user's to fix, not to drop
            new = compat.replacement(name, reason) if kind == "parameter" else None
            if new is not None and new not in body and new not in self._renamed:
                self._renamed[name] = new
                action = f"sent {new} instead"
            else:
                self._dropped.add(name)
                action = "left it out (the model's default applies)"
            self._adapt(name, action, reason)
            return
        fmt = body.get("response_format")
        sent = fmt.get("type") if isinstance(fmt, dict) else None
        if (
            sent in structured.FORMATS
            and sent not in self._refused_formats
            and compat.refuses_format(sent, status, code, param, reason)
        ):
            self._refused_formats.add(sent)
            weaker = "json_object" if sent == "json_schema" else None
            while weaker in self._refused_formats:
                weaker = None
            action = (
                f"asked for {weaker} instead; replies are checked against the schema"
                if weaker
                else "left it out; replies are checked as JSON"
            )
            self._adapt(f"response_format {sent}", action, reason)

    def _adapt(self, param: str, action: str, reason: str) -> None:
        if not any(a["param"] == param for a in self._adapted):
            self._adapted.append({"param": param, "action": action, "reason": reason})

    def _sent(self, body: dict[str, Any], starved: bool) -> None:
        key = json.dumps(compat.public_fields(body), sort_keys=True, default=str)
        self._shapes[key] = self._shapes.get(key, 0) + 1
        self._starved += starved

    def _check(self, text: str, params: GenerateParams, body: dict[str, Any]) -> Any:
        """A reply to a weaker format than asked for is checked against what was asked."""
        fmt = body.get("response_format")
        sent = fmt.get("type") if isinstance(fmt, dict) else None
        if params.response_format is None or sent == params.response_format:
            return None
        check = structured.check_reply(text, params)
        if check is not None:
            self._checked[check["valid"]] += 1
        return check

    def request_report(self) -> dict[str, Any]:
        """What this session sent, what the server refused and what went instead."""
        notes = []
        if self._reasoning and self._shapes:
            notes.append(
                f"{self.name} is a reasoning model: sent max_completion_tokens, and no "
                "temperature or top_p unless a suite or --temperature set one (it samples "
                "at its default, 1)"
            )
        for a in self._adapted:
            notes.append(
                f"{self.base_url} refused {a['param']} for {self.name} ({a['reason']}): "
                f"{a['action']} for the rest of the session"
            )
        if self._checked[False]:
            total = self._checked[False] + self._checked[True]
            notes.append(
                f"{self._checked[False]} of {total} replies from {self.name} did not match "
                "the requested format (the server could not enforce it)"
            )
        if self._starved:
            notes.append(
                f"{self._starved} replies from {self.name} ran out of tokens before any text "
                "(finish_reason length): a reasoning model spends the token limit on its "
                "reasoning too; raise --max-tokens or set reasoning_effort in the suite's params"
            )
        return {
            "sent": [{"fields": json.loads(k), "requests": n} for k, n in self._shapes.items()],
            "adapted": list(self._adapted),
            "notes": notes,
        }

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._wire is not None:
            await self._wire.aclose()
            self._wire = None


def _about_tools(body: dict[str, Any], status: int, param: Any, reason: str) -> bool:
    """A 4xx refusing the tools this request offered (a sample's own schema)."""
    if "tools" not in body or not 400 <= status < 500:
        return False
    return tools.about_tools(param if isinstance(param, str) else None, reason)


def _sdk_wanted() -> bool:
    """The SDK as the transport: asked for, or aiohttp is not installed."""
    if os.environ.get("LLMEVAL_OPENAI_TRANSPORT", "").lower() == "sdk":
        return True
    import importlib.util

    return importlib.util.find_spec("aiohttp") is None


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
    """A server's reason as one line of a message: it is untrusted text, escaped."""
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."
