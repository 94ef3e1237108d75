"""Structured outputs: a suite asks for ``response_format: json_schema`` (the JSON extraction
task sends each sample's schema, strict where the schema allows), servers that refuse it
get a weaker format and a note, and a local model checks and records what it cannot
enforce."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from evalkit import EvalProject, answers, lines, write_jsonl
from llm_server import LLMServer

from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.models import ModelError, ModelSettings, create_model
from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.models.structured import check_reply, response_schema, strict_ok
from pytest_llmeval.suite import build_suite

pytest_plugins = ["servers"]  # tiny_model, shared by the session

REPO = Path(__file__).resolve().parents[2]
CLOSED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {
            "type": ["object", "null"],
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "tags", "where"],
    "additionalProperties": False,
}


def extraction_records(n: int) -> list[dict[str, Any]]:
    path = REPO / "data" / "json_extraction" / "test.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


# -- the schema sent --------------------------------------------------------------------------


def test_strict_only_where_the_schema_allows() -> None:
    assert strict_ok(CLOSED)
    open_object = {**CLOSED, "additionalProperties": True}
    optional = {**CLOSED, "required": ["name"]}
    nested_open = json.loads(json.dumps(CLOSED))
    del nested_open["properties"]["where"]["additionalProperties"]
    min_length = json.loads(json.dumps(CLOSED))
    min_length["properties"]["name"]["minLength"] = 1
    for schema in (open_object, optional, nested_open, min_length, {"type": "array"}):
        assert not strict_ok(schema)


def test_response_schema_is_named_and_drops_the_draft_uri() -> None:
    sample = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Flight Booking"}
    got = response_schema({**sample, **CLOSED})
    assert got["name"] == "Flight_Booking" and got["strict"] is True
    assert "$schema" not in got["schema"] and got["schema"]["properties"] == CLOSED["properties"]
    # OpenAI's own shape is taken as it is, its strict flag included
    wrapped = response_schema({"name": "x", "schema": {"type": "object"}, "strict": False})
    assert wrapped == {"name": "x", "schema": {"type": "object"}, "strict": False}
    assert response_schema({"type": "object"})["name"] == "response"


def test_every_shipped_extraction_schema_is_sent_strict() -> None:
    for split in ("test", "validation"):
        path = REPO / "data" / "json_extraction" / f"{split}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            assert response_schema(json.loads(line)["schema"])["strict"]


def test_check_reply() -> None:
    params = GenerateParams(response_format="json_schema", json_schema=response_schema(CLOSED))
    good = json.dumps({"name": "a", "tags": [], "where": None})
    assert check_reply(good, params) == {"format": "json_schema", "valid": True, "error": None}
    bad = check_reply(json.dumps({"name": 1, "tags": [], "where": None}), params)
    assert bad is not None and not bad["valid"] and bad["error"].startswith("name: 1 is not")
    fenced = check_reply(f"```json\n{good}\n```", params)
    assert fenced is not None and "not the whole reply" in fenced["error"]
    obj = check_reply("[1]", GenerateParams(response_format="json_object"))
    assert obj is not None and obj["error"] == "a JSON list, not an object"
    assert check_reply("anything", GenerateParams()) is None


# -- suites ask for it --------------------------------------------------------------------


def _suite(tmp_path: Path, params: dict[str, Any], task: str = "json_extraction") -> Any:
    data = write_jsonl(tmp_path / "d.jsonl", extraction_records(2))
    spec = {"task": task, "dataset": str(data), "params": params}
    if task != "json_extraction":
        spec |= {"prompt": {"user": "{input}"}, "scorers": ["json_parse"]}
    return build_suite(spec, "eval_x.yaml", tmp_path, tmp_path, {("params",): 3})


def test_suite_params_for_structured_outputs_and_pass_through(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path,
        {
            "response_format": "json_schema",
            "reasoning_effort": "low",
            "extra_body": {"verbosity": "low"},
            "temperature": 0.3,
        },
    )
    p = suite.params
    assert p.response_format == "json_schema" and p.json_schema is None
    assert p.extra == {"verbosity": "low", "reasoning_effort": "low"}
    assert p.explicit == {"temperature"} and p.max_tokens == 256  # the task's default
    fixed = _suite(tmp_path, {"json_schema": CLOSED}, task="mine").params
    assert fixed.response_format == "json_schema"
    assert fixed.json_schema == response_schema(CLOSED)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"extra_body": {"max_tokens": 3}},
            "eval_x.yaml:3: field 'params.extra_body.max_tokens': set it as "
            "params.max_tokens, not in extra_body",
        ),
        (
            {"response_format": "json_object", "json_schema": CLOSED},
            "eval_x.yaml:3: field 'params.json_schema': needs response_format: json_schema",
        ),
        (
            {"json_schema": {"type": "objekt"}},
            "eval_x.yaml:3: field 'params.json_schema': not a JSON Schema: 'objekt' is not valid",
        ),
        (
            {"response_format": "yaml"},
            "eval_x.yaml:3: field 'params.response_format': 'yaml' is not one of",
        ),
    ],
)
def test_bad_structured_params_are_one_line_errors(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(DatasetError) as caught:
        _suite(tmp_path, params)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_custom_task_asking_json_schema_needs_a_schema_field(project: EvalProject) -> None:
    write_jsonl(project.path / "data" / "d.jsonl", [{"id": "a", "text": "x"}])
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_mine.yaml").write_text(
        "task: mine\ndataset: data/d.jsonl\nprompt:\n  user: '{text}'\n"
        "scorers: [json_parse]\nparams:\n  response_format: json_schema\n"
    )
    result = project.run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        lines(
            "evals/eval_mine.yaml:7: field 'params.response_format': 'schema' is not a field "
            "of data/d.jsonl (its fields: id, text)"
        )
    )


# -- end to end, through the test server --------------------------------------------------


def _extraction(project: EvalProject, n: int, extra: str = "") -> list[dict[str, Any]]:
    records = extraction_records(n)
    write_jsonl(project.path / "data" / "je.jsonl", records)
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_je.yaml").write_text(
        "task: json_extraction\ndataset: data/je.jsonl\n"
        "params:\n  response_format: json_schema\n" + extra
    )
    project.server.configure(
        script=answers(records, task="json_extraction", field="expected_output")
    )
    return records


def _formats(server: LLMServer) -> list[tuple[int, Any]]:
    return [(e["status"], e["body"].get("response_format")) for e in server.request_log()]


def test_each_sample_sends_its_own_schema_strict(project: EvalProject) -> None:
    records = _extraction(project, 4)
    result = project.run()
    result.assert_outcomes(passed=4)
    sent = {}
    for status, fmt in _formats(project.server):
        assert status == 200 and fmt["type"] == "json_schema"
        sent[fmt["json_schema"]["name"]] = fmt["json_schema"]
    for r in records:
        got = sent[r["schema"]["title"]]
        assert got["strict"] is True
        assert got["schema"] == {k: v for k, v in r["schema"].items() if k != "$schema"}
    params = json.loads(project.runs()[0]["params"])
    (shape,) = params["sent"]["model"]
    assert shape["fields"]["response_format"] == {"type": "json_schema", "strict": True}
    assert shape["requests"] == 4
    assert "refused response_format" not in result.stdout.str()


@pytest.mark.parametrize("style", ["openai", "llama.cpp"])
def test_a_server_without_json_schema_gets_json_object_and_a_note(
    project: EvalProject, style: str
) -> None:
    _extraction(project, 4)
    project.server.configure(response_formats=["text", "json_object"], format_error=style)
    result = project.run("--llmeval-concurrency", "1")
    result.assert_outcomes(passed=4)
    formats = _formats(project.server)
    status = 400 if style == "openai" else 500
    assert formats[0][0] == status and formats[0][1]["type"] == "json_schema"
    # adapted at once: llama.cpp's 500 is not retried as an outage would be
    assert [f for s, f in formats[1:]] == [{"type": "json_object"}] * 4
    result.stdout.fnmatch_lines(
        lines(
            "llmeval: *refused response_format json_schema for test-model (*): asked for "
            "json_object instead; replies are checked against the schema for the rest of "
            "the session"
        )
    )
    adapted = json.loads(project.runs()[0]["params"])["adapted"]["model"]
    assert adapted[0]["param"] == "response_format json_schema"


def test_json_object_refused_too_leaves_the_format_out(llm_server: LLMServer) -> None:
    llm_server.configure(response_formats=["text"], script={"default": '{"name": 1}'})
    model = create_model(ModelSettings("openai/m", base_url=llm_server.base_url))
    params = GenerateParams(response_format="json_schema", json_schema=response_schema(CLOSED))

    async def go() -> Any:
        try:
            return [
                await model.agenerate([{"role": "user", "content": "x"}], params) for _ in range(2)
            ]
        finally:
            await model.aclose()

    comps = asyncio.run(go())
    log = [e["body"].get("response_format", {}).get("type") for e in llm_server.request_log()]
    assert log == ["json_schema", "json_object", None, None]
    check = comps[0].metadata["structured_output"]
    assert check["valid"] is False and check["error"] == "name: 1 is not of type 'string'"
    notes = model.request_report()["notes"]  # type: ignore[attr-defined]
    assert any("2 of 2 replies from m did not match" in n for n in notes)


def test_an_invalid_schema_is_the_samples_error_not_a_fallback(llm_server: LLMServer) -> None:
    """A schema the server refuses in strict mode says nothing about json_schema support."""
    model = create_model(ModelSettings("openai/m", base_url=llm_server.base_url))
    loose = response_schema({**CLOSED, "required": ["name"]})
    params = GenerateParams(response_format="json_schema", json_schema={**loose, "strict": True})

    async def go() -> Any:
        try:
            return await model.agenerate([{"role": "user", "content": "x"}], params)
        finally:
            await model.aclose()

    with pytest.raises(ModelError, match="Invalid schema for response_format 'response'"):
        asyncio.run(go())
    assert len(llm_server.request_log()) == 1


def test_a_local_model_checks_and_records_what_it_cannot_enforce(
    project: EvalProject, tiny_model: Path
) -> None:
    pytest.importorskip("transformers")
    _extraction(project, 3)
    result = project.pytester.runpytest_subprocess(
        "--model",
        f"hf/{tiny_model}",
        "--llmeval-db",
        str(project.db),
        "--max-tokens",
        "8",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret in (0, 1)
    result.stdout.fnmatch_lines(
        lines(
            "llmeval: hf/*cannot enforce response_format json_schema (no constrained "
            "decoding): checked instead, 0 of 3 replies matched"
        )
    )
