"""OpenAI evals' Match, Includes and FuzzyMatch, with their semantics.

From openai/evals: ``evals/elsuite/basic/match.py`` (through ``evals.record_and_check_match``
in ``evals/api.py``), ``includes.py``, ``fuzzy_match.py`` and ``evals/elsuite/utils.py``:

- ``match``: the raw output starts with an acceptable answer (``str.startswith``: no
  stripping, case-sensitive).
- ``includes``: an acceptable answer occurs in the raw output (``utils.get_answer``'s
  ``rfind``); ``ignore_case`` as Includes' option.
- ``fuzzy_match``: after ``utils.normalize`` (lower case, no punctuation, no articles,
  single spaces; SQuAD's), one contains the other either way; both empty is a match, one
  empty is not. Its token F1 against the best answer (``utils.f1_score``) is the
  companion metric ``f1_score``, as FuzzyMatch reports it.

Inspect AI's scorers of the same names differ (``src/inspect_ai/scorer/_match.py``,
``_common.py``): its ``match()`` compares at the *end* by default, strips whitespace and
ignores case and punctuation; its ``includes()`` ignores case by default. Our names follow
OpenAI evals (``includes: {ignore_case: true}`` is Inspect's ``includes()``), and Inspect's
``match(numeric=True)`` is closest to the ``number`` scorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import Score, scorer
from pytest_llmeval.scorers.qa import normalize_answer, token_f1

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = ["evals_f1", "fuzzy_match_text", "ideal_answers"]

_SHOW_MAX = 80


def ideal_answers(sample: Sample) -> list[str]:
    """The suite's expected answer as OpenAI evals' ``ideal``: a string or a list of them
    (a number is written as text)."""
    raw: Any = sample.expected
    if raw is None:
        raise ValueError(f"sample {sample.id!r} has no expected answer")
    answers = list(raw) if isinstance(raw, list | tuple) else [raw]
    if not answers:
        raise ValueError(f"sample {sample.id!r}: the expected answer is an empty list")
    return [a if isinstance(a, str) else str(a) for a in answers]


def fuzzy_match_text(s1: str, s2: str) -> bool:
    """``utils.fuzzy_match``: normalized containment either way."""
    a, b = normalize_answer(s1), normalize_answer(s2)
    if a == "" or b == "":
        return a == b
    return a in b or b in a


def evals_f1(prediction: str, answers: list[str]) -> float:
    """``utils.f1_score``: the best token F1 over the answers; no shared token (and so an
    empty side) scores 0, unlike SQuAD's script, which scores two empty sides 1."""
    best = 0.0
    for answer in answers:
        if normalize_answer(prediction) and normalize_answer(answer):
            best = max(best, token_f1(prediction, answer)[2])
    return best


def _show(s: str) -> str:
    return repr(s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "...")


def _miss(verb: str, answers: list[str], output: str) -> str:
    wanted = _show(answers[0]) if len(answers) == 1 else f"one of {len(answers)} answers"
    return f"expected output to {verb} {wanted}, got {_show(output)}"


@scorer("match", needs=("expected",))
def match(sample: Sample, completion: Completion) -> Score:
    answers = ideal_answers(sample)
    for answer in answers:
        if completion.text.startswith(answer):
            return Score(1.0, True, metadata={"picked": answer})
    return Score(0.0, False, _miss("start with", answers, completion.text))


@scorer("includes", needs=("expected",))
def includes(sample: Sample, completion: Completion, *, ignore_case: bool = False) -> Score:
    answers = ideal_answers(sample)
    text = completion.text.lower() if ignore_case else completion.text
    for answer in answers:
        if (answer.lower() if ignore_case else answer) in text:
            return Score(1.0, True, metadata={"picked": answer})
    return Score(0.0, False, _miss("include", answers, completion.text))


@scorer("fuzzy_match", needs=("expected",), companions=("fuzzy_match_f1",))
def fuzzy_match(sample: Sample, completion: Completion) -> Score:
    answers = ideal_answers(sample)
    picked = [a for a in answers if fuzzy_match_text(completion.text, a)]
    f1 = evals_f1(completion.text, answers)
    if picked:
        return Score(1.0, True, metadata={"picked": picked, "f1_score": f1})
    explanation = _miss("fuzzy-match", answers, completion.text)
    return Score(0.0, False, explanation, {"f1_score": f1})


@scorer("fuzzy_match_f1", metric="f1_score", needs=("expected",))
def fuzzy_match_f1(sample: Sample, completion: Completion) -> Score:
    """FuzzyMatch's second metric: the token F1 against the best acceptable answer."""
    return Score(evals_f1(completion.text, ideal_answers(sample)))
