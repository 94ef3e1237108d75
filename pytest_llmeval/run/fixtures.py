"""The fixtures eval tests use: ``sample``, ``completion``, ``model``, ``llmeval_record``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion, GenerateParams, Message
from pytest_llmeval.run.runner import case_key
from pytest_llmeval.run.session import EvalSession, session_key
from pytest_llmeval.suite import Case


@pytest.fixture
def sample(request: pytest.FixtureRequest) -> Sample:
    """The dataset sample this test item evaluates (``sample["question"]``, ``sample.id``).

    Needs ``@pytest.mark.llmeval(dataset=..., task=...)`` on the test.
    """
    case = getattr(request, "param", None)
    if not isinstance(case, Case):
        raise pytest.UsageError(
            f"{request.node.nodeid}: the 'sample' fixture needs "
            "@pytest.mark.llmeval(dataset=..., task=...) on the test"
        )
    request.node.stash[case_key] = case
    return case.sample


@pytest.fixture
def completion(request: pytest.FixtureRequest, sample: Sample) -> Completion:
    """The model's completion for this item's sample, built from the suite's prompt.

    After the test body passes, the suite's scorers run on it and a miss fails the item.
    A model error after retries makes the item an error (E).
    """
    return request.config.stash[session_key].runner.completion_for(request.node)


@dataclass(frozen=True)
class ModelHandle:
    """Direct, synchronous access to the configured model (not prefetched or cached)."""

    spec: str
    _runner: Any

    def generate(
        self,
        messages: str | Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        **params: Any,
    ) -> Completion:
        """Send chat messages (or one user message as a string) and wait for the answer."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        p = GenerateParams(temperature=temperature, max_tokens=max_tokens, **params)
        result: Completion = self._runner.generate(list(messages), p)
        return result


@pytest.fixture(scope="session")
def model(request: pytest.FixtureRequest) -> ModelHandle:
    """The model given by ``--model``, for custom flows: ``model.generate("Say hi")``.

    Calls go straight to the model and block; only ``completion`` is planned ahead.
    """
    runner = EvalSession.activate(request.config).runner  # a custom flow is an eval too
    return ModelHandle(runner.require_model().spec, runner)


@pytest.fixture
def llmeval_record(request: pytest.FixtureRequest) -> Any:
    """Record an extra score for this item: ``llmeval_record("politeness", 0.8, passed=True)``.

    Recorded scores are stored with the sample and aggregate into a metric of that name.
    """
    runner = request.config.stash[session_key].runner

    def record(
        name: str, value: float, *, passed: bool | None = None, explanation: str = ""
    ) -> None:
        runner.record_score(request.node, name, value, passed, explanation)

    return record


_calls = itertools.count(1)


@dataclass(frozen=True)
class JudgeHandle:
    """The configured judge, for grading in your own tests (direct and blocking)."""

    spec: str
    _runner: Any

    def grade(
        self,
        answer: str,
        *,
        question: str,
        reference: str | None = None,
        context: str | None = None,
        facts: Sequence[str] = (),
        rubric: str = "qa_default",
    ) -> Any:
        """Grade ``answer`` with a rubric (a built-in name or a YAML path); returns the
        Verdict (``.scores``, ``.mean``, ``.passed``, ``.rationale``). A reply that stays
        invalid after the repair prompts raises JudgeFailure, never a low score."""
        from pytest_llmeval.judge import Rubric
        from pytest_llmeval.judge import grading as judging
        from pytest_llmeval.run.engine import FollowUp, Request
        from pytest_llmeval.run.outcomes import JudgeFailure

        follow = {
            "rubric": Rubric.load(rubric),
            "question": question,
            "context": context,
            "reference": reference,
            "facts": tuple(facts),
        }
        request = Request(
            f"judge-fixture-{next(_calls)}", (), GenerateParams(), FollowUp(judging.FOLLOW, follow)
        )
        graded = judging.grade(
            self._runner.judge_engine,
            request,
            answer,
            self._runner.judge_params,
            self._runner.options.judge_repairs,
        )
        if graded.error is not None:
            raise JudgeFailure(graded.error)
        return graded.verdict


@pytest.fixture(scope="session")
def judge(request: pytest.FixtureRequest) -> JudgeHandle:
    """The judge given by ``--judge-model``: ``judge.grade(answer, question=..., reference=...)``.

    Suites with a ``judge:`` rubric are graded automatically; this is for custom flows.
    """
    runner = EvalSession.activate(request.config).runner
    if runner.options.judge is None:
        raise pytest.UsageError("the 'judge' fixture needs --judge-model SPEC")
    return JudgeHandle(runner.options.judge.spec, runner)
