"""The test server's tool calls (tests/llm_server.py, tests/llm_server_tools.py), through the
real openai SDK: scripted calls in OpenAI's reply shape, multi-turn scripts keyed on tool
results and whole conversations, tool_choice, and OpenAI's 400s for malformed tools."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import openai
import pytest
from llm_server import LLMServer, load_script
from llm_server_tools import conversation_key

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "Weather in Paris and Rome?"}]
TWO_CALLS = {
    "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
    ]
}


def chat(server: LLMServer, messages: list[Any], **kwargs: Any) -> Any:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as c:
        return c.chat.completions.create(model="m", messages=messages, **kwargs)


def raw(server: LLMServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of a request sent as it is (the SDK would not send some of these)."""
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps({"model": "m", **body}).encode(),
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_scripted_call_is_answered_in_openais_exact_shape(llm_server: LLMServer) -> None:
    llm_server.configure(script={"replies": {ASK[0]["content"]: TWO_CALLS}})
    status, body = raw(llm_server, {"messages": ASK, "tools": [WEATHER]})
    assert status == 200
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] is None
    calls = message["tool_calls"]
    assert [c["function"] for c in calls] == [  # in the order scripted; compact JSON text
        {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"name": "get_weather", "arguments": '{"city":"Rome"}'},
    ]
    assert all(c["type"] == "function" for c in calls)
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", c["id"]) for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    # the SDK reads it as OpenAI's own
    reply = chat(llm_server, ASK, tools=[WEATHER]).choices[0].message
    assert [(c.function.name, c.id) for c in reply.tool_calls] == [
        ("get_weather", calls[0]["id"]),
        ("get_weather", calls[1]["id"]),
    ]


