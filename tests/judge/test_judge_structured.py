"""The judge asks for its rubric's verdict schema (``response_format: json_schema``), and a
judge server that refuses it gets json_object, with a note and the run's record."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl
from jsonschema import Draft202012Validator

from pytest_llmeval.judge import Rubric, parse_verdict, verdict_schema
from pytest_llmeval.judge import grading as judging
from pytest_llmeval.judge.verdict import verdict_response_schema
from pytest_llmeval.models.structured import strict_ok

VERDICT = json.dumps(
    {"rationale": "Matches.", "correctness": 5, "completeness": 4, "format_compliance": 5}
)


def test_the_verdict_schema_asked_for_is_strict_and_always_parses() -> None:
    rubric = Rubric.load("qa_default")
    asked = verdict_response_schema(rubric)
    assert strict_ok(asked)
    assert next(iter(asked["properties"])) == "rationale"  # reasons before it scores
    lo, hi = rubric.scale
    validator = Draft202012Validator(asked)
    names = rubric.names
    # every reply the schema admits is a valid verdict (for a non-empty rationale)
    for values in itertools.product(range(lo, hi + 1), repeat=len(names)):
        reply = {"rationale": "why", **dict(zip(names, values, strict=True))}
        assert not list(validator.iter_errors(reply))
        assert not list(Draft202012Validator(verdict_schema(rubric)).iter_errors(reply))
        assert parse_verdict(json.dumps(reply), rubric).__class__.__name__ == "Verdict"
    for bad in ({"rationale": "x", **dict.fromkeys(names, hi + 1)}, {"rationale": "x"}):
        assert list(validator.iter_errors(bad))


def test_judge_params_ask_for_the_rubrics_schema() -> None:
    rubric = Rubric.load("qa_default")
    p = judging.with_schema(judging.params(512, True), rubric)
    assert p.response_format == "json_schema" and p.json_schema is not None
    assert p.json_schema["name"] == "verdict" and p.json_schema["strict"] is True
    assert p.json_schema["schema"] == verdict_response_schema(rubric)
    off = judging.with_schema(judging.params(512, False), rubric)
    assert off.response_format is None and off.json_schema is None


def _suite(project: EvalProject, n: int) -> None:
    records = qa_records(n)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\njudge: qa_default\n"
    )
    project.server.configure(
        script={"models": {"test-model": answers(records), "judge": {"default": VERDICT}}}
    )


def _run(project: EvalProject, *args: str) -> pytest.RunResult:
    return project.run(
        "--judge-model", "openai/judge", "--judge-base-url", project.server.base_url, *args
    )


def _judge_formats(project: EvalProject) -> list[tuple[int, Any]]:
    return [
        (e["status"], e["body"].get("response_format"))
        for e in project.server.request_log()
        if e["body"]["model"] == "judge"
    ]


def test_the_judge_is_asked_for_its_verdict_schema(project: EvalProject) -> None:
    _suite(project, 4)
    result = _run(project)
    result.assert_outcomes(passed=4)
    formats = _judge_formats(project)
    assert len(formats) == 4
    for status, fmt in formats:
        assert status == 200 and fmt["type"] == "json_schema"
        assert fmt["json_schema"]["name"] == "verdict" and fmt["json_schema"]["strict"]
        assert fmt["json_schema"]["schema"]["properties"]["correctness"]["enum"] == [1, 2, 3, 4, 5]
    sent = json.loads(project.runs()[0]["params"])["sent"]
    assert sent["judge"][0]["fields"]["response_format"] == {"type": "json_schema", "strict": True}
    assert "response_format" not in sent["model"][0]["fields"]


def test_a_judge_server_without_json_schema_falls_back_with_a_note(project: EvalProject) -> None:
    _suite(project, 4)
    project.server.configure(response_formats=["text", "json_object"])
    result = _run(project, "--llmeval-concurrency", "1")
    result.assert_outcomes(passed=4)
    formats = _judge_formats(project)
    assert formats[0][0] == 400
    assert [f for _, f in formats[1:]] == [{"type": "json_object"}] * 4
    result.stdout.fnmatch_lines(
        lines(
            "llmeval: *refused response_format json_schema for judge (Invalid parameter: "
            "'response_format' of type 'json_schema' is not supported with this model.): asked "
            "for json_object instead*"
        )
    )
    adapted = json.loads(project.runs()[0]["params"])["adapted"]
    assert list(adapted) == ["judge"]


def test_judge_json_mode_off_sends_no_format(project: EvalProject) -> None:
    _suite(project, 2)
    result = _run(project, "--judge-json-mode", "off")
    result.assert_outcomes(passed=2)
    assert [f for _, f in _judge_formats(project)] == [None, None]
