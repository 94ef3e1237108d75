"""Tool calls through the OpenAI provider, on both transports (the bare aiohttp wire and the
openai SDK), against tests/llm_server.py answering as OpenAI's API does: what is sent, what is
parsed, a conversation's tool turns sent back, and a refused schema as one sample's error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from evalkit import EvalProject, answers, lines, write_jsonl
from llm_server import LLMServer
from llm_server_tools import conversation_key

from pytest_llmeval.models import ModelError, ModelSettings, create_model
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ToolCall
from pytest_llmeval.models.openai import OpenAIModel
from pytest_llmeval.run.health import Health

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK = "Weather in Paris and Rome?"
CALLS = {
    "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Rome", "unit": "C"}},
    ]
}
TOOLS = GenerateParams(max_tokens=32, tools=(WEATHER,))


@pytest.fixture(params=["wire", "sdk"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LLMEVAL_OPENAI_TRANSPORT", request.param)
    return str(request.param)


def model_for(server: LLMServer, transport: str) -> OpenAIModel:
    model = create_model(ModelSettings("openai/test-model", base_url=server.base_url))
    assert isinstance(model, OpenAIModel) and model._use_sdk == (transport == "sdk")
    return model


def run(model: OpenAIModel, *turns: tuple[Sequence[Message], GenerateParams]) -> list[Completion]:
    async def go() -> list[Completion]:
        try:
            return [await model.agenerate(m, p) for m, p in turns]
        finally:
            await model.aclose()

    return asyncio.run(go())


def user(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def test_tools_are_sent_and_calls_parsed_in_order(llm_server: LLMServer, transport: str) -> None:
    llm_server.configure(script={"replies": {ASK: CALLS}})
    choice = {"type": "function", "function": {"name": "get_weather"}}
    params = GenerateParams(max_tokens=32, tools=(WEATHER,), tool_choice="auto")
    comp, named = run(
        model_for(llm_server, transport),
        (user(ASK), params),
        (user(ASK), GenerateParams(max_tokens=32, tools=(WEATHER,), tool_choice=choice)),
    )
    assert (comp.text, comp.finish_reason) == ("", "tool_calls")
    assert [(c.name, c.parsed()) for c in comp.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome", "unit": "C"}),
    ]
    assert comp.tool_calls[0].arguments == '{"city":"Paris"}'  # the JSON text as written
    assert all(c.id and c.id.startswith("call_") for c in comp.tool_calls)
    first, second = llm_server.requests()
    assert first["tools"] == [WEATHER] and first["tool_choice"] == "auto"
    assert second["tool_choice"] == choice
    assert len(named.tool_calls) == 2  # both calls were of the named function


def test_a_conversations_tool_turns_are_sent_as_openai_takes_them(
    llm_server: LLMServer, transport: str
) -> None:
    """The calls go back as given (ToolCall objects, or dicts with arguments as an object),
    as OpenAI requires them: JSON-text arguments, content null; the server, which refuses
    anything else as OpenAI does, answers the tool turn."""
    llm_server.configure(script={"replies": {ASK: CALLS, "tool:sunny": "Sunny in both."}})
    model = model_for(llm_server, transport)
    (first,) = run(model, (user(ASK), TOOLS))
    paris, rome = first.tool_calls
    conversation: list[Message] = [
        *user(ASK),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                paris,
                {"id": rome.id, "function": {"name": rome.name, "arguments": rome.parsed()}},
            ],
        },
        {"role": "tool", "tool_call_id": paris.id, "content": "rainy"},
        {"role": "tool", "tool_call_id": rome.id, "content": "sunny"},
    ]
    (second,) = run(model_for(llm_server, transport), (conversation, TOOLS))
    assert (second.text, second.tool_calls, second.finish_reason) == ("Sunny in both.", (), "stop")
    sent = llm_server.requests()[-1]["messages"][1]
    assert sent == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": paris.id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": rome.id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome","unit":"C"}'},
            },
        ],
    }
    # the same conversation, keyed whole, as a multi-turn script can key it
    assert conversation_key(llm_server.requests()[-1]["messages"]) == conversation_key(
        [*conversation[:1], sent, *conversation[2:]]
    )


def test_a_refused_schema_is_the_servers_reason_and_marked_as_the_samples(
    llm_server: LLMServer, transport: str
) -> None:
    bfcl = {
        "type": "function",
        "function": {
            "name": "calculate_triangle_area",
            "parameters": {"type": "dict", "properties": {"base": {"type": "integer"}}},
        },
    }
    model = model_for(llm_server, transport)
    with pytest.raises(ModelError) as caught:
        run(model, (user(ASK), GenerateParams(tools=(bfcl,))))
    err = caught.value
    assert str(err).endswith(
        ": Invalid schema for function 'calculate_triangle_area': schema must be a JSON Schema "
        "of 'type: \"object\"', got 'type: \"dict\"'."
    )
    assert (err.status, err.retryable, err.about_tools, err.fatal) == (400, False, True, None)
    assert len(llm_server.requests()) == 1  # never sent again without the tools


def test_a_server_without_tool_support_is_the_configurations_error(
    llm_server: LLMServer, transport: str
) -> None:
    # vLLM started without --enable-auto-tool-choice (its message, verbatim)
    refusal = {
        "object": "error",
        "message": '"auto" tool choice requires --enable-auto-tool-choice and '
        "--tool-call-parser to be set",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    llm_server.configure(script={"default": {"status": 400, "body": refusal}})
    with pytest.raises(ModelError) as caught:
        run(model_for(llm_server, transport), (user(ASK), TOOLS))
    assert "--enable-auto-tool-choice" in str(caught.value)
    assert not caught.value.about_tools


def test_the_report_says_tools_were_sent_not_what_they_were(
    llm_server: LLMServer, transport: str
) -> None:
    llm_server.configure(script={"replies": {ASK: CALLS}})
    model = model_for(llm_server, transport)
    run(model, (user(ASK), TOOLS), (user(ASK), TOOLS), (user("hi"), GenerateParams(max_tokens=32)))
    shapes = {
        json.dumps(s["fields"], sort_keys=True): s["requests"]
        for s in model.request_report()["sent"]
    }
    assert shapes == {
        json.dumps({"max_tokens": 32, "temperature": 0.0, "tools": 1}, sort_keys=True): 2,
        json.dumps({"max_tokens": 32, "temperature": 0.0}, sort_keys=True): 1,
    }


def test_health_a_tool_refusal_never_ends_the_run_a_fatal_model_error_does() -> None:
    dead: list[bool] = []
    health = Health(lambda: "server", lambda: True, lambda: dead.append(True), max_retries=0)
    schema = ModelError(
        "HTTP 400 from x: Invalid schema for function 'f': ...", status=400, about_tools=True
    )
    for _ in range(5):  # the same refusal, before any answer: still each sample's own
        health.attempt_failed(schema, last=True)
    assert health.dead is None and not dead
    other = ModelError("HTTP 400 from x: unsupported", status=400)
    for _ in range(3):
        health.attempt_failed(other, last=True)
    assert health.dead is not None and health.dead.fatal == "rejected"
    health = Health(lambda: "server", lambda: True, lambda: None, max_retries=0)
    health.attempt_failed(ModelError("hf/x cannot return tool calls", fatal="rejected"), last=True)
    assert health.dead is not None and str(health.dead) == "hf/x cannot return tool calls"


SCHEMA_REFUSED = {
    "error": {
        "message": "Invalid schema for function 'lookup': In context=(), 'additionalProperties' "
        "is required to be supplied and to be false.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
}
SUITE_TOOLS = "tools: tools\n"  # each sample's own tools (see _with_tools)
LOOKUP = {"type": "function", "function": {"name": "lookup",
                                           "parameters": {"type": "object", "properties": {}}}}  # fmt: skip


def _with_tools(project: EvalProject, records: list[dict[str, Any]]) -> None:
    """The suite's dataset again, each sample offering the same tool."""
    write_jsonl(project.path / "data" / "qa.jsonl", [{**r, "tools": [LOOKUP]} for r in records])