def test_call_ids_follow_from_the_conversation(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": TWO_CALLS})
    ids = [
        [c.id for c in chat(llm_server, m, tools=[WEATHER]).choices[0].message.tool_calls]
        for m in (ASK, ASK, [{"role": "user", "content": "another question"}])
    ]
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_arguments_given_as_text_are_sent_as_written(llm_server: LLMServer) -> None:
    broken = {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Par'}]}
    llm_server.configure(script={"default": broken})
    (call,) = chat(llm_server, ASK, tools=[WEATHER]).choices[0].message.tool_calls
    assert call.function.arguments == '{"city": "Par'


def test_a_conversation_is_scripted_turn_by_turn(llm_server: LLMServer) -> None:
    """Ask, call, the tool's result fed back, the answer: each turn keyed as documented."""
    script = {
        "replies": {
            ASK[0]["content"]: {
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]
            },
            'tool:{"temp_c": 21}': "It is 21 C in Paris.",
        }
    }
    llm_server.configure(script=script)
    first = chat(llm_server, ASK, tools=[WEATHER]).choices[0].message
    (call,) = first.tool_calls
    turn = [
        *ASK,
        first.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    second = chat(llm_server, turn, tools=[WEATHER]).choices[0]
    assert (second.message.content, second.finish_reason) == ("It is 21 C in Paris.", "stop")
    # an unscripted tool result is echoed; a whole conversation can be keyed by its digest
    other = [*turn[:2], {**turn[2], "content": "cloudy"}]
    assert chat(llm_server, other, tools=[WEATHER]).choices[0].message.content == "cloudy"
    script["replies"][conversation_key(other)] = "Cloudy in Paris."
    llm_server.configure(script=script)
    assert chat(llm_server, other, tools=[WEATHER]).choices[0].message.content == "Cloudy in Paris."


def test_tool_choice_and_parallel_tool_calls(llm_server: LLMServer) -> None:
    text_only = [{"role": "user", "content": "just talk"}]
    llm_server.configure(
        script={"replies": {ASK[0]["content"]: {**TWO_CALLS, "content": "Let me look."}}}
    )

    def calls(messages: list[Any], **kw: Any) -> list[tuple[str, str]] | str | None:
        message = chat(llm_server, messages, **kw).choices[0].message
        if not message.tool_calls:
            return message.content  # type: ignore[no-any-return]
        return [(c.function.name, c.function.arguments) for c in message.tool_calls]

    assert calls(ASK, tools=[WEATHER]) == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Rome"}'),
    ]
    assert calls(ASK, tools=[WEATHER], parallel_tool_calls=False) == [
        ("get_weather", '{"city":"Paris"}')
    ]
    assert calls(ASK, tools=[WEATHER], tool_choice="none") == "Let me look."
    assert calls(ASK) == "Let me look."  # no tools offered: no calls
    named = {"type": "function", "function": {"name": "get_time"}}
    assert calls(ASK, tools=[WEATHER, TIME], tool_choice=named) == [("get_time", "{}")]
    assert calls(text_only, tools=[TIME, WEATHER], tool_choice="required") == [("get_time", "{}")]
    assert calls(text_only, tools=[WEATHER]) == "just talk"  # auto: the text reply


def test_streamed_calls_add_up_to_the_reply(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": TWO_CALLS})
    whole = chat(llm_server, ASK, tools=[WEATHER]).choices[0].message.tool_calls
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chat(llm_server, ASK, tools=[WEATHER], stream=True):
        delta = chunk.choices[0].delta
        for part in delta.tool_calls or ():
            call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += part.id or ""
            call["name"] += (part.function.name or "") if part.function else ""
            call["arguments"] += (part.function.arguments or "") if part.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [calls[i] for i in sorted(calls)] == [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in whole
    ]


def fn(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": function}


OBJECT = {"type": "object", "properties": {"x": {"type": "string"}}}


@pytest.mark.parametrize(
    ("tools", "message", "param", "code"),
    [
        (
            [fn(name="get weather", parameters=OBJECT)],
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string "
            "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].function.name",
            "invalid_value",
        ),
        (
            [WEATHER, fn(parameters=OBJECT)],
            "Missing required parameter: 'tools[1].function.name'.",
            "tools[1].function.name",
            "missing_required_parameter",
        ),
        (
            [{"function": WEATHER["function"]}],
            "Missing required parameter: 'tools[0].type'.",
            "tools[0].type",
            "missing_required_parameter",
        ),
        (
            [],
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "tools",
            "empty_array",
        ),
        (
            [fn(name="f", parameters=[])],
            "Invalid schema for function 'f': [] is not of type 'object', 'boolean'.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        (
            [fn(name="f", parameters={"type": "string"})],
            "Invalid schema for function 'f': schema must be a JSON Schema of 'type: \"object\"', "
            "got 'type: \"string\"'.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        *(
            (  # BFCL's types, which BFCL itself maps to JSON Schema's before calling OpenAI
                [fn(name="area", parameters={"type": "object", "properties": {"v": sub}})],
                f"Invalid schema for function 'area': '{bad}' is not valid under any of the "
                "given schemas.",
                "tools[0].function.parameters",
                "invalid_function_parameters",
            )
            for sub, bad in [
                ({"type": "dict", "properties": {}}, "dict"),
                ({"type": "float"}, "float"),
                ({"type": "array", "items": {"type": "tuple"}}, "tuple"),
            ]
        ),
        (
            [fn(name="f", strict=True, parameters=OBJECT)],
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required "
            "to be supplied and to be false.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        (
            [fn(name="f", strict=True, parameters={**OBJECT, "additionalProperties": False})],
            "Invalid schema for function 'f': In context=(), 'required' is required to be "
            "supplied and to be an array including every key in properties. Missing 'x'.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
    ],
)
def test_malformed_tools_get_openais_400(
    llm_server: LLMServer, tools: list[Any], message: str, param: str, code: str
) -> None:
    status, body = raw(llm_server, {"messages": ASK, "tools": tools})
    assert status == 400
    assert body == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    assert llm_server.stats()["injected"]["tools"] == 1


def test_what_openai_takes_is_taken(llm_server: LLMServer) -> None:
    closed = {**OBJECT, "additionalProperties": False, "required": ["x"]}
    fine = [
        fn(name="no_arguments"),
        fn(name="empty", parameters={}),
        fn(name="strict-one", strict=True, parameters=closed),
        fn(
            name="nullable",
            parameters={"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
        ),
    ]
    assert raw(llm_server, {"messages": ASK, "tools": fine})[0] == 200


def test_tool_turns_openai_refuses(llm_server: LLMServer) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    said = {"role": "assistant", "content": None, "tool_calls": [call]}
    answer = {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    cases = [
        (
            [*ASK, answer],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            "messages.[1].role",
        ),
        (
            [*ASK, said, *ASK],
            "An assistant message with 'tool_calls' must be followed by tool messages responding"
            " to each 'tool_call_id'. The following tool_call_ids did not have response "
            "messages: call_1",
            "messages.[2].role",
        ),
        (
            [*ASK, said, {**answer, "tool_call_id": "call_9"}],
            "Invalid parameter: 'tool_call_id' of 'call_9' not found in 'tool_calls' of "
            "previous message.",
            "messages.[2].tool_call_id",
        ),
        (
            [*ASK, {**said, "tool_calls": [{**call, "function": {"name": "f", "arguments": {}}}]}],
            "Invalid type for 'messages[1].tool_calls[0].function.arguments': expected a "
            "string, but got an object instead.",
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            [*ASK, {**said, "tool_calls": []}],
            "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
            "messages[1].tool_calls",
        ),
    ]
    for messages, message, param in cases:
        status, body = raw(llm_server, {"messages": messages, "tools": [WEATHER]})
        assert (status, body["error"]["message"], body["error"]["param"]) == (400, message, param)
    assert raw(llm_server, {"messages": [*ASK, said, answer], "tools": [WEATHER]})[0] == 200
    status, body = raw(llm_server, {"messages": ASK, "tool_choice": "auto"})
    assert (status, body["error"]["param"]) == (400, "tool_choice")
    assert body["error"]["message"] == (
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    )


def test_validation_can_be_switched_off(llm_server: LLMServer) -> None:
    """As vLLM and llama.cpp do, which pass a schema to the chat template unchecked."""
    bfcl = [fn(name="area", parameters={"type": "dict", "properties": {"b": {"type": "float"}}})]
    assert raw(llm_server, {"messages": ASK, "tools": bfcl})[0] == 400
    llm_server.configure(validate_tools=False)
    assert raw(llm_server, {"messages": ASK, "tools": bfcl})[0] == 200


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ({"tool_calls": []}, "'tool_calls' must be a non-empty list"),
        ({"tool_calls": [{"arguments": {}}]}, "a call is an object with a 'name'"),
        ({"tool_calls": [{"name": "f", "args": {}}]}, "unknown keys ['args']"),
    ],
)
def test_a_bad_scripted_call_is_refused_at_load(reply: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        load_script({"default": reply})
