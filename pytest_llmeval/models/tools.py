"""Tool calls in a conversation, as each kind of model takes and gives them.

OpenAI's chat API wants an assistant turn's calls as ``tool_calls`` with ``arguments`` as
JSON *text* and ``content: null`` when the turn is only calls (an object there is a 400:
"Invalid type for 'messages[2].tool_calls[0].function.arguments': expected a string, but got
an object instead"; an empty list too: "Invalid 'messages[1].tool_calls': empty array").
Hugging Face chat templates want the same calls with ``arguments`` as an *object* (most
render them with ``| tojson``). A conversation is kept in OpenAI's shape (``Message``) and
converted here on its way to each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_llmeval.models.base import Message, ToolCall
from pytest_llmeval.untrusted import valid_text

# A refusal that names the offered tools (OpenAI and llama.cpp say ``tools[0]...``, vLLM's
# pydantic errors ``tools.0...``, OpenAI's schema checks "Invalid schema for function 'x'").
_ABOUT_TOOLS = re.compile(r"\btools?(\[\d+\]|\.\d+\b)|Invalid schema for function\b")


def _calls(value: Any) -> list[dict[str, Any]]:
    """A turn's ``tool_calls`` in OpenAI's shape, whatever they were given as."""
    out = []
    for call in value or ():
        tool = call if isinstance(call, ToolCall) else ToolCall.from_dict(call)
        out.append(tool.as_dict())
    return out


def wire_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages as OpenAI's API takes them: calls (``ToolCall``s or dicts, arguments as
    text or as an object) in its shape with JSON-text arguments; a turn of calls alone
    with ``content: null``; an empty ``tool_calls`` left out. Everything else as given."""
    out = []
    for message in messages:
        m = dict(message)
        if "tool_calls" in m:
            calls = _calls(m["tool_calls"])
            if calls:
                m["tool_calls"] = calls
                if not m.get("content"):
                    m["content"] = None
            else:
                del m["tool_calls"]
        out.append(m)
    return out


def template_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages as a Hugging Face chat template takes them: call arguments as an object
    (kept as text when they do not parse), content never None. ``name`` and any other
    field pass through; what a template does with them is its own affair (most ignore
    ``name``)."""
    out = []
    for m in wire_messages(messages):
        if m.get("content") is None:
            m["content"] = ""
        if "tool_calls" in m:
            calls = []
            for call in m["tool_calls"]:
                parsed = ToolCall.from_dict(call).parsed()
                fn = {**call["function"], "arguments": call["function"]["arguments"]}
                if isinstance(parsed, dict):
                    fn["arguments"] = parsed
                calls.append({**call, "function": fn})
            m["tool_calls"] = calls
        out.append(m)
    return out


def parse_calls(raw: Any) -> tuple[ToolCall, ...]:
    """A reply's ``tool_calls`` (OpenAI's shape, or a transformers parser's) as ToolCalls,
    in the order the model wrote them; entries without a function name are not calls."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    calls = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        call = ToolCall.from_dict(entry)
        if call.name:  # kept exactly but for what no UTF-8 file could hold (a lone surrogate)
            calls.append(ToolCall(valid_text(call.name), valid_text(call.arguments), call.id))
    return tuple(calls)


def about_tools(param: str | None, reason: str) -> bool:
    """Whether a refusal is about one of the tools a request offered (a sample's own
    schema), not the run's configuration: the server names one, as ``param`` or in its
    message. ``tools`` itself ("Unsupported parameter: 'tools'", a server without tool
    support) is the configuration's."""
    if param:
        return param.startswith(("tools[", "tools."))
    return bool(_ABOUT_TOOLS.search(reason or ""))
