"""examples/formats, run as written against the test server: OpenAI evals data, GSM8K with
few-shot and extraction, function calling, promptfoo's per-sample checks, a conversation
with tool results, and a solver. The server answers each as a model would (scripted), some
samples wrongly, and the counts and metrics are what those answers must give."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from evalkit import lines
from llm_server import LLMServer
from llm_server_tools import conversation_key

from pytest_llmeval import Results

FORMATS = Path(__file__).resolve().parents[1] / "examples" / "formats"


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (FORMATS / name).read_text().splitlines() if x.strip()]


@pytest.fixture
def formats(pytester: pytest.Pytester, llm_server: LLMServer) -> Any:
    shutil.copytree(FORMATS, pytester.path / "formats")

    def run(suite: str, script: dict[str, Any], *extra: str) -> pytest.RunResult:
        llm_server.configure(script=script)
        return pytester.runpytest(
            f"formats/{suite}", "--model", "openai/my-model", "--llmeval-base-url",
            llm_server.base_url, "--llmeval-db", str(pytester.path / "r.db"),
            "-p", "no:cacheprovider", "--llmeval-cache", "off", *extra,
        )  # fmt: skip

    return run


def _metric(pytester: pytest.Pytester, task: str, name: str) -> float | None:
    with Results(pytester.path / "r.db") as results:
        return results.run(results.runs()[0].id).metric(task, name)


def test_openai_evals_data_with_chat_input_and_ideal_lists(
    formats: Any, pytester: pytest.Pytester
) -> None:
    replies = {}
    rows = _rows("anagrams.jsonl")
    for i, r in enumerate(rows):
        ideal = r["ideal"] if isinstance(r["ideal"], str) else r["ideal"][-1]  # "melon"
        replies[r["input"][-1]["content"]] = "nope" if i == 0 else ideal
    result = formats("eval_anagrams.yaml", {"replies": replies})
    # 13 samples (one row twice: two samples); the first answered wrongly
    assert result.parseoutcomes() == {"passed": 12, "failed": 1}
    result.stdout.fnmatch_lines(lines("anagrams  (n=13)", "*accuracy*0.923*"))


def test_gsm8k_with_five_shots_and_lm_evals_strict_match(
    formats: Any, llm_server: LLMServer, pytester: pytest.Pytester
) -> None:
    test, train = _rows("gsm8k_test.jsonl"), _rows("gsm8k_train.jsonl")
    replies = {}
    for i, r in enumerate(test):
        answer = r["answer"] if i else r["answer"].replace("####", "The answer is")
        replies[f"Question: {r['question']}\nAnswer:"] = answer
    result = formats("eval_gsm8k.yaml", {"replies": replies})
    assert result.parseoutcomes() == {"passed": 9, "failed": 1}
    sent = llm_server.requests()[0]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant"] * 5 + ["user"]
    shots = {f"Question: {r['question']}\nAnswer:": r["answer"] for r in train}
    assert all(
        shots[u["content"]] == a["content"] for u, a in zip(sent[0:10:2], sent[1:10:2], strict=True)
    )


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def test_function_calling_with_bfcl_style_expected_calls(
    formats: Any, llm_server: LLMServer, pytester: pytest.Pytester
) -> None:
    rows = _rows("calls.jsonl")
    calls = [
        [_call("get_weather", city="Paris", unit="celsius")],
        [_call("convert_length", value=3.5, from_unit="inch", to_unit="cm")],
        [_call("get_stock_price", ticker="GLOBEX"), _call("get_stock_price", ticker="ACME")],
        [_call("get_weather", city="Oslo", unit="celsius")],  # wrong unit
        [_call("convert_length", value=10, from_unit="m", to_unit="ft")],
    ]
    replies = {r["messages"][-1]["content"]: {"tool_calls": c, "content": None}
               for r, c in zip(rows, calls, strict=True)}  # fmt: skip
    result = formats("eval_calls.yaml", {"replies": replies})
    assert result.parseoutcomes() == {"passed": 4, "failed": 1}
    result.stdout.fnmatch_lines(
        lines(
            "*expected call: get_weather(city='Oslo', unit='fahrenheit')",
            "*got call:      get_weather(city='Oslo', unit='celsius')",
        )
    )
    # BFCL's own function shape went out as an OpenAI tool, its types mapped
    sent = {json.dumps(r["tools"]) for r in llm_server.requests()}
    assert not any('"dict"' in s or '"float"' in s for s in sent)
    assert _metric(pytester, "calls", "tool_name_accuracy") == 1.0
    # the mean over samples of each one's share of calls matched with their arguments
    assert _metric(pytester, "calls", "tool_args_accuracy") == pytest.approx(4 / 5)


def test_promptfoo_per_sample_checks(formats: Any) -> None:
    rows = _rows("cases.jsonl")
    answers = [
        "Hello, Ada!",
        '{"ok": true}',
        "Blue.",
        "Rome is the capital of Italy.",  # misses starts-with 'Answer:'
        "2026-12-08",
        "apple, pear, plum",
    ]
    replies = {r["q"]: a for r, a in zip(rows, answers, strict=True)}
    result = formats("eval_cases.yaml", {"replies": replies})
    assert result.parseoutcomes() == {"passed": 5, "failed": 1}
    result.stdout.fnmatch_lines(lines("*checks: *starts-with*Answer:*"))


def test_a_conversation_with_tool_results_run_by_the_engine(
    formats: Any, llm_server: LLMServer, pytester: pytest.Pytester
) -> None:
    rows = _rows("trips.jsonl")
    replies: dict[str, Any] = {}
    for r, book in zip(rows, ["LH1173", "OS999"], strict=True):  # the second books wrongly
        ask = r["messages"][-1]["content"]
        origin, dest, date = re.findall(r"from (\w+) to (\w+) on ([\d-]+)", ask)[0]
        replies[ask] = {"tool_calls": [_call("search_flights", origin=origin,
                                             destination=dest, date=date)]}  # fmt: skip
        result = json.dumps(r["tool_results"]["search_flights"], ensure_ascii=False)
        replies[f"tool:{result}"] = "I found these flights."
        replies[r["followups"][0]] = {"tool_calls": [_call("book_flight", flight=book)]}
    replies['tool:{"status": "booked"}'] = "Booked."
    out = formats("eval_trips.yaml", {"replies": replies})
    assert out.parseoutcomes() == {"passed": 1, "failed": 1}, out.stdout.str()
    assert len(llm_server.requests()) == 8  # two turns, each a call and its result's reply
    with Results(pytester.path / "r.db") as results:
        rows_out = {r.sample_id: r for r in results.samples(results.runs()[0].id)}
    transcript = next(iter(rows_out.values())).model.transcript  # type: ignore[union-attr]
    roles = [m["role"] for m in transcript]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user", "assistant",
                     "tool", "assistant"]  # fmt: skip


def test_a_solver_from_the_examples_conftest(
    formats: Any, llm_server: LLMServer, pytester: pytest.Pytester
) -> None:
    replies: dict[str, Any] = {}
    for r in _rows("capitals.jsonl"):
        question = f"What is the capital of {r['country']}?"
        thought = f"{r['country']}'s capital is {r['capital']}."
        replies[f"Think step by step: {question}"] = thought
        final = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": thought},
            {"role": "user", "content": "Now reply with the city's name only."},
        ]
        replies[conversation_key(final)] = r["capital"]
    result = formats("eval_solver.yaml", {"replies": replies})
    assert result.parseoutcomes() == {"passed": 4}
    assert len(llm_server.requests()) == 8
