"""Grading one answer with the LLM judge, through the same engine as the model.

The judge's request can be built as soon as the model's answer exists, so the engine that
produced the answer plans it right away (``Engine.on_result``): by the time an item needs
its grade, the judge has usually given it. Invalid verdicts get repair prompts; if they
stay invalid the item is a judge error, never a score.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_llmeval.judge import (
    JudgeParseError,
    Rubric,
    Verdict,
    apply_guard,
    build_messages,
    inline,
    parse_verdict,
    repair_messages,
)
from pytest_llmeval.judge.verdict import verdict_response_schema
from pytest_llmeval.models.base import Completion, GenerateParams, ModelError
from pytest_llmeval.models.structured import response_schema
from pytest_llmeval.result import MAX_TEXT, Call
from pytest_llmeval.run.engine import FollowUp, Request
from pytest_llmeval.store import cache
from pytest_llmeval.suite import Case

JUDGE_SUFFIX = "::judge"


class EngineLike(Protocol):
    def result(self, request: Request) -> Completion: ...


FOLLOW = "judge"  # the follow-up kind the judge's requests are planned under


def follow_up(case: Case) -> FollowUp | None:
    """What the judge needs besides the answer; travels with the model's request."""
    rubric = case.suite.judge
    statements = inline_statements(case)
    if rubric is None and not statements:
        return None
    s = case.sample
    question = s.get("question") or _last_user_text(case.messages)
    facts = s.get("reference_facts") or ()
    # the rubric travels as plain data: requests are pickled to the controller under xdist
    return FollowUp(
        FOLLOW,
        {
            "rubric": rubric.as_dict() if rubric is not None else None,
            "question": str(question),
            "context": s.get("context"),
            "reference": case.expected if rubric is not None else None,
            "facts": tuple(facts) if isinstance(facts, list) else (),
            "statements": tuple(statements),
        },
    )


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def inline_statements(case: Case) -> list[str]:
    """The statements this sample's answer is graded on by the judge: the suite's
    ``rubric`` scorers', then its per-sample ``llm-rubric`` checks' (``not-`` ones too),
    with ``{{var}}`` filled from the sample: the keys of ``metadata["rubrics"]``."""
    if not case.suite.needs_judge and case.suite.checks_field is None:
        return []
    from pytest_llmeval.scorers.checks import rubrics_needed

    return rubrics_needed(case.suite.scorers, case.sample)


def inline_requests(
    model_request: Request, answer: str, judge_params: GenerateParams
) -> list[Request]:
    """One judge request per inline statement; ids ``NODEID::rubricK``."""
    assert model_request.follow is not None
    p = model_request.follow.payload
    question = p.get("question")
    return [
        Request(
            f"{model_request.id}{inline.SUFFIX}{k}",
            inline.messages(answer, text, question),
            inline.params(judge_params),
            repeat=model_request.repeat,
        )
        for k, text in enumerate(p.get("statements") or ())
    ]


def grade_inline(
    engine: EngineLike,
    model_request: Request,
    answer: str,
    judge_params: GenerateParams,
    repairs: int,
) -> tuple[dict[str, dict[str, Any]], Graded]:
    """Ask the judge about each inline statement: (verdicts by statement, the calls' cost
    and any error, as one ``Graded``)."""
    assert model_request.follow is not None
    statements = list(model_request.follow.payload.get("statements") or ())
    graded = Graded(None, None, None, "", 0.0, 0, 0, 0, True)
    verdicts: dict[str, dict[str, Any]] = {}
    outputs = []
    for text, current in zip(
        statements, inline_requests(model_request, answer, judge_params), strict=True
    ):
        for attempt in range(repairs + 1):
            graded.attempts += 1
            try:
                comp = engine.result(current)
            except ModelError as exc:
                graded.error, graded.cached = f"judge model error: {exc}", False
                graded.failure = exc
                return verdicts, graded
            _account(graded, comp)
            found = inline.parse(comp.text)
            if isinstance(found, inline.RubricVerdict):
                verdicts[text] = found.as_dict()
                outputs.append(comp.text)
                break
            graded.error = (
                f"judge error: invalid verdict on rubric {text[:60]!r} after {attempt + 1} "
                f"attempts: {found}"
            )
            current = Request(
                f"{current.id}-repair{attempt + 1}",
                inline.repair(current.messages, comp.text, found),
                current.params,
                repeat=current.repeat,
            )
        else:
            return verdicts, graded
    graded.error = None
    graded.output = "\n".join(outputs)
    return verdicts, graded