def test_the_first_samples_schema_refusals_do_not_end_a_run_of_good_ones(
    project: EvalProject,
) -> None:
    """Three samples up front whose tools the server refuses (here scripted: the suite's
    own tools are fine) are three errors; the rest are scored. Before, the first three
    identical refusals ended the run as a rejected configuration."""
    records = project.qa_suite(10, extra=SUITE_TOOLS + "thresholds:\n  accuracy: '>=0.5'\n")
    _with_tools(project, records)
    script = answers(records)
    for key in list(script["replies"])[:3]:
        script["replies"][key] = {"status": 400, "body": SCHEMA_REFUSED}
    project.server.configure(script=script)
    result = project.run("--llmeval-concurrency", "1", "--llmeval-max-error-rate", "0.5")
    result.assert_outcomes(passed=7, errors=3)
    assert result.ret == 0
    assert len(project.server.requests()) == 10
    assert all(r["tools"][0]["function"]["name"] == "lookup" for r in project.server.requests())
    errors = [r["error"] for r in project.results() if r["error"]]
    assert len(errors) == 3 and all("'additionalProperties' is required" in e for e in errors)


def test_every_sample_refused_is_input_to_fix(project: EvalProject) -> None:
    records = project.qa_suite(6, extra=SUITE_TOOLS + "thresholds:\n  accuracy: '>=0.5'\n")
    _with_tools(project, records)
    project.server.configure(script={"default": {"status": 400, "body": SCHEMA_REFUSED}})
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        lines(
            "llmeval NOT EVALUATED (exit 4): 6 of 6 samples were rejected by the server *: HTTP "
            "400 from *: Invalid schema for function 'lookup': In context=(), "
            "'additionalProperties' is required to be supplied and to be false.*"
        )
    )


def test_tool_call_shape_round_trips() -> None:
    call = ToolCall("f", '{"a":1}', "call_1")
    assert ToolCall.from_dict(call.as_dict()) == call
    assert ToolCall.from_dict({"name": "f", "arguments": {"a": 1}}).arguments == '{"a":1}'
