"""The judge as scorers. A judged suite's answers are graded by the judge model before
scoring (the runner asks the judge's engine; the verdict rides on the completion as
``metadata["judge"]``), and these scorers read the verdict like any other scorer reads the
answer: the mean (``judge``, metric ``judge_score``, which passes or not), one score per
rubric dimension (``judge_<dimension>``), and whether the injection tripwire fired
(``judge_injection``, metric ``injection_flag_rate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmeval.judge.prompt import JUDGE_PROMPT_VERSION
from pytest_llmeval.judge.rubric import Rubric
from pytest_llmeval.scorers.base import Score, ScorerInfo

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.judge.grading import Graded
    from pytest_llmeval.models.base import Completion

VERDICT = "judge"  # the completion's metadata key holding the grading (a Graded)


def judge_scorers(rubric: Rubric) -> tuple[ScorerInfo, ...]:
    """The scorers of a suite graded with ``rubric``."""

    def judge(sample: Sample, completion: Completion) -> Score:
        graded = _graded(completion)
        v = graded.verdict
        assert v is not None
        note = f" [forced to the minimum: {graded.guard}]" if graded.guard else ""
        metadata: dict[str, Any] = {
            "scores": dict(v.scores),
            "raw": dict(v.raw) if v.raw else None,
            "rubric": rubric.name,
            "prompt_version": JUDGE_PROMPT_VERSION,
        }
        return Score(v.mean, v.passed, (v.rationale + note)[:1000], metadata)

    def injection(sample: Sample, completion: Completion) -> Score:
        return Score(1.0 if _graded(completion).guard else 0.0, None)

    def dimension(name: str) -> ScorerInfo:
        def score(sample: Sample, completion: Completion) -> Score:
            verdict = _graded(completion).verdict
            assert verdict is not None
            return Score(float(verdict.scores[name]), None)

        return ScorerInfo(f"judge_{name}", score, f"judge_{name}")

    return (
        ScorerInfo("judge", judge, "judge_score"),
        ScorerInfo("judge_injection", injection, "injection_flag_rate"),
        *(dimension(d.name) for d in rubric.dimensions),
    )


def _graded(completion: Completion) -> Graded:
    graded: Graded = completion.metadata[VERDICT]
    return graded
