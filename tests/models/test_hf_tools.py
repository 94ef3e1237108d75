"""Tool calls on local models: the chat template renders the tools, transformers' response
parsing reads the calls back, and a model that cannot do either ends the run at once.

The model is the session's tiny Llama trained (tests/tinymodel.py ``build_tool_caller``) to
replay known answers, calls included, so a call read back is the model's, not made up.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from servers import Served, transformers_serving

from pytest_llmeval.models import ModelError, ModelSettings, create_model
from pytest_llmeval.models.base import Completion, GenerateParams, Message
from pytest_llmeval.models.hf import HFModel
from pytest_llmeval.models.openai import OpenAIModel

pytest_plugins = ["servers"]  # tiny_model, shared by the session

pytest.importorskip("transformers")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK: list[Message] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
PARIS = {
    "id": "a",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
}
ROME = {
    "id": "b",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Rome"}},
}
CALLED = {"role": "assistant", "content": "", "tool_calls": [PARIS, ROME]}
RESULTS: list[Message] = [
    {"role": "tool", "tool_call_id": "a", "content": "rainy"},
    {"role": "tool", "tool_call_id": "b", "content": "sunny"},
]
ANSWER = "Rain in Paris, sun in Rome."
TOOLS = GenerateParams(max_tokens=128, tools=(WEATHER,))


@pytest.fixture(scope="session")
def tool_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama, taught two turns: the question answered with two parallel calls, and
    the calls' results answered with a sentence."""
    return tinymodel.build_tool_caller(
        tiny_model,
        tmp_path_factory.mktemp("tools") / "model",
        [
            (ASK, [WEATHER], CALLED),
            ([*ASK, CALLED, *RESULTS], [WEATHER], {"role": "assistant", "content": ANSWER}),
        ],
    )


def hf(path: Path) -> HFModel:
    model = create_model(ModelSettings(f"hf/{path}"))
    assert isinstance(model, HFModel)
    return model


def generate(model: HFModel, *requests: tuple[list[Message], GenerateParams]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await model.agenerate_batch(list(requests))
        finally:
            await model.aclose()

    return asyncio.run(go())


def test_calls_are_read_back_in_the_order_written(tool_model: Path) -> None:
    (comp,) = generate(hf(tool_model), (ASK, TOOLS))
    assert isinstance(comp, Completion)
    assert (comp.text, comp.finish_reason) == ("", "tool_calls")
    assert [(c.name, c.arguments) for c in comp.tool_calls] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Rome"}'),
    ]
    ids = [c.id or "" for c in comp.tool_calls]
    assert all(len(i) == 9 and i.isalnum() for i in ids) and ids[0] != ids[1]
    (again,) = generate(hf(tool_model), (ASK, TOOLS))
    assert [c.id for c in again.tool_calls] == ids  # the same prompt, the same ids


def test_a_tool_turn_goes_back_through_the_template(tool_model: Path) -> None:
    """The calls come back as the model returned them (ToolCalls, arguments as JSON text)
    and reach the template with arguments as an object, as it was taught: else the prompt
    differs and the taught answer does not come."""
    (first,) = generate(hf(tool_model), (ASK, TOOLS))
    paris, rome = first.tool_calls
    said: Message = {"role": "assistant", "content": None, "tool_calls": [paris, rome]}
    answers = [
        {**RESULTS[0], "tool_call_id": paris.id},
        {**RESULTS[1], "tool_call_id": rome.id},
    ]
    # batched with a request without tools: each row is read by its own request's params
    reply, plain = generate(
        hf(tool_model), ([*ASK, said, *answers], TOOLS), (ASK, GenerateParams(max_tokens=8))
    )
    assert (reply.text, reply.tool_calls, reply.finish_reason) == (ANSWER, (), "stop")
    assert plain.tool_calls == () and plain.finish_reason in ("stop", "length")


def test_tool_choice_none_shows_no_tools(tool_model: Path) -> None:
    model = hf(tool_model)
    generate(model, (ASK, GenerateParams(max_tokens=1)))  # loads it
    model._load()
    shown, _ = model._prompt(ASK, TOOLS)
    hidden, _ = model._prompt(ASK, GenerateParams(tools=(WEATHER,), tool_choice="none"))
    assert '"get_weather"' in shown and "get_weather" not in hidden
    (comp,) = generate(
        model, (ASK, GenerateParams(max_tokens=128, tools=(WEATHER,), tool_choice="none"))
    )
    assert comp.tool_calls == ()


