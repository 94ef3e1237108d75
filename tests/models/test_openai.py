"""The OpenAI provider: what it sends to a chat model and to a reasoning model, and how it
adapts, once, to a server that refuses a generation parameter. Through the real openai SDK
against tests/llm_server.py, which can answer exactly as OpenAI's API does for its
reasoning models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl
from llm_server import LLMServer

from pytest_llmeval.models import ModelError, ModelSettings, compat, create_model
from pytest_llmeval.models.base import Completion, GenerateParams
from pytest_llmeval.models.openai import OpenAIModel

HELLO = [{"role": "user", "content": "hello there"}]
MAX_TOKENS_REFUSED = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead."
)
TEMPERATURE_REFUSED = (
    "Unsupported value: 'temperature' does not support 0.0 with this model. "
    "Only the default (1) value is supported."
)


def openai_model(spec: str, base_url: str | None = None) -> OpenAIModel:
    model = create_model(ModelSettings(spec, base_url=base_url))
    assert isinstance(model, OpenAIModel)
    return model


def ask(
    model: OpenAIModel, params: GenerateParams, times: int = 1, concurrently: bool = False
) -> list[Completion]:
    async def run() -> list[Completion]:
        try:
            if concurrently:
                calls = [model.agenerate(HELLO, params) for _ in range(times)]
                return list(await asyncio.gather(*calls))
            return [await model.agenerate(HELLO, params) for _ in range(times)]
        finally:
            await model.aclose()

    return asyncio.run(run())


def sent(server: LLMServer) -> list[tuple[int, dict[str, Any]]]:
    """(status, body without messages) of every request the server saw."""
    return [
        (e["status"], {k: v for k, v in e["body"].items() if k != "messages"})
        for e in server.request_log()
    ]


@pytest.fixture
def openai_server(llm_server: LLMServer) -> LLMServer:
    """The test server answering as OpenAI's API: o-series and gpt-5 are reasoning models."""
    llm_server.configure(reasoning_models=["o[0-9]*", "gpt-5*"], script={"default": "four"})
    return llm_server


