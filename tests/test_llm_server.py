"""Tests of the fake OpenAI-compatible server in tests/llm_server.py, through the real openai SDK."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest
from llm_server import LLMServer


def client(server: LLMServer, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("api_key", "test")
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, **kwargs)


def ask(server: LLMServer, content: str, model: str = "test-model", **kwargs: Any) -> Any:
    with client(server) as c:
        return c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], **kwargs
        )


def reply(server: LLMServer, content: str, model: str = "test-model") -> str | None:
    return ask(server, content, model).choices[0].message.content  # type: ignore[no-any-return]


async def gather_statuses(server: LLMServer, n: int, concurrency: int, **kw: Any) -> Counter[int]:
    """Send n requests (distinct prompts) with at most `concurrency` in flight; count statuses."""
    statuses: Counter[int] = Counter()
    semaphore = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="test", max_retries=kw.pop("max_retries", 0), **kw
    ) as c:

        async def one(i: int) -> None:
            async with semaphore:
                try:
                    await c.chat.completions.create(
                        model="test-model", messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    statuses[200] += 1
                except openai.APIStatusError as exc:
                    statuses[exc.status_code] += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return statuses


# ---- response shape and scripted replies ----------------------------------------------------


def test_completion_shape_echo_and_usage(llm_server: LLMServer) -> None:
    with client(llm_server) as c:
        result = c.chat.completions.create(
            model="my-model",
            messages=[
                {"role": "system", "content": "be brief please"},
                {"role": "user", "content": "hello there world"},
            ],
        )
    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.model == "my-model"
    assert isinstance(result.created, int)
    assert len(result.choices) == 1
    choice = result.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "hello there world"  # echo of the last user message
    assert choice.finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (6, 3)
    assert result.usage.total_tokens == 9


def test_raw_json_is_exactly_the_openai_shape(llm_server: LLMServer) -> None:
    with client(llm_server) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    body = json.loads(raw.text)
    assert set(body) >= {"id", "object", "created", "model", "choices", "usage"}
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hi", "refusal": None}
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["x-request-id"]


def test_exact_key_and_default(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": "fallback", "replies": {"2+2?": "4"}})
    assert reply(llm_server, "2+2?") == "4"
    assert reply(llm_server, "2+2? ") == "fallback"  # exact match only
    assert reply(llm_server, "anything") == "fallback"


def test_echo_when_nothing_matches_and_no_default(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": None, "replies": {"a": "b"}})
    assert reply(llm_server, "not scripted") == "not scripted"
    # with several messages the *last user* message is looked up and echoed
    with client(llm_server) as c:
        result = c.chat.completions.create(
            model="m",
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "second"},
            ],
        )
    assert result.choices[0].message.content == "second"


def test_sha256_key(llm_server: LLMServer) -> None:
    prompt = "a very long prompt " * 500
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    llm_server.configure(script={"replies": {f"sha256:{digest.upper()}": "hashed"}})
    assert reply(llm_server, prompt) == "hashed"
    assert reply(llm_server, "other") == "other"


def test_per_model_scripts_and_lookup_order(llm_server: LLMServer) -> None:
    llm_server.configure(
        script={
            "default": "top default",
            "replies": {"q": "top q", "shared": "top shared"},
            "models": {
                "model-a": {"replies": {"q": "a says q"}, "default": "a default"},
                "model-b": {"replies": {"q": "b says q"}},
            },
        }
    )
    assert reply(llm_server, "q", "model-a") == "a says q"
    assert reply(llm_server, "q", "model-b") == "b says q"
    assert reply(llm_server, "q", "model-c") == "top q"
    assert reply(llm_server, "shared", "model-a") == "a default"  # model default beats top level
    assert reply(llm_server, "shared", "model-b") == "top shared"
    assert reply(llm_server, "zzz", "model-b") == "top default"
    with client(llm_server) as c:
        assert sorted(m.id for m in c.models.list()) == ["model-a", "model-b"]


def test_successive_replies_last_one_repeats(llm_server: LLMServer) -> None:
    llm_server.configure(script={"replies": {"next?": ["one", "two", "three"], "x": ["only"]}})
    got = [reply(llm_server, "next?") for _ in range(5)]
    assert got == ["one", "two", "three", "three", "three"]
    assert reply(llm_server, "x") == "only"
    llm_server.reset()
    llm_server.configure(script={"replies": {"next?": ["one", "two"]}})
    assert reply(llm_server, "next?") == "one"  # reset restarts the sequences


def test_scripted_reply_objects(llm_server: LLMServer) -> None:
    llm_server.configure(
        script={
            "replies": {
                "boom": {"status": 503, "message": "overloaded"},
                "filtered": {"content": "", "finish_reason": "content_filter"},
                "flaky": [{"status": 500}, "ok now"],
            }
        }
    )
    with pytest.raises(openai.InternalServerError) as info:
        reply(llm_server, "boom")
    assert info.value.status_code == 503
    assert "overloaded" in info.value.message
    result = ask(llm_server, "filtered")
    assert result.choices[0].finish_reason == "content_filter"
    with pytest.raises(openai.InternalServerError):
        reply(llm_server, "flaky")
    assert reply(llm_server, "flaky") == "ok now"


def test_max_tokens_truncates_words(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": "one two  three four five"})
    result = ask(llm_server, "x", max_tokens=3)
    assert result.choices[0].message.content == "one two  three"
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 3
    result = ask(llm_server, "x", max_completion_tokens=2)
    assert result.choices[0].message.content == "one two"
    result = ask(llm_server, "x", max_tokens=5)
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == 5


def test_streaming(llm_server: LLMServer) -> None:
    llm_server.configure(script={"default": "streamed reply of five words"})
    with client(llm_server) as c:
        stream = c.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "go"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "streamed reply of five words"
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert llm_server.stats()["streamed"] == 1


# ---- latency ----------------------------------------------------------------------------------


def test_latency_is_applied(llm_server: LLMServer) -> None:
    with client(llm_server) as c:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "warm"}])
        llm_server.configure(latency_ms=300)
        start = time.perf_counter()
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "slow"}])
        elapsed = time.perf_counter() - start
    assert 0.25 <= elapsed < 5.0


def test_latency_overlaps_under_concurrency(llm_server: LLMServer) -> None:
    llm_server.configure(latency_ms=200, jitter_ms=50)
    start = time.perf_counter()
    statuses = asyncio.run(gather_statuses(llm_server, 16, 16))
    elapsed = time.perf_counter() - start
    assert statuses == {200: 16}
    assert 0.19 <= elapsed < 2.0  # 16 x 200 ms run concurrently, not one after another
    assert llm_server.stats()["max_in_flight"] > 1


# ---- fault injection --------------------------------------------------------------------------


def test_error_rate_produces_both_codes_at_about_the_rate(llm_server: LLMServer) -> None:
    llm_server.configure(error_rate=0.3, error_codes=[500, 429], seed=1234)
    statuses = asyncio.run(gather_statuses(llm_server, 300, 32))
    assert sum(statuses.values()) == 300
    errors = statuses[500] + statuses[429]
    assert 50 <= errors <= 130, statuses  # expected 90
    assert statuses[500] >= 15 and statuses[429] >= 15, statuses
    stats = llm_server.stats()
    assert stats["by_status"] == dict(statuses)
    assert stats["injected"]["error_rate"] == errors


def test_error_rate_is_deterministic_given_the_seed(llm_server: LLMServer) -> None:
    def run() -> list[int]:
        llm_server.reset()
        llm_server.configure(error_rate=0.5, error_codes=[500, 429, 503], seed=7)
        out = []
        with client(llm_server) as c:
            for i in range(20):
                try:
                    c.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": str(i)}]
                    )
                    out.append(200)
                except openai.APIStatusError as exc:
                    out.append(exc.status_code)
        return out

    first = run()
    assert first == run()
    assert len(set(first)) > 1


def test_429_carries_retry_headers_and_openai_error_body(llm_server: LLMServer) -> None:
    llm_server.configure(error_rate=1.0, error_codes=[429], retry_after=3, retry_after_ms=7)
    with pytest.raises(openai.RateLimitError) as info:
        reply(llm_server, "x")
    headers = info.value.response.headers
    assert headers["retry-after"] == "3"
    assert headers["retry-after-ms"] == "7"
    assert info.value.code == "rate_limit_exceeded"
    assert isinstance(info.value.body, dict) and set(info.value.body) >= {"message", "type", "code"}
    error = info.value.response.json()["error"]
    assert set(error) >= {"message", "type", "code"}


def test_429_default_retry_after_is_zero(llm_server: LLMServer) -> None:
    llm_server.configure(error_rate=1.0, error_codes=[429])
    with pytest.raises(openai.RateLimitError) as info:
        reply(llm_server, "x")
    assert info.value.response.headers["retry-after"] == "0"
    assert "retry-after-ms" not in info.value.response.headers


def test_max_inflight_rejects_with_429(llm_server: LLMServer) -> None:
    llm_server.configure(max_inflight=4, latency_ms=300, retry_after_ms=5)
    statuses = asyncio.run(gather_statuses(llm_server, 16, 16))
    assert sum(statuses.values()) == 16
    assert statuses[200] >= 4
    assert statuses[429] >= 1, statuses
    assert set(statuses) <= {200, 429}
    stats = llm_server.stats()
    assert stats["max_in_flight"] <= 4
    assert stats["injected"]["max_inflight"] == statuses[429]
    assert stats["in_flight"] == 0


def test_fail_first_then_sdk_retries_succeed(llm_server: LLMServer) -> None:
    llm_server.configure(fail_first=2, retry_after_ms=1)  # fast retries for the SDK
    with client(llm_server, max_retries=2) as c:
        result = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert result.choices[0].message.content == "q"
    stats = llm_server.stats()
    assert stats["requests"] == 3
    assert stats["by_status"] == {500: 2, 200: 1}
    assert stats["injected"]["fail_first"] == 2
    retries = [e["headers"].get("x-stainless-retry-count") for e in llm_server.request_log()]
    assert retries == ["0", "1", "2"]
    # without retries the first attempt of a new body fails
    with pytest.raises(openai.InternalServerError):
        reply(llm_server, "new body")


def test_fail_first_is_per_body_regardless_of_concurrency(llm_server: LLMServer) -> None:
    llm_server.configure(fail_first=1, retry_after_ms=1)
    statuses = asyncio.run(gather_statuses(llm_server, 12, 12, max_retries=1))
    assert statuses == {200: 12}
    stats = llm_server.stats()
    assert stats["by_status"] == {500: 12, 200: 12}
    assert stats["distinct_bodies"] == 12


def test_api_key_required(llm_server: LLMServer) -> None:
    llm_server.configure(api_key="sekret")
    with (
        client(llm_server, api_key="wrong") as c,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    with client(llm_server, api_key="sekret") as c:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    log = llm_server.request_log()
    assert [e["status"] for e in log] == [401, 200]
    for entry in log:
        assert entry["authorization"] is True
        assert all(name.lower() != "authorization" for name in entry["headers"])
        assert "sekret" not in json.dumps(entry)


def test_hang_times_out_and_close_drops_the_connection(llm_server: LLMServer) -> None:
    llm_server.configure(hang=True)
    with client(llm_server, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    llm_server.configure(hang=False, close=True)
    with client(llm_server) as c, pytest.raises(openai.APIConnectionError) as info:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert not isinstance(info.value, openai.APITimeoutError)
    llm_server.configure(close=False)
    assert reply(llm_server, "fine") == "fine"
    deadline = time.monotonic() + 3
    while llm_server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)  # the hung handler is cancelled once the client has gone
    assert llm_server.stats()["in_flight"] == 0


# ---- control API ------------------------------------------------------------------------------


def test_reset_restores_settings_stats_and_requests(llm_server: LLMServer) -> None:
    initial = llm_server.config()
    changed = llm_server.configure(
        latency_ms=5, script={"default": "x"}, error_rate=0.0, max_inflight=9, api_key="k"
    )
    assert changed["latency_ms"] == 5.0 and changed["max_inflight"] == 9
    assert changed["script"] == {"default": "x"}
    with client(llm_server, api_key="k") as c:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert llm_server.stats()["requests"] == 1
    assert llm_server.reset() == initial
    assert llm_server.config() == initial
    stats = llm_server.stats()
    assert stats["requests"] == 0 and stats["by_status"] == {} and stats["by_model"] == {}
    assert llm_server.requests() == []
    assert reply(llm_server, "echo me") == "echo me"  # no api key, no script any more


def test_control_endpoints(llm_server: LLMServer) -> None:
    for i in range(3):
        ask(llm_server, f"hello {i}", model="model-x" if i else "model-y", temperature=0.5)
    stats = llm_server.stats()
    assert stats["requests"] == 3
    assert stats["by_model"] == {"model-x": 2, "model-y": 1}
    assert stats["by_status"] == {200: 3}
    assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1
    assert stats["prompt_tokens"] == 6 and stats["completion_tokens"] == 6
    bodies = llm_server.requests()
    assert [b["messages"][0]["content"] for b in bodies] == ["hello 0", "hello 1", "hello 2"]
    assert bodies[0]["temperature"] == 0.5
    assert llm_server.requests(limit=1) == bodies[-1:]
    entry = llm_server.request_log()[0]
    assert entry["path"] == "/v1/chat/completions" and entry["status"] == 200
    assert entry["headers"]["Content-Type"] == "application/json"

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{llm_server.url}/health", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    with client(llm_server) as c:
        assert [m.id for m in c.models.list()] == ["test-model"]

    with pytest.raises(ValueError, match="unknown settings"):
        llm_server.configure(no_such_setting=1)
    with pytest.raises(ValueError, match="error_rate"):
        llm_server.configure(error_rate=2)
    with pytest.raises(ValueError, match="script"):
        llm_server.configure(script={"replies": "not a dict"})


def test_bad_requests_get_400(llm_server: LLMServer) -> None:
    with client(llm_server) as c, pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="m", messages=[])
    assert llm_server.stats()["by_status"] == {400: 1}


# ---- OpenAI's API for reasoning models, and response_format -------------------------------

MAX_TOKENS_BODY = {
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead.",
    "type": "invalid_request_error",
    "param": "max_tokens",
    "code": "unsupported_parameter",
}
TEMPERATURE_BODY = {
    "message": "Unsupported value: 'temperature' does not support 0.0 with this model. "
    "Only the default (1) value is supported.",
    "type": "invalid_request_error",
    "param": "temperature",
    "code": "unsupported_value",
}


def refusal(server: LLMServer, model: str = "o4-mini", **kwargs: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        ask(server, "hi", model=model, **kwargs)
    return caught.value


def test_reasoning_models_are_refused_what_openai_refuses(llm_server: LLMServer) -> None:
    llm_server.configure(reasoning_models=["o[0-9]*", "gpt-5*"], script={"default": "ok"})
    err = refusal(llm_server, max_tokens=10)
    assert err.status_code == 400 and err.body == MAX_TOKENS_BODY
    assert err.code == "unsupported_parameter" and err.param == "max_tokens"
    err = refusal(llm_server, temperature=0.0, max_completion_tokens=10)
    assert err.status_code == 400 and err.body == TEMPERATURE_BODY
    assert (
        refusal(llm_server, temperature=0.5)
        .body["message"]
        .startswith(  # type: ignore[index]
            "Unsupported value: 'temperature' does not support 0.5 with this model."
        )
    )
    for name, value in (("top_p", 0.9), ("presence_penalty", 0.1)):
        body = refusal(llm_server, model="gpt-5-mini", **{name: value}).body
        assert body == {
            "message": f"Unsupported parameter: '{name}' is not supported with this model.",
            "type": "invalid_request_error",
            "param": name,
            "code": "unsupported_parameter",
        }
    assert refusal(llm_server, reasoning_effort="extreme").param == "reasoning_effort"
    # what it takes: max_completion_tokens, the default temperature, reasoning_effort
    ok = ask(
        llm_server, "hi", model="o3", max_completion_tokens=5, temperature=1, reasoning_effort="low"
    )
    assert ok.choices[0].message.content == "ok"
    assert ok.usage is not None and ok.usage.completion_tokens_details is not None
    assert ok.usage.completion_tokens_details.reasoning_tokens == 0
    # a chat model next to them takes max_tokens and temperature, not reasoning_effort
    assert ask(llm_server, "hi", model="gpt-4o-mini", max_tokens=5, temperature=0).choices
    err = refusal(llm_server, model="gpt-4o-mini", reasoning_effort="low")
    assert err.code == "unsupported_parameter" and err.param == "reasoning_effort"
    assert llm_server.stats()["injected"] == {"reasoning": 7}


def test_reasoning_tokens_come_out_of_the_completion_limit(llm_server: LLMServer) -> None:
    llm_server.configure(
        reasoning_models=["o*"], reasoning_tokens=3, script={"default": "a b c d e"}
    )
    result = ask(llm_server, "hi", model="o4-mini", max_completion_tokens=5)
    assert result.choices[0].message.content == "a b"
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 5
    starved = ask(llm_server, "hi", model="o4-mini", max_completion_tokens=3)
    assert starved.choices[0].message.content == ""
    assert starved.choices[0].finish_reason == "length"


SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


def schema_format(schema: Any = SCHEMA, name: str = "thing", strict: bool = True) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


def test_response_formats_a_server_does_not_take(llm_server: LLMServer) -> None:
    assert ask(llm_server, "hi", response_format=schema_format()).choices
    llm_server.configure(response_formats=["text", "json_object"])
    err = refusal(llm_server, model="m", response_format=schema_format())
    assert err.status_code == 400 and err.body == {
        "message": "Invalid parameter: 'response_format' of type 'json_schema' is not "
        "supported with this model.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
    assert ask(llm_server, "hi", response_format={"type": "json_object"}).choices
    llm_server.configure(format_error="llama.cpp")
    with client(llm_server) as c:
        raw = c.chat.completions.with_raw_response
        with pytest.raises(openai.InternalServerError) as caught:
            raw.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                response_format=schema_format(),
            )
    assert caught.value.body == {
        "code": 500,
        "message": 'response_format type must be one of "text" or "json_object", but got: '
        "json_schema",
        "type": "server_error",
    }
    assert caught.value.response.headers.get("retry-after") is None


def test_json_schema_requests_are_checked_as_openai_checks_them(llm_server: LLMServer) -> None:
    open_object = {"type": "object", "properties": {"a": {"type": "string"}}}
    err = refusal(llm_server, model="m", response_format=schema_format(open_object))
    assert err.status_code == 400 and err.param == "response_format"
    # the body, not err.message: older SDKs make that "Error code: 400 - {the whole body}"
    assert err.body["message"].endswith(
        "Invalid schema for response_format 'thing': In context=(), 'additionalProperties' "
        "is required to be supplied and to be false."
    )
    nested = {**SCHEMA, "properties": {"a": open_object}}
    err = refusal(llm_server, model="m", response_format=schema_format(nested))
    assert "In context=('properties', 'a'), 'additionalProperties'" in err.message
    missing = {**SCHEMA, "required": []}
    err = refusal(llm_server, model="m", response_format=schema_format(missing))
    assert "including every key in properties. Missing 'a'." in err.message
    assert refusal(llm_server, model="m", response_format=schema_format(name="a b")).param == (
        "response_format.json_schema.name"
    )
    # not strict: any schema goes
    assert ask(llm_server, "hi", response_format=schema_format(open_object, strict=False))


# ---- the program and the helper -----------------------------------------------------------


def test_startup_settings_and_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"replies": {"ping": "pong"}}))
    with LLMServer(script=str(script), api_key="key", latency_ms=1) as server:
        with client(server, api_key="key") as c:
            result = c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "ping"}]
            )
        assert result.choices[0].message.content == "pong"
        server.configure(script=None, api_key=None)
        assert reply(server, "ping") == "ping"
        config = server.reset()
        assert config["api_key"] == "key" and config["latency_ms"] == 1.0
        assert config["script"] == {"replies": {"ping": "pong"}}
    assert server.returncode is None  # stopped and released


def test_startup_settings_for_openai_modes() -> None:
    settings = {
        "reasoning_models": ["o*", "gpt-5*"],
        "reasoning_tokens": 2,
        "response_formats": ["text"],
        "format_error": "llama.cpp",
    }
    with LLMServer(**settings) as server:
        assert {k: server.config()[k] for k in settings} == settings
        assert refusal(server, max_tokens=3).param == "max_tokens"
    with pytest.raises(ValueError, match="format_error must be one of"):
        LLMServer(format_error="vllm")


def test_program_prints_listening_and_exits_cleanly_on_sigterm() -> None:
    program = Path(__file__).with_name("llm_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(program), "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line on stdout


def test_start_failure_reports_stderr() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="failed to start") as info, LLMServer(port=port):
            pass
    assert "stderr" in str(info.value)
    assert "address" in str(info.value).lower() or "errno" in str(info.value).lower()
