"""Conversations: what happens after a sample's first request, step by step. Further user
turns are sent after each reply, tool calls are answered from the sample's mocked results
(by tool name) and fed back, or a registered solver runs its own program. No pytest and
no engine here: ``run`` is given a ``call`` that sends one request (the engine's, with its
concurrency, retries, cache and recording)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Message, ToolCall

MAX_TOOL_STEPS = 8  # model calls per user turn while tool results are fed back
Call = Callable[[Sequence[Message], GenerateParams], Awaitable[Completion]]


@dataclass(frozen=True)
class Conversation:
    """A sample's script: further user turns, mocked tool results by tool name (each call
    of a tool gets its value, as JSON text unless it is a string), or a solver. Plain data: requests travel to
    the xdist controller pickled."""

    turns: tuple[tuple[Message, ...], ...] = ()
    tool_results: Mapping[str, Any] = field(default_factory=dict)
    max_tool_steps: int = MAX_TOOL_STEPS
    solver: str | None = None
    solver_file: str | None = None  # where the solver was registered (a conftest)
    sample: Mapping[str, Any] = field(default_factory=dict)  # what a solver is given
    sample_id: str = ""
    task: str = ""


async def run(
    first: Sequence[Message], params: GenerateParams, script: Conversation, call: Call
) -> Completion:
    """Run the conversation; its result is the last reply, with every message, every tool
    call and the summed tokens of all of its calls."""
    if script.solver is not None:
        return await _solve(first, params, script, call)
    transcript: list[Message] = [dict(m) for m in first]
    replies: list[Completion] = []
    for turn in ((), *script.turns):
        transcript += [dict(m) for m in turn]
        for _ in range(script.max_tool_steps):
            comp = await call(list(transcript), params)
            replies.append(comp)
            transcript.append(assistant_message(comp))
            results = _tool_messages(comp.tool_calls, script.tool_results)
            if results is None:
                break  # no call, or one with no mocked result: the reply stands
            transcript += results
    return combine(replies, transcript)


def assistant_message(comp: Completion) -> dict[str, Any]:
    """A reply as the assistant turn that is sent back (OpenAI's shape)."""
    msg: dict[str, Any] = {"role": "assistant", "content": comp.text or None}
    if comp.tool_calls:
        msg["tool_calls"] = [
            {**tc.as_dict(), "id": tc.id or f"call_{i}"} for i, tc in enumerate(comp.tool_calls)
        ]
    elif msg["content"] is None:
        msg["content"] = ""
    return msg


def _tool_messages(
    calls: Sequence[ToolCall], results: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    if not calls or not results or any(c.name not in results for c in calls):
        return None
    out = []
    for i, c in enumerate(calls):
        value = results[c.name]  # the same result for every call of that tool
        content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append({"role": "tool", "tool_call_id": c.id or f"call_{i}", "content": content})
    return out


def combine(replies: Sequence[Completion], transcript: Sequence[Message]) -> Completion:
    """One completion for a conversation: the last reply's text and finish, every tool
    call in order, the summed tokens and latency, cached only if every call was."""
    last = replies[-1]

    def total(name: str) -> int | None:
        values = [getattr(r, name) for r in replies]
        return None if all(v is None for v in values) else sum(v or 0 for v in values)

    started = [float(r.metadata["started_at"]) for r in replies if r.metadata.get("started_at")]
    entries = [r.metadata["cache_entry"] for r in replies if r.metadata.get("cache_entry")]
    meta: dict[str, Any] = {"steps": len(replies)}
    if started:
        meta["started_at"] = min(started)
        meta["ended_at"] = last.metadata.get("ended_at")
    if entries:
        meta["cache_entries"] = entries
    costs = [r.metadata.get("cost_usd") for r in replies if not r.cached]
    if any(c is not None for c in costs):
        meta["cost_usd"] = sum(c or 0.0 for c in costs)
    originals = [r.metadata.get("original_latency_ms") or r.latency_ms for r in replies]
    if all(r.cached for r in replies):
        meta["original_latency_ms"] = sum(originals)
    return Completion(
        text=last.text,
        finish_reason=last.finish_reason,
        prompt_tokens=total("prompt_tokens"),
        completion_tokens=total("completion_tokens"),
        latency_ms=sum(r.latency_ms for r in replies),
        model=last.model,
        cached=all(r.cached for r in replies),
        metadata=meta,
        tool_calls=tuple(tc for r in replies for tc in r.tool_calls),
        transcript=tuple(transcript),
        calls=len(replies),
    )


async def _solve(
    first: Sequence[Message], params: GenerateParams, script: Conversation, call: Call
) -> Completion:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.solvers import resolve

    info = resolve(script.solver or "", script.solver_file)
    replies: list[Completion] = []
    transcript: list[Message] = []

    async def generate(messages: str | Sequence[Message], **overrides: Any) -> Completion:
        msgs: list[Message] = (
            [{"role": "user", "content": messages}]
            if isinstance(messages, str)
            else [dict(m) for m in messages]
        )
        p = replace(params, **_params(overrides)) if overrides else params
        comp = await call(msgs, p)
        replies.append(comp)
        # a growing conversation is shown once; an unrelated call starts a new thread
        if transcript and msgs[: len(transcript)] == transcript:
            transcript.extend(msgs[len(transcript) :])
        else:
            transcript.extend(msgs)
        transcript.append(assistant_message(comp))
        return comp

    sample = Sample(script.sample_id, script.task, dict(script.sample), "solver", 0)
    answer = await info.fn(sample, generate)
    if not replies:
        raise ValueError(f"solver {info.name!r} made no model call")
    result = combine(replies, transcript)
    if isinstance(answer, str):
        result = replace(result, text=answer)
    elif isinstance(answer, Completion):
        result = replace(result, text=answer.text)
    return result


def _params(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(overrides)
    if "stop" in out:
        out["stop"] = tuple(out["stop"])
    if "tools" in out and out["tools"] is not None:
        out["tools"] = tuple(out["tools"])
    return out
