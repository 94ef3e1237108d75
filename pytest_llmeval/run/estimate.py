"""``pytest --co --llmeval-estimate``: what a run would send and cost, sending nothing.

Per suite: the requests (a sample's tries, a conversation's known turns), the prompt
tokens of every request (tiktoken for OpenAI models where installed, else a stated
approximation), the output tokens (the mean a sample took in the last stored run of the
same suite and model, else every request's ``max_tokens``) and, where the model has a
price, the cost.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_llmeval.models import tokens
from pytest_llmeval.run.options import Options
from pytest_llmeval.run.runner import case_key
from pytest_llmeval.suite import Case


@dataclass
class SuiteEstimate:
    requests: int = 0
    prompt: int = 0
    output: int = 0
    output_from: str = ""


class EstimateReport:
    """Registered for ``--co --llmeval-estimate``: the table in the terminal summary."""

    def __init__(self, options: Options, items: list[pytest.Item]) -> None:
        self.options = options
        self.spec = options.model.spec if options.model else None
        self.suites: dict[str, SuiteEstimate] = {}
        history = _last_outputs(options, self.spec)
        for item in items:
            case = item.stash.get(case_key, None)
            if case is not None:
                self._add(case, history)

    def _add(self, case: Case, history: dict[str, float]) -> None:
        est = self.suites.setdefault(case.suite.name, SuiteEstimate())
        params = case.params_for(case.suite.params)
        max_tokens = self.options.max_tokens or params.max_tokens
        turns = 1 + (len(case.conversation.turns) if case.conversation else 0)
        calls = len(case.tries) * turns
        prompt = tokens.count(case.messages, self.spec)
        if params.tools:
            prompt += tokens.count([{"tools": list(params.tools)}], self.spec)
        est.requests += calls
        est.prompt += prompt * calls
        mean = history.get(case.suite.name)
        if mean is not None:
            est.output += round(mean * len(case.tries))
            est.output_from = f"last run: {mean:.1f} a sample"
        else:
            est.output += max_tokens * calls
            est.output_from = f"max_tokens {max_tokens}"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("llmeval estimate")
        for line in self.lines():
            terminalreporter.write_line(line)

    def lines(self) -> list[str]:
        price = self.options.prices.for_spec(self.spec)
        head = (
            f"nothing sent; model {self.spec or '(none)'}; prompts counted by "
            f"{tokens.method(self.spec)}"
        )
        rows = [("suite", "requests", "prompt tokens", "output tokens", "", "cost")]
        total = SuiteEstimate()
        for name, e in sorted(self.suites.items()):
            rows.append((name, f"{e.requests:,}", f"{e.prompt:,}", f"{e.output:,}",
                         f"({e.output_from})", _usd(price, e.prompt, e.output)))  # fmt: skip
            total.requests += e.requests
            total.prompt += e.prompt
            total.output += e.output
        rows.append(("total", f"{total.requests:,}", f"{total.prompt:,}", f"{total.output:,}",
                     "", _usd(price, total.prompt, total.output)))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = [head]
        for r in rows:
            cells = [c.rjust(w) if i in (1, 2, 3, 5) else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths, strict=True))]  # fmt: skip
            out.append("  " + "  ".join(cells).rstrip())
        if price is None:
            out.append(
                f"no price for {self.spec} ([tool.llmeval.prices] or --llmeval-prices): tokens only"
            )
        if self.options.judge is not None:
            out.append("a judge's calls come on top (one or more per judged sample)")
        return out


def _usd(price: Any, prompt: int, output: int) -> str:
    return "-" if price is None else f"${price.cost(prompt, output):.4f}"


def _last_outputs(options: Options, spec: str | None) -> dict[str, float]:
    """Per suite, the mean completion tokens a sample took in the newest complete run of
    this model that has the suite (read only; no database, no history)."""
    db = options.db_path
    if spec is None or not db.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute(
            "SELECT r.task, AVG(r.completion_tokens) FROM results r WHERE r.run_id = ("
            " SELECT id FROM runs WHERE model = ? AND status = 'complete'"
            " ORDER BY started_at DESC LIMIT 1) AND r.completion_tokens IS NOT NULL "
            "GROUP BY r.task",
            (spec,),
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {str(task): float(mean) for task, mean in rows}