def test_a_required_tool_choice_is_reported_as_not_enforced(tool_model: Path) -> None:
    model = hf(tool_model)
    params = GenerateParams(max_tokens=128, tools=(WEATHER,), tool_choice="required")
    (comp,) = generate(model, (ASK, params))
    assert len(comp.tool_calls) == 2
    (note,) = model.request_report()["notes"]
    assert note == (
        f'hf/{tool_model} cannot enforce tool_choice "required" (no constrained decoding): '
        "1 requests offered the tools and read whatever it called"
    )


def test_unreadable_calls_leave_the_text_and_say_why(tool_model: Path) -> None:
    """Cut off inside a call (max_tokens): no call, the plain text, the parser's reason."""
    (comp,) = generate(hf(tool_model), (ASK, GenerateParams(max_tokens=12, tools=(WEATHER,))))
    assert comp.tool_calls == () and comp.finish_reason == "length"
    assert comp.text.startswith('{"name"') or comp.text.startswith("<tool_call>")
    assert "could not parse" in comp.metadata["tool_call_parse_error"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("plain", "its chat template does not render tools"),
        ("no-response-template", "its tokenizer has no response_template to read calls with"),
    ],
)
def test_a_model_that_cannot_call_tools_is_a_rejected_configuration(
    tiny_model: Path, tool_model: Path, tmp_path: Path, change: str, why: str
) -> None:
    path = tiny_model
    if change == "no-response-template":
        path = tmp_path / "model"
        shutil.copytree(tool_model, path)
        config = json.loads((path / "tokenizer_config.json").read_text())
        del config["response_template"]
        (path / "tokenizer_config.json").write_text(json.dumps(config))
    model = hf(path)
    with pytest.raises(ModelError) as caught:
        generate(model, (ASK, GenerateParams(max_tokens=1)), (ASK, TOOLS))
    assert str(caught.value) == (
        f"model hf/{path} cannot return tool calls through transformers here ({why}): serve it "
        f"behind vLLM or llama.cpp's server (--model openai/{path} --llmeval-base-url ...)"
    )
    assert caught.value.fatal == "rejected"
    # without tools the model works as before
    (comp,) = generate(hf(path), (ASK, GenerateParams(max_tokens=2)))
    assert isinstance(comp, Completion)


# -- the same model behind transformers serve, through the openai provider ------------------


@pytest.fixture(scope="session")
def tool_server(tool_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with transformers_serving(tool_model, tmp_path_factory.mktemp("serve-tools")) as served:
        yield served


@pytest.mark.slow
def test_transformers_serve_returns_the_calls_the_local_provider_reads(
    tool_model: Path, tool_server: Served
) -> None:
    """transformers serve reads calls with the same response template; through the OpenAI
    provider the served model's calls are the local one's (the same greedy decoding), and a
    conversation that sends them back gets the taught answer."""
    (local,) = generate(hf(tool_model), (ASK, TOOLS))
    served = create_model(
        ModelSettings(f"openai/{tool_server.model}", base_url=tool_server.base_url)
    )
    assert isinstance(served, OpenAIModel)

    async def talk() -> list[Completion]:
        try:
            first = await served.agenerate(ASK, TOOLS)
            said: Message = {
                "role": "assistant",
                "content": None,
                "tool_calls": list(first.tool_calls),
            }
            answers = [
                {**RESULTS[i], "tool_call_id": call.id} for i, call in enumerate(first.tool_calls)
            ]
            return [first, await served.agenerate([*ASK, said, *answers], TOOLS)]
        finally:
            await served.aclose()

    first, second = asyncio.run(talk())
    assert [(c.name, c.parsed()) for c in first.tool_calls] == [
        (c.name, c.parsed()) for c in local.tool_calls
    ], tool_server.log_tail()
    assert first.finish_reason == "tool_calls"
    assert second.text == ANSWER and second.tool_calls == ()


def test_a_tools_suite_on_a_model_that_cannot_call_tools_ends_at_once_with_exit_4(
    pytester: pytest.Pytester, tiny_model: Path
) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    rows = [
        {"q": f"Look up item {i}.", "tools": [tool], "calls": [{"name": "lookup"}]}
        for i in range(6)
    ]
    (pytester.path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (pytester.path / "eval_calls.yaml").write_text(
        "dataset: d.jsonl\nprompt: {user: '{q}'}\ntools: tools\nexpected: calls\n"
        "scorers: [tool_call]\n"
    )
    result = pytester.runpytest_subprocess(
        "--model", f"hf/{tiny_model}", "--llmeval-db", str(pytester.path / "r.db"),
        "-p", "no:cacheprovider", "--max-tokens", "4",
    )  # fmt: skip
    assert result.ret == 4, result.stdout.str()
    result.stdout.fnmatch_lines(["*cannot return tool calls through transformers here*"])
    assert "6 errors" not in result.stdout.str()  # it stopped at the first, not after six
