"""Judge-vs-human agreement on a labelled set: :func:`cohen_kappa` and :func:`agreement`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pytest_llmeval.judge.rubric import Rubric
from pytest_llmeval.judge.verdict import JudgeParseError, Verdict

__all__ = ["agreement", "cohen_kappa"]


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters' labels (bools, ints or any hashable categories):
    (p_o - p_e) / (1 - p_e). NaN when it is undefined: both raters used one and the same
    category for every item (p_e = 1)."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} labels against {len(b)}")
    if not a:
        raise ValueError("cohen_kappa: no labels")
    n = len(a)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected == 1.0:
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def agreement(
    labels: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict | JudgeParseError | None],
    rubric: Rubric,
) -> dict[str, Any]:
    """Judge-vs-human agreement on a labelled set (JSON-able).

    ``labels[i]`` is ``{"pass": bool, <dimension>: int, ...}``; ``verdicts[i]`` the judge's
    verdict on the same item, or a JudgeParseError/None when it gave none. Invalid verdicts
    are counted (``invalid``, ``invalid_rate``) and left out of the rest, which is computed
    over the ``n`` valid pairs: ``accuracy`` and Cohen's ``kappa`` on pass/fail, ``confusion``
    (label/judge pass counts), and ``mae``, the mean absolute error per dimension. A
    statistic that is undefined (no valid pair, or kappa with one class throughout) is None.
    """
    if len(labels) != len(verdicts):
        raise ValueError(f"agreement: {len(labels)} labels against {len(verdicts)} verdicts")
    pairs = [(lab, v) for lab, v in zip(labels, verdicts, strict=True) if isinstance(v, Verdict)]
    invalid = len(labels) - len(pairs)
    gold = [bool(lab["pass"]) for lab, _ in pairs]
    judged = [v.passed for _, v in pairs]
    n = len(pairs)
    kappa = cohen_kappa(gold, judged) if n else float("nan")
    confusion = Counter(zip(gold, judged, strict=True))
    mae: dict[str, float | None] = {}
    for name in rubric.names:
        errors = [abs(int(lab[name]) - v.scores[name]) for lab, v in pairs if name in lab]
        mae[name] = sum(errors) / len(errors) if errors else None
    return {
        "rubric": rubric.name,
        "n": n,
        "invalid": invalid,
        "invalid_rate": invalid / len(labels) if labels else None,
        "accuracy": sum(g == j for g, j in zip(gold, judged, strict=True)) / n if n else None,
        "kappa": None if kappa != kappa else kappa,  # NaN -> None: JSON has no NaN
        "confusion": {
            f"label_{_pf(g)}_judge_{_pf(j)}": confusion[(g, j)]
            for g in (True, False)
            for j in (True, False)
        },
        "mae": mae,
    }


def _pf(passed: bool) -> str:
    return "pass" if passed else "fail"