def _account(graded: Graded, comp: Completion) -> None:
    graded.latency_ms += comp.metadata.get("original_latency_ms") or comp.latency_ms
    graded.prompt_tokens += comp.prompt_tokens or 0
    graded.completion_tokens += comp.completion_tokens or 0
    graded.output, graded.cached = comp.text, graded.cached and comp.cached
    cost = comp.metadata.get("cost_usd")
    if cost is not None and not comp.cached:
        graded.cost_usd = (graded.cost_usd or 0.0) + float(cost)
    if graded.started_at is None:
        graded.started_at = comp.metadata.get("started_at")
    graded.ended_at = comp.metadata.get("ended_at", graded.ended_at)
    if comp.metadata.get("cache_key") and not comp.cached:
        graded.cache_entries.append(cache.entry(Call.from_completion(comp), None))


_rubrics: dict[str, Rubric] = {}


def rubric_of(follow: Mapping[str, Any]) -> Rubric:
    """The payload's rubric (a Rubric, or its ``as_dict`` form), rebuilt once per rubric."""
    spec = follow["rubric"]
    if isinstance(spec, Rubric):
        return spec
    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _rubrics:
        _rubrics[key] = Rubric.from_dict(spec)
    return _rubrics[key]


def params(max_tokens: int, json_mode: bool) -> GenerateParams:
    """The judge's params. In JSON mode it asks for its rubric's verdict schema
    (``response_format: json_schema``, filled in per rubric by :func:`request`); a server
    that refuses it gets json_object, then plain text, and says so in the summary."""
    return GenerateParams(
        temperature=0.0, max_tokens=max_tokens, response_format="json_schema" if json_mode else None
    )


def with_schema(judge_params: GenerateParams, rubric: Rubric) -> GenerateParams:
    """``judge_params`` asking for ``rubric``'s verdict schema, when they ask for one."""
    if judge_params.response_format != "json_schema" or judge_params.json_schema is not None:
        return judge_params
    key = json.dumps(rubric.as_dict(), sort_keys=True, default=str)
    schema = _schemas.get(key)
    if schema is None:
        schema = _schemas[key] = response_schema(verdict_response_schema(rubric), "verdict")
    return dataclasses.replace(judge_params, json_schema=schema)


_schemas: dict[str, dict[str, Any]] = {}


def request(model_request: Request, answer: str, judge_params: GenerateParams) -> Request:
    """The judge's request for ``answer``; its id ties it to the item."""
    assert model_request.follow is not None
    p = model_request.follow.payload
    reference = p["reference"]
    if reference is not None and not isinstance(reference, str | list | tuple):
        reference = str(reference)
    rubric = rubric_of(p)
    judge_params = with_schema(judge_params, rubric)
    messages = build_messages(
        rubric,
        question=p["question"],
        answer=answer,
        reference=reference,
        context=p.get("context"),
        facts=p["facts"],
    )
    return Request(
        model_request.id + JUDGE_SUFFIX, messages, judge_params, repeat=model_request.repeat
    )


@dataclass
class Graded:
    """The outcome of grading one answer, with the judge's own cost."""

    verdict: Verdict | None
    error: str | None
    guard: str | None
    output: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    cached: bool
    cache_entries: list[dict[str, Any]] = field(default_factory=list)  # for the controller
    failure: ModelError | None = None  # the judge's call failed (not its verdict)

    def call(self) -> Call:
        """The judge's calls (repairs included) as one record beside the model's."""
        return Call(
            output=self.output[:MAX_TEXT],
            latency_ms=round(self.latency_ms, 3),  # the judge's own, also when cached
            original_latency_ms=round(self.latency_ms, 3) if self.cached else None,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached=self.cached,
            started_at=self.started_at,
            ended_at=self.ended_at,
            cost_usd=self.cost_usd,
        )

    started_at: float | None = None  # the first judge call's start (Unix seconds)
    ended_at: float | None = None
    cost_usd: float | None = None  # what its calls cost (None: no price)


def grade(
    engine: EngineLike,
    model_request: Request,
    answer: str,
    judge_params: GenerateParams,
    repairs: int,
) -> Graded:
    """Ask the judge; on an invalid verdict, ask again with a repair prompt."""
    assert model_request.follow is not None
    rubric = rubric_of(model_request.follow.payload)
    current = request(model_request, answer, judge_params)
    graded = Graded(None, None, None, "", 0.0, 0, 0, 0, True)
    for attempt in range(repairs + 1):
        graded.attempts = attempt + 1
        try:
            comp = engine.result(current)
        except ModelError as exc:
            graded.error, graded.cached = f"judge model error: {exc}", False
            graded.failure = exc
            return graded
        _account(graded, comp)
        verdict = parse_verdict(comp.text, rubric)
        if not isinstance(verdict, JudgeParseError):
            graded.verdict, graded.guard = apply_guard(verdict, answer, rubric)
            graded.error = None
            return graded
        messages = repair_messages(current.messages, comp.text, verdict, rubric=rubric)
        judge_params = current.params
        current = Request(
            f"{model_request.id}{JUDGE_SUFFIX}-repair{attempt + 1}",
            messages,
            judge_params,
            repeat=model_request.repeat,
        )
        graded.error = (
            f"judge error: invalid verdict after {attempt + 1} attempts: {verdict.reason}"
        )
    return graded
