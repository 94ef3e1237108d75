"""The one model protocol: chat messages in, a Completion out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# A chat message as OpenAI's API takes it: ``role`` and ``content`` (a string, or a list of
# content parts), and where the role has them ``name``, ``tool_calls``, ``tool_call_id``.
Message = Mapping[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for: ``arguments`` is the JSON text it wrote (kept as
    written: a call whose arguments do not parse is still the model's answer)."""

    name: str
    arguments: str = "{}"
    id: str | None = None

    def parsed(self) -> Any:
        """The arguments as JSON, or None when they do not parse."""
        import json

        try:
            return json.loads(self.arguments) if self.arguments.strip() else {}
        except ValueError:
            return None

    def show(self) -> str:
        """Compact and readable: ``get_weather(city='Paris', days=3)``; arguments that do
        not parse as an object are shown as written."""
        args = self.parsed()
        if isinstance(args, dict):
            inner = ", ".join(f"{k}={v!r}" for k, v in args.items())
        else:
            inner = self.arguments
        return f"{self.name}({inner})"

    def as_dict(self) -> dict[str, Any]:
        """OpenAI's shape, as a message's ``tool_calls`` entry."""
        return {
            "id": self.id or "",
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToolCall:
        """From OpenAI's shape (``{"function": {"name", "arguments"}}``) or a flat
        ``{"name", "arguments"}``; arguments given as an object are written as compact
        JSON, as OpenAI writes them."""
        import json

        inner = d.get("function")
        fn: Mapping[str, Any] = inner if isinstance(inner, Mapping) else d
        args = fn.get("arguments", "{}")
        if not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        return cls(str(fn.get("name", "")), args, d.get("id") or None)


@dataclass(frozen=True)
class GenerateParams:
    """Generation parameters; every field that reaches the server is part of the response
    cache key (``as_dict``).

    ``response_format`` is ``"json_object"``, ``"json_schema"`` or None. With
    ``"json_schema"``, ``json_schema`` is what OpenAI's API calls it: ``{"name", "schema",
    "strict"}`` (see ``models.structured``); left None, the runner fills in the sample's own
    schema. ``extra`` holds pass-through request fields (``reasoning_effort``, a suite's
    ``extra_body``), sent as they are. ``explicit`` names the sampling fields the user set
    (a suite's ``params``, ``--temperature``): a model that only takes its default
    temperature still gets one the user asked for.
    """

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: str | None = None
    # Not hashed (a dict), and not compared: requests that differ only in their schema
    # still batch together on a local model, which decodes them alike.
    json_schema: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    explicit: frozenset[str] = field(default=frozenset(), compare=False)
    # OpenAI function tools offered with the request (a sample's own, usually), and
    # ``tool_choice``; like json_schema, not compared, so a local model batches them
    tools: tuple[Mapping[str, Any], ...] | None = field(default=None, hash=False, compare=False)
    tool_choice: Any = field(default=None, hash=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The cache key's view: new fields only when set, so older keys stay valid."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        del d["explicit"]  # changes what is sent only through the fields it resolves
        for name in ("json_schema", "extra", "tools", "tool_choice"):
            if not d[name]:
                del d[name]
        if "tools" in d:
            d["tools"] = [dict(t) for t in self.tools or ()]
        return d


@dataclass(frozen=True)
class Completion:
    """What a model returned for one request."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    model: str = ""
    cached: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()  # the functions the model called, if any
    # A conversation (several turns, tool results fed back, a solver's calls): every
    # message, the prompt's and each reply's, in order; ``text`` is then the last reply's,
    # and the token counts are the conversation's. Empty for one request and its answer.
    transcript: tuple[Message, ...] = ()
    calls: int = 1  # model calls behind this completion (a conversation's turns)


class ModelError(Exception):
    """A failed model call. ``retryable`` errors (429, 5xx, timeouts, lost connections) are
    retried by the engine, honouring ``retry_after`` (seconds) when the server sent one.

    ``status`` is the HTTP status when there was one; ``timeout`` marks a request that got
    no answer in time. ``fatal`` is set when the run cannot go on: ``"rejected"`` (the
    server refuses this configuration: a bad key, an unknown model, a parameter it rejects)
    or ``"outage"`` (the server is down or stopped answering). ``about_tools`` marks a refusal
    of the tools a request offered (a sample's own schema): that sample's error, never a
    reason to end the run.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        timeout: bool = False,
        fatal: str | None = None,
        about_tools: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.timeout = timeout
        self.fatal = fatal
        self.about_tools = about_tools


class Model(Protocol):
    """A model behind a spec string such as ``openai/gpt-4o-mini`` or ``hf/PATH``.

    A provider may also offer ``request_report() -> dict``: what it actually sent this
    session, for the run's stored parameters and the summary. Keys, all optional:
    ``sent`` (``[{"fields": {request field: value}, "requests": n}]``, the request bodies
    without model and messages, one entry per distinct shape), ``adapted``
    (``[{"param", "action", "reason"}]``: what the server refused and what was sent
    instead) and ``notes`` (lines for the summary).
    """

    spec: str

    def identity(self) -> dict[str, Any]:
        """What distinguishes this model's answers (provider, base URL, revision...); no secrets."""
        ...

    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Generate one completion; raise ModelError when the call fails for good."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
