"""Judge calibration: how well a judge agrees with human labels, before anyone gates on it.

Runs the judge over a labelled set (``data/qa/judge_calibration.jsonl``: candidate answers
with human-style labels, including wrong-but-fluent, right-but-terse and injection
attempts) through the same engine and parsing as the plugin, and reports agreement:
accuracy and Cohen's kappa on pass/fail, mean absolute error per dimension, per kind.
No pytest here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval import models
from pytest_llmeval.judge import Rubric, agreement
from pytest_llmeval.judge import grading as judging
from pytest_llmeval.models import ModelSettings, create_model
from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.run.engine import Engine, FollowUp, Request

DEFAULT_SET = Path("data/qa/judge_calibration.jsonl")


def calibrate(
    settings: ModelSettings,
    rows: Sequence[dict[str, Any]],
    rubric: Rubric,
    *,
    concurrency: int = 8,
    repairs: int = 1,
    max_tokens: int = 512,
    json_mode: bool = True,
) -> dict[str, Any]:
    """Grade every row's ``candidate`` and compare with its ``label``."""
    params = judging.params(max_tokens, json_mode)
    engine = Engine(
        lambda: create_model(settings),
        identity=lambda: {**models.identity(settings), "role": "judge"},
        concurrency=concurrency,
        max_retries=settings.max_retries,
    )
    requests = [
        Request(
            str(r["id"]),
            (),
            GenerateParams(),
            FollowUp(
                judging.FOLLOW,
                {
                    "rubric": rubric,
                    "question": r["question"],
                    "context": r.get("context"),
                    "reference": r.get("expected_answer"),
                    "facts": tuple(r.get("reference_facts") or ()),
                },
            ),
        )
        for r in rows
    ]
    try:
        engine.plan(
            [
                judging.request(q, r["candidate"], params)
                for q, r in zip(requests, rows, strict=True)
            ]
        )
        graded = [
            judging.grade(engine, q, r["candidate"], params, repairs)
            for q, r in zip(requests, rows, strict=True)
        ]
    finally:
        engine.close()
    verdicts = [g.verdict for g in graded]
    report = agreement([r["label"] for r in rows], verdicts, rubric)
    kinds: dict[str, list[bool]] = defaultdict(list)
    for row, v in zip(rows, verdicts, strict=True):
        if v is not None:
            kinds[str(row.get("kind", "all"))].append(v.passed == bool(row["label"]["pass"]))
    report["by_kind"] = {
        k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(kinds.items())
    }
    report["errors"] = [
        {"id": r["id"], "error": g.error} for r, g in zip(rows, graded, strict=True) if g.error
    ]
    report["judge"] = settings.spec
    return report


def load(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def render(report: dict[str, Any]) -> list[str]:
    def num(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [
        f"judge {report['judge']} on rubric {report.get('rubric')}: {report['n']} valid "
        f"verdicts, {report.get('invalid', 0)} invalid",
        f"  pass/fail accuracy {num(report.get('accuracy'))}, Cohen's kappa "
        f"{num(report.get('kappa'))}",
    ]
    for dim, mae in (report.get("mae") or {}).items():
        lines.append(f"  mean absolute error, {dim}: {num(mae)}")
    for kind, k in report["by_kind"].items():
        lines.append(f"  {kind:20} n={k['n']:<3} accuracy {num(k['accuracy'])}")
    for e in report["errors"][:10]:
        lines.append(f"  judge error on {e['id']}: {e['error']}")
    return lines