# -- what is sent, up front ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reasoning"),
    [
        ("o1", True),
        ("o1-mini", True),
        ("o3-2025-04-16", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-nano", True),
        ("gpt-5.1", True),
        ("ft:o4-mini-2025-04-16:acme::abc123", True),
        ("codex-mini-latest", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("omni-moderation-latest", False),
        ("llama-3.1-o1-distill", False),
    ],
)
def test_reasoning_models_are_known_by_name(name: str, reasoning: bool) -> None:
    assert compat.is_reasoning_model(name) is reasoning


def test_request_fields_for_a_chat_model_and_a_reasoning_model_on_openai() -> None:
    params = GenerateParams(temperature=0.0, max_tokens=256, seed=7)
    chat = openai_model("gpt-4o-mini")._body(HELLO, params)
    assert chat == {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "temperature": 0.0,
        "max_tokens": 256,
        "seed": 7,
    }
    reasoning = openai_model("o4-mini")
    assert reasoning.base_url == "https://api.openai.com/v1"
    assert reasoning._body(HELLO, params) == {
        "model": "o4-mini",
        "messages": HELLO,
        "max_completion_tokens": 256,
        "seed": 7,
    }
    # what the user set explicitly is sent (and, if refused, adapted like any field)
    mine = GenerateParams(
        temperature=1.0, top_p=0.5, explicit=frozenset({"temperature", "top_p"}), max_tokens=9
    )
    assert reasoning._body(HELLO, mine) == {
        "model": "o4-mini",
        "messages": HELLO,
        "temperature": 1.0,
        "top_p": 0.5,
        "max_completion_tokens": 9,
    }
    # the same name on another server is not assumed to be OpenAI's model
    elsewhere = openai_model("o4-mini", "http://127.0.0.1:1/v1")._body(HELLO, params)
    assert elsewhere["max_tokens"] == 256 and elsewhere["temperature"] == 0.0


def test_pass_through_fields_are_sent_as_they_are() -> None:
    params = GenerateParams(extra={"reasoning_effort": "low", "verbosity": "low"})
    body = openai_model("gpt-5-mini")._body(HELLO, params)
    assert body["reasoning_effort"] == "low" and body["verbosity"] == "low"


def test_a_reasoning_model_on_openai_decodes_at_its_own_temperature() -> None:
    """The cache key and cache policy follow what is sent: no temperature means the
    model's default (1), so the default cache mode (greedy only) does not reuse it."""
    from pytest_llmeval.store import cache

    task = GenerateParams(temperature=0.0, top_p=0.9, max_tokens=64)
    o4 = ModelSettings("o4-mini")
    effective = compat.effective_params(o4, task)
    assert (effective.temperature, effective.top_p) == (1.0, None)
    assert not cache.reads("auto", effective) and cache.reads("on", effective)
    assert effective.as_dict() != task.as_dict()
    set_by_user = GenerateParams(temperature=0.0, explicit=frozenset({"temperature"}))
    assert compat.effective_params(o4, set_by_user) == set_by_user
    for other in (ModelSettings("gpt-4o-mini"), ModelSettings("o4-mini", "http://h:1/v1"), None):
        assert compat.effective_params(other, task) is task


def test_new_params_leave_existing_cache_keys_alone() -> None:
    assert GenerateParams(temperature=0.0, max_tokens=64).as_dict() == {
        "temperature": 0.0,
        "max_tokens": 64,
        "top_p": None,
        "stop": [],
        "seed": None,
        "response_format": None,
    }
    with_extra = GenerateParams(extra={"reasoning_effort": "low"})
    assert with_extra.as_dict()["extra"] == {"reasoning_effort": "low"}
    assert len({with_extra, GenerateParams()}) == 2  # still hashable (batches group by it)


# -- adapting to a server that refuses a parameter -----------------------------------------


def test_a_reasoning_model_elsewhere_is_adapted_to_once(openai_server: LLMServer) -> None:
    model = openai_model("openai/o4-mini", openai_server.base_url)
    comps = ask(model, GenerateParams(temperature=0.0, max_tokens=16), times=3)
    assert [c.text for c in comps] == ["four"] * 3
    assert sent(openai_server) == [
        (400, {"model": "o4-mini", "temperature": 0.0, "max_tokens": 16}),
        (400, {"model": "o4-mini", "temperature": 0.0, "max_completion_tokens": 16}),
        (200, {"model": "o4-mini", "max_completion_tokens": 16}),
        (200, {"model": "o4-mini", "max_completion_tokens": 16}),
        (200, {"model": "o4-mini", "max_completion_tokens": 16}),
    ]
    report = model.request_report()
    assert report["sent"] == [{"fields": {"max_completion_tokens": 16}, "requests": 3}]
    assert report["adapted"] == [
        {
            "param": "max_tokens",
            "action": "sent max_completion_tokens instead",
            "reason": MAX_TOKENS_REFUSED,
        },
        {
            "param": "temperature",
            "action": "left it out (the model's default applies)",
            "reason": TEMPERATURE_REFUSED,
        },
    ]
    assert len(report["notes"]) == 2 and "refused max_tokens for o4-mini" in report["notes"][0]


def test_concurrent_requests_share_what_was_learned(openai_server: LLMServer) -> None:
    openai_server.configure(latency_ms=20)
    model = openai_model("openai/gpt-5-mini", openai_server.base_url)
    params = GenerateParams(temperature=0.0, top_p=0.9, max_tokens=8)
    comps = ask(model, params, times=12, concurrently=True)
    assert all(c.text == "four" for c in comps)
    log = sent(openai_server)
    assert sum(1 for status, _ in log if status == 200) == 12
    # at most one refusal per field per request, whatever the interleaving
    assert sum(1 for status, _ in log if status == 400) <= 3 * 12
    assert [a["param"] for a in model.request_report()["adapted"]] == [
        "max_tokens",
        "temperature",
        "top_p",
    ]
    # later requests go right the first time
    openai_server.reset()
    openai_server.configure(reasoning_models=["gpt-5*"], script={"default": "four"})
    model2 = openai_model("openai/gpt-5-mini", openai_server.base_url)
    ask(model2, params, times=3)
    assert [s for s, _ in sent(openai_server)].count(400) == 3  # one per field, once


def test_a_refused_pass_through_field_is_the_users_error(openai_server: LLMServer) -> None:
    """reasoning_effort is the user's own request: a refusal is reported, not dropped."""
    model = openai_model("openai/gpt-4o-mini", openai_server.base_url)
    with pytest.raises(ModelError) as caught:
        ask(model, GenerateParams(extra={"reasoning_effort": "low"}))
    err = caught.value
    assert err.status == 400 and not err.retryable and err.fatal is None
    assert "Unsupported parameter: 'reasoning_effort' is not supported" in str(err)
    assert len(openai_server.request_log()) == 1 and model.request_report()["adapted"] == []


def test_an_unknown_reasoning_effort_value_is_an_error(openai_server: LLMServer) -> None:
    model = openai_model("openai/o3", openai_server.base_url)
    with pytest.raises(ModelError, match='Invalid value: "extreme"'):
        ask(model, GenerateParams(extra={"reasoning_effort": "extreme"}))


def test_a_token_limit_is_never_dropped(llm_server: LLMServer) -> None:
    """Only a field the server does not take is dropped; a value it finds wrong for a
    token limit is the user's to fix (dropping it would lift the limit)."""
    body = {
        "error": {
            "message": "Unsupported value: 'max_tokens' must be at most 4096.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_value",
        }
    }
    llm_server.configure(script={"default": {"status": 400, "body": body}})
    model = openai_model("openai/m", llm_server.base_url)
    with pytest.raises(ModelError, match="must be at most 4096"):
        ask(model, GenerateParams(max_tokens=9000))
    assert len(llm_server.request_log()) == 1


def test_a_proxy_that_keeps_the_message_but_not_the_code(llm_server: LLMServer) -> None:
    body = {"error": {"message": MAX_TOKENS_REFUSED, "code": "invalid_request_body"}}
    llm_server.configure(
        script={"replies": {"hello there": [{"status": 400, "body": body}, "fine"]}}
    )
    model = openai_model("openai/m", llm_server.base_url)
    assert ask(model, GenerateParams(max_tokens=5))[0].text == "fine"
    assert "max_completion_tokens" in sent(llm_server)[-1][1]


def test_reasoning_tokens_and_a_starved_reply_are_reported(openai_server: LLMServer) -> None:
    openai_server.configure(reasoning_tokens=40)
    model = openai_model("openai/o4-mini", openai_server.base_url)
    (comp,) = ask(model, GenerateParams(max_tokens=32, explicit=frozenset()))
    assert comp.text == "" and comp.finish_reason == "length"
    assert comp.metadata["reasoning_tokens"] == 32
    (note,) = [n for n in model.request_report()["notes"] if "ran out of tokens" in n]
    assert "raise --max-tokens or set reasoning_effort" in note


# -- end to end ---------------------------------------------------------------------------


def _qa_project(project: EvalProject, n: int, params: str = "") -> list[dict[str, Any]]:
    records = qa_records(n)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_qa.yaml").write_text(
        f"task: qa\ndataset: data/qa.jsonl\n{params}"
    )
    project.server.configure(
        script={"models": {"o4-mini": answers(records)}}, reasoning_models=["o[0-9]*"]
    )
    return records


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_reasoning_model_evaluates_and_the_run_records_what_was_sent(
    project: EvalProject, xdist: Sequence[str]
) -> None:
    _qa_project(project, 6, "params:\n  reasoning_effort: low\n")
    result = project.run(*xdist, model="openai/o4-mini")
    result.assert_outcomes(passed=6)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        lines(
            "llmeval: *refused max_tokens for o4-mini (Unsupported parameter: 'max_tokens'*"
            "sent max_completion_tokens instead for the rest of the session",
            "llmeval: *refused temperature for o4-mini (Unsupported value: 'temperature'*"
            "left it out*",
        )
    )
    (run,) = project.runs()
    params = json.loads(run["params"])
    assert params["sent"] == {
        "model": [
            {
                "fields": {"max_completion_tokens": 64, "reasoning_effort": "low"},
                "requests": 6,
            }
        ]
    }
    assert [a["param"] for a in params["adapted"]["model"]] == ["max_tokens", "temperature"]
    bodies = [b for s, b in sent(project.server) if s == 200]
    assert len(bodies) == 6 and all("temperature" not in b for b in bodies)


def test_an_explicit_temperature_is_sent_then_adapted(project: EvalProject) -> None:
    _qa_project(project, 3, "params:\n  temperature: 0.2\n")
    result = project.run("--llmeval-concurrency", "1", model="openai/o4-mini")
    result.assert_outcomes(passed=3)
    first = sent(project.server)[0][1]
    assert first["temperature"] == 0.2
    result.stdout.fnmatch_lines(
        lines(
            "*refused temperature for o4-mini (Unsupported value: 'temperature' does not "
            "support 0.2 with this model.*"
        )
    )


def test_a_chat_model_run_records_its_fields(project: EvalProject) -> None:
    project.qa_suite(4)
    result = project.run()
    result.assert_outcomes(passed=4)
    params = json.loads(project.runs()[0]["params"])
    assert params["sent"] == {
        "model": [{"fields": {"temperature": 0.0, "max_tokens": 64}, "requests": 4}]
    }
    assert params["adapted"] == {}
    assert "refused" not in result.stdout.str()
