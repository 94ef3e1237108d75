"""Tool calls on a local Hugging Face model: the chat template renders the offered tools,
and transformers' response parsing (``tokenizer.parse_response``, transformers >= 5) reads
the calls back out of the generated text.

The parsing needs a response template: the tokenizer's own ``response_template`` (saved in
``tokenizer_config.json``), else the one ``transformers serve`` keeps for the model's family
(Qwen 2/2.5/3, Qwen 3.5, Gemma 4 in transformers 5.x). A model with neither, or whose chat
template never mentions ``tools``, cannot take part in a tool-calling eval here: the first
request with tools ends the run as a configuration rejection (exit 4), saying to serve the
model behind a server that parses its calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmeval.models.base import GenerateParams, ModelError, ToolCall
from pytest_llmeval.models.tools import parse_calls


@dataclass(frozen=True)
class Reply:
    """A reply read through the response template: its text, its calls, and why the calls
    could not be read (the text is then the plain decode)."""

    text: str
    calls: tuple[ToolCall, ...] = ()
    parse_error: str | None = None


def offered(params: GenerateParams) -> list[dict[str, Any]] | None:
    """The tools to render for a request: none with ``tool_choice: "none"`` (the model
    cannot call what it is not shown, as OpenAI's "none" promises)."""
    if not params.tools or params.tool_choice == "none":
        return None
    return [dict(t) for t in params.tools]


def response_template(tokenizer: Any, model: Any, spec: str) -> Mapping[str, Any]:
    """The response template that reads this model's calls; a fatal ModelError when there is
    none or the chat template does not render tools."""
    source = tokenizer.chat_template
    texts = source.values() if isinstance(source, Mapping) else [source]
    if not any("tools" in str(t) for t in texts):
        raise _cannot(spec, "its chat template does not render tools")
    found = getattr(tokenizer, "response_template", None)
    if found is None:
        try:  # transformers serve's templates for the families that ship none
            from transformers.cli.serving.utils import get_response_template

            found = get_response_template(tokenizer, model)
        except Exception:  # older transformers, or its serving code moved
            found = None
    if found is None:
        raise _cannot(spec, "its tokenizer has no response_template to read calls with")
    return found


def _cannot(spec: str, why: str) -> ModelError:
    name = spec.split("/", 1)[-1]
    return ModelError(
        f"model {spec} cannot return tool calls through transformers here ({why}): serve it "
        f"behind vLLM or llama.cpp's server (--model openai/{name} --llmeval-base-url ...)",
        fatal="rejected",
    )


def read_reply(
    tokenizer: Any,
    template: Mapping[str, Any],
    generated: Sequence[int],
    prompt: str,
    tools: list[dict[str, Any]],
    plain: str,
) -> Reply:
    """The generated tokens (special tokens kept: templates delimit calls with them) read
    as content and calls; call arguments are cast to the tool's schema by transformers and
    written as compact JSON. Unreadable calls leave the plain decode, with the reason."""
    raw = tokenizer.decode(list(generated), skip_special_tokens=False)
    try:
        parsed = tokenizer.parse_response(raw, dict(template), prefix=prompt, tools=tools)
    except ValueError as exc:
        return Reply(plain, (), str(exc).splitlines()[0])
    calls = parse_calls(parsed.get("tool_calls"))
    # ids as a server would make them (a chat template may render them back: Mistral's
    # wants 9 letters or digits), the same for the same prompt
    calls = tuple(
        ToolCall(c.name, c.arguments, c.id or _call_id(prompt, i)) for i, c in enumerate(calls)
    )
    content = parsed.get("content")
    return Reply(content.strip() if isinstance(content, str) else "", calls)


def _call_id(prompt: str, index: int) -> str:
    return hashlib.sha256(f"{prompt}\x00{index}".encode()).hexdigest()[:9]
