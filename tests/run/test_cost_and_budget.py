"""What a run costs, and a budget that stops it cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalkit import EvalProject, lines

from pytest_llmeval import Results
from pytest_llmeval.models.base import Completion
from pytest_llmeval.models.prices import Price, PriceError, Prices, load, parse
from pytest_llmeval.run.budget import Budget, Estimate, pricer

PRICES = """
[tool.llmeval.prices]
"openai/test-model" = { input = 1000.0, cached_input = 500.0, output = 2000.0 }
"openai/*" = { input = 0.0, output = 0.0 }
"""


def test_prices_match_the_exact_spec_first_then_the_first_glob() -> None:
    prices = parse(
        {
            "gpt-4o-mini": {"input": 0.15, "output": 0.6, "batch_discount": 0.5},
            "openai/*": {"input": 1.0, "output": 2.0},
        },
        "pyproject.toml [tool.llmeval.prices]",
    )
    mini = prices.for_spec("gpt-4o-mini")
    assert mini is not None and prices.for_spec("openai/gpt-4o-mini") == mini
    assert prices.for_spec("openai/other") == Price(1.0, 2.0)
    assert prices.for_spec("hf/./model") is None
    # 1M prompt and 1M completion tokens, half of the prompt cached (no cached price: input)
    assert mini.cost(1_000_000, 1_000_000, cached=500_000) == pytest.approx(0.75)
    assert mini.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"input": 1.0}, "'m': 'output' missing (USD per million tokens)"),
        ({"input": -1, "output": 1}, "'m': 'input' must be a number >= 0, got -1"),
        ({"input": 1, "output": 1, "cahced_input": 1}, "'m': unknown key 'cahced_input'"),
        ({"input": 1, "output": 1, "batch_discount": 2}, "'m': 'batch_discount' must be in (0, 1]"),
    ],
)
def test_a_bad_price_names_the_entry(entry: dict[str, object], message: str) -> None:
    with pytest.raises(PriceError, match=r"^prices.yaml " + message.replace("(", r"\(")
                       .replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):  # fmt: skip
        parse({"m": entry}, "prices.yaml")


def test_prices_come_from_pyproject_or_a_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PRICES)
    assert load(tmp_path).for_spec("openai/test-model") == Price(1000.0, 2000.0, 500.0)
    (tmp_path / "p.yaml").write_text("'hf/*': {input: 0.5, output: 1.5}\n")
    from_file = load(tmp_path, "p.yaml")
    assert from_file.for_spec("hf/x") == Price(0.5, 1.5) and not Prices()


def test_a_cost_the_server_reports_is_taken_as_it_is() -> None:
    cost = pricer(Price(1.0, 1.0))
    reported = Completion("x", prompt_tokens=10, completion_tokens=10,
                          metadata={"server_cost_usd": 0.123})  # fmt: skip
    assert cost(reported) == 0.123
    assert cost(Completion("x", prompt_tokens=500_000, completion_tokens=0)) == 0.5
    assert pricer(None)(Completion("x", prompt_tokens=1)) is None


def test_the_budget_counts_what_is_in_flight() -> None:
    b = Budget(usd=1.0)
    assert b.admit(Estimate(0.4, 10)) and b.admit(Estimate(0.4, 10))
    assert not b.admit(Estimate(0.4, 10))  # 0.8 in flight: a third could pass 1.0
    b.settle(Estimate(0.4, 10), 0.1, 5)  # one came back cheaper than its bound
    assert b.admit(Estimate(0.4, 10)) and b.unsent == 1


def test_costs_are_stored_summed_and_shown(project: EvalProject) -> None:
    project.qa_suite(6, wrong={"q002"}, extra="thresholds:\n  accuracy: '>=0.5'\n")
    project.pytester.makepyprojecttoml(PRICES)
    result = project.run()
    assert result.ret == 0
    with Results(project.db) as results:
        rows = results.samples("latest")
        run = results.run("latest")
    expected = sum(
        r.model.prompt_tokens * 1000.0 / 1e6 + r.model.completion_tokens * 2000.0 / 1e6
        for r in rows
        if r.model is not None and r.model.prompt_tokens is not None
    )
    assert sum(r.model.cost_usd or 0 for r in rows if r.model) == pytest.approx(expected)
    assert run.metric("qa", "cost_usd_total") == pytest.approx(expected)
    result.stdout.fnmatch_lines(lines(f"llmeval cost: ${expected:.4f} for * prompt + * tokens*"))
    # cached answers cost nothing this time
    again = project.run()
    again.stdout.fnmatch_lines(lines("llmeval cost: $0.0000 for *"))


def test_a_model_without_a_price_shows_tokens_and_says_so_once(project: EvalProject) -> None:
    project.qa_suite(3)
    result = project.run()
    out = result.stdout.str()
    assert "llmeval cost: " in out and "$" not in out.split("llmeval cost: ")[1].splitlines()[0]
    assert out.count("llmeval: no price for openai/test-model") == 1


def test_a_budget_stops_the_run_within_its_limit_and_a_resume_finishes(
    project: EvalProject,
) -> None:
    project.qa_suite(40, extra="thresholds:\n  accuracy: '>=0.5'\n")
    project.pytester.makepyprojecttoml(PRICES)
    project.server.configure(latency_ms=20)
    budget = 0.5  # USD: at these prices a sample costs about 0.03
    result = project.run("--llmeval-budget", str(budget), "--llmeval-cache", "off",
                         "--llmeval-concurrency", "8")  # fmt: skip
    assert result.ret == 7, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes["unsent"] > 0 and outcomes["passed"] + outcomes["unsent"] == 40
    stats = project.server.stats()
    spent = (stats["prompt_tokens"] * 1000.0 + stats["completion_tokens"] * 2000.0) / 1e6
    assert spent <= budget  # every request's cost was bounded before it was sent
    result.stdout.fnmatch_lines(
        lines(
            "llmeval gate not applied: stopped at the budget ($0.5): $* spent, * tokens; * "
            "sample(s) not sent (continue with --llmeval-resume latest and a larger budget)",
        )
    )
    run = project.runs()[-1]
    assert run["status"] == "incomplete" and run["exitstatus"] == 7
    resumed = project.run("--llmeval-resume", "latest", "--llmeval-budget", "10",
                          "--llmeval-cache", "off")  # fmt: skip
    assert resumed.ret == 0, resumed.stdout.str()
    assert project.server.stats()["requests"] == 40  # each sample sent once in all
    assert project.runs()[-1]["status"] == "complete"


def test_a_usd_budget_needs_a_price(project: EvalProject) -> None:
    project.qa_suite(3)
    result = project.run("--llmeval-budget", "1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(lines("*--llmeval-budget 1 needs a price for openai/test-model*"))
    assert project.server.stats()["requests"] == 0


def test_a_token_budget_needs_no_price(project: EvalProject) -> None:
    project.qa_suite(30, extra="thresholds:\n  accuracy: '>=0.5'\n")
    result = project.run("--llmeval-token-budget", "400", "--llmeval-cache", "off",
                         "--llmeval-concurrency", "2")  # fmt: skip
    assert result.ret == 7
    stats = project.server.stats()
    assert stats["prompt_tokens"] + stats["completion_tokens"] <= 400


def test_collect_only_estimates_requests_tokens_and_cost_sending_nothing(
    project: EvalProject,
) -> None:
    project.qa_suite(10)
    project.pytester.makepyprojecttoml(PRICES)
    first = project.run("--co", "--llmeval-estimate")
    assert first.ret == 0 and project.server.stats()["requests"] == 0
    first.stdout.fnmatch_lines(
        lines(
            "*= llmeval estimate =*",
            "nothing sent; model openai/test-model; prompts counted by approx: 4 characters a token",
            "  suite *requests *prompt tokens *output tokens *cost",
            "  qa *10 * 640 *(max_tokens 64) *$*",
            "  total *10 *",
        )
    )
    project.run()  # a stored run: its outputs' length is the estimate's from now on
    again = project.run("--co", "--llmeval-estimate")
    again.stdout.fnmatch_lines(lines("  qa *10 * (last run: 1.0 a sample) *$*"))
