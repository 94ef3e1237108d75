"""pytest entry point: options, ini keys, hooks registration. No logic lives here."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval import hookspecs
from pytest_llmeval.gate.baseline import ALPHA
from pytest_llmeval.models import DTYPES, MAX_RETRIES, TIMEOUT_S
from pytest_llmeval.run import options as d
from pytest_llmeval.store.results import DEFAULT_DB

# (flag, dest, ini key or None, addoption keywords); every persistent setting has an ini key.
OPTIONS: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("--model", "llmeval_model", "llmeval_model",
     {"metavar": "SPEC", "help": "Model to evaluate: gpt-4o-mini, openai/NAME or hf/REPO_OR_PATH"}),
    ("--llmeval-base-url", "llmeval_base_url", "llmeval_base_url",
     {"metavar": "URL", "help": "Base URL of an OpenAI-compatible server (default: "
      "OPENAI_BASE_URL)"}),
    ("--judge-model", "llmeval_judge_model", "llmeval_judge_model",
     {"metavar": "SPEC", "help": "Model that grades suites with a judge rubric (any provider)"}),
    ("--judge-base-url", "llmeval_judge_base_url", "llmeval_judge_base_url",
     {"metavar": "URL", "help": "Base URL of the judge's OpenAI-compatible server"}),
    ("--judge-max-tokens", "llmeval_judge_max_tokens", "llmeval_judge_max_tokens",
     {"type": int, "metavar": "N",
      "help": f"Token limit of a judge reply (default {d.JUDGE_MAX_TOKENS})"}),
    ("--judge-repairs", "llmeval_judge_repairs", "llmeval_judge_repairs",
     {"type": int, "metavar": "N", "help": "Repair prompts after an invalid judge reply "
      f"before it is a judge error (default {d.JUDGE_REPAIRS})"}),
    ("--judge-json-mode", "llmeval_judge_json_mode", "llmeval_judge_json_mode",
     {"metavar": "on|off", "choices": ("on", "off"),
      "help": "Ask the judge for structured output: response_format json_schema with the "
      "rubric's verdict schema, then json_object where refused (default on; off asks for "
      "no format)"}),
    ("--temperature", "llmeval_temperature", None,
     {"type": float, "metavar": "T", "help": "Override every suite's sampling temperature"}),
    ("--max-tokens", "llmeval_max_tokens", None,
     {"type": int, "metavar": "N", "help": "Override every suite's completion token limit"}),
    ("--llmeval-timeout", "llmeval_timeout", "llmeval_timeout",
     {"type": float, "metavar": "S",
      "help": f"Seconds before one request times out (default {TIMEOUT_S:g})"}),
    ("--llmeval-max-retries", "llmeval_max_retries", "llmeval_max_retries",
     {"type": int, "metavar": "N",
      "help": f"Retries per request on 429/5xx/timeouts (default {MAX_RETRIES})"}),
    ("--llmeval-concurrency", "llmeval_concurrency", "llmeval_concurrency",
     {"type": int, "metavar": "N", "help": "Requests in flight at once, across all xdist "
      f"workers (default {d.CONCURRENCY}; halved on 429, regrown on success)"}),
    ("--llmeval-window", "llmeval_window", "llmeval_window",
     {"type": int, "metavar": "N", "help": "Results generated ahead of the running item "
      "(default 4x concurrency); bounds what -x or Ctrl-C waste"}),
    ("--llmeval-cache", "llmeval_cache", "llmeval_cache",
     {"metavar": "MODE", "choices": ("auto", "on", "off", "refresh"),
      "help": "Response cache: auto (on at temperature 0, the default), on, off, refresh"}),
    ("--llmeval-cache-ttl", "llmeval_cache_ttl", "llmeval_cache_ttl",
     {"type": float, "metavar": "DAYS", "help": "Do not read cache entries older than DAYS "
      "(asked again, and refreshed; default: any age)"}),
    ("--llmeval-batch-size", "llmeval_batch_size", "llmeval_batch_size",
     {"type": int, "metavar": "N", "help": "Local models: requests per generate call "
      f"(default {d.BATCH_SIZE}; 1 disables batching)"}),
    ("--load-in-4bit", "llmeval_load_in_4bit", None,
     {"action": "store_true", "default": False,
      "help": "Local models: load 4-bit NF4 with double quantization (bitsandbytes)"}),
    ("--load-in-8bit", "llmeval_load_in_8bit", None,
     {"action": "store_true", "default": False,
      "help": "Local models: load 8-bit (bitsandbytes)"}),
    ("--adapter", "llmeval_adapter", "llmeval_adapter",
     {"metavar": "PATH", "help": "Local models: a PEFT LoRA adapter directory to load on top"}),
    ("--llmeval-dtype", "llmeval_dtype", "llmeval_dtype",
     {"metavar": "DTYPE", "choices": DTYPES,
      "help": "Local models: weights and 4-bit compute dtype (default auto: bf16/fp16 on GPU, "
      "fp32 on CPU)"}),
    ("--llmeval-revision", "llmeval_revision", "llmeval_revision",
     {"metavar": "REV", "help": "Local models: hub revision (branch, tag or commit)"}),
    ("--llmeval-trust-remote-code", "llmeval_trust_remote_code", None,
     {"action": "store_true", "default": False,
      "help": "Local models: run the modeling code a model ships (transformers' "
      "trust_remote_code); only for a model you trust"}),
    ("--llmeval-db", "llmeval_db", "llmeval_db",
     {"metavar": "PATH", "help": f"Results database (default {DEFAULT_DB} under the "
      "rootdir)"}),
    ("--llmeval-limit", "llmeval_limit", "llmeval_limit",
     {"type": int, "metavar": "N", "help": "Evaluate a seeded, stable subset of N samples per "
      "suite"}),
    ("--llmeval-prices", "llmeval_prices", "llmeval_prices",
     {"metavar": "FILE", "help": "Prices (USD per million tokens by model spec or glob) as a "
      "YAML file, instead of [tool.llmeval.prices] in pyproject.toml"}),
    ("--llmeval-budget", "llmeval_budget", None,
     {"type": float, "metavar": "USD", "help": "Stop sending requests before the spend, "
      "counting what is in flight, could pass USD (needs a price for the model); samples "
      "not sent are 'unsent', the run incomplete and resumable (exit 7)"}),
    ("--llmeval-token-budget", "llmeval_token_budget", None,
     {"type": int, "metavar": "N", "help": "The same, in prompt + completion tokens"}),
    ("--llmeval-estimate", "llmeval_estimate", None,
     {"action": "store_true", "default": False,
      "help": "With --co: print per suite the requests, prompt and output tokens and the "
      "cost a run would have, sending nothing"}),
    ("--llmeval-shard", "llmeval_shard", None,
     {"metavar": "I/N", "help": "Run shard I of N of every suite (a stable split by sample "
      "id, the same on every machine); merge the shards' databases with llmeval merge and "
      "gate the whole with llmeval gate"}),
    ("--llmeval-seed", "llmeval_seed", "llmeval_seed",
     {"type": int, "metavar": "N", "help": "Seed for --llmeval-limit (default 0)"}),
    ("--llmeval-repeats", "llmeval_repeats", "llmeval_repeats",
     {"type": int, "metavar": "K", "help": "Run every sample K times (beats a suite's "
      "'repeats'; ini: the default for suites without one)"}),
    ("--llmeval-repeat-pass", "llmeval_repeat_pass", "llmeval_repeat_pass",
     {"metavar": "majority|all", "choices": d.REPEAT_PASS,
      "help": "With repeats, a sample's item passes on a majority of its tries (default) or "
      "on all"}),
    ("--llmeval-repeat-items", "llmeval_repeat_items", None,
     {"action": "store_true", "default": False,
      "help": "With repeats, one item per try (SAMPLE@rK) instead of one per sample"}),
    ("--llmeval-baseline", "llmeval_baseline", "llmeval_baseline",
     {"metavar": "RUN", "help": "Gate against a stored complete run: a run id, a unique "
      "prefix, or latest"}),
    ("--llmeval-fail", "llmeval_fail", None,
     {"action": "append", "metavar": "METRIC:MARGIN",
      "help": "Practical margin of a baseline regression, e.g. accuracy:-2% or qa.f1:-0.03 "
      "(repeatable; default accuracy:-2%)"}),
    ("--llmeval-alpha", "llmeval_alpha", "llmeval_alpha",
     {"type": float, "metavar": "A", "help": "Significance level of the baseline gate "
      f"(default {ALPHA:g}, one-sided)"}),
    ("--llmeval-compare-md", "llmeval_compare_md", None,
     {"metavar": "PATH", "help": "Write the baseline comparison as Markdown (a PR comment)"}),
    ("--llmeval-fail-underpowered", "llmeval_fail_underpowered", None,
     {"action": "store_true", "default": False,
      "help": "Fail the session when the baseline comparison is too small to detect the "
      "margin, instead of only saying so"}),
    ("--llmeval-export", "llmeval_export", None,
     {"action": "append", "metavar": "FORMAT:PATH",
      "help": "Write the run as csv, csv-metrics, json or prometheus (repeatable)"}),
    ("--llmeval-report", "llmeval_report", None,
     {"metavar": "html:PATH", "help": "Write a self-contained HTML report of the run"}),
    ("--llmeval-push-gateway", "llmeval_push_gateway", "llmeval_push_gateway",
     {"metavar": "URL", "help": "Push the run's Prometheus metrics to a Pushgateway"}),
    ("--llmeval-otel", "llmeval_otel", None,
     {"action": "store_true", "default": False,
      "help": "Export a span per sample and run metrics with OpenTelemetry (also on when "
      "OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT is set)"}),
    ("--llmeval-threshold", "llmeval_threshold", None,
     {"action": "append", "metavar": "TASK.METRIC>=X",
      "help": "Add or override a threshold, e.g. json_extraction.accuracy>=0.9"}),
    ("--llmeval-strict", "llmeval_strict", None,
     {"action": "store_true", "default": None,
      "help": "Fail the session on any sample miss, not just on the gate"}),
    ("--llmeval-max-error-rate", "llmeval_max_error_rate", "llmeval_max_error_rate",
     {"metavar": "RATE", "help": "Error budget: the share of samples that may error (model, "
      "judge or scorer) before the run is not evaluated, exit 6 (default 0; 0.02 or 2%)"}),
    ("--llmeval-stall-timeout", "llmeval_stall_timeout", "llmeval_stall_timeout",
     {"type": float, "metavar": "S", "help": "End the run when a server has answered nothing "
      f"for S seconds while requests wait on it (default {d.STALL_TIMEOUT_S:g})"}),
    ("--llmeval-resume", "llmeval_resume", None,
     {"metavar": "RUN", "help": "Continue an interrupted, incomplete, aborted or errored run "
      "(an id, a unique prefix, or latest) into the same run: scored samples are not sent "
      "again"}),
    ("--llmeval-baseline-force", "llmeval_baseline_force", None,
     {"action": "store_true", "default": False,
      "help": "Accept a --llmeval-baseline run that is not complete (errored, incomplete...)"}),
    ("--llmeval-show-misses", "llmeval_show_misses", "llmeval_show_misses",
     {"metavar": "N|all", "help": "Missed samples shown in full in the summary, per task "
      f"(default {d.SHOW_MISSES}; 0 for none, all for every one)"}),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmeval", "LLM evaluation (pytest-llmeval)")
    for flag, dest, ini, kwargs in OPTIONS:
        # argparse formats help text with %: a literal one (accuracy:-2%) must be doubled
        kwargs = {**kwargs, "help": kwargs["help"].replace("%", "%%")}
        group.addoption(flag, dest=dest, **kwargs)
        if ini is not None:
            parser.addini(ini, f"Default {flag}")
    parser.addini("llmeval_thresholds", "Thresholds, one TASK.METRIC>=X per line", type="linelist")
    parser.addini("llmeval_fail", "Baseline margins, one METRIC:MARGIN per line", type="linelist")
    parser.addini("llmeval_strict", "Default --llmeval-strict", type="bool", default=False)
    parser.addini("llmeval_trust_remote_code", "Default --llmeval-trust-remote-code",
                  type="bool", default=False)
    parser.addini("llmeval_default_model", "Model when no --model is given (empty: require one)",
                  default=d.DEFAULT_MODEL)
    parser.addini("llmeval_suite_glob", "File name pattern of declarative suites",
                  default=d.SUITE_GLOB)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Read the options (a usage error is reported at once); nothing else starts until
    eval items are collected (see run/collect.py)."""
    from pytest_llmeval.run.options import read_options
    from pytest_llmeval.run.session import options_key

    config.addinivalue_line(
        "markers",
        "llmeval(dataset, task, prompt=None, params=None, scorers=None, pass_on=None, "
        "thresholds=None, name=None, expected=None, repeats=None): run the test once per sample "
        "of an eval dataset",
    )
    config.stash[options_key] = read_options(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    from pytest_llmeval.run.collect import forget_rendezvous
    from pytest_llmeval.run.session import session_key

    session = config.stash.get(session_key, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)
        del config.stash[session_key]
    forget_rendezvous(config)


# Always on: turning suites into items, and switching the run on when there are any.
from pytest_llmeval.run.collect import (  # noqa: E402
    pytest_collect_file,
    pytest_collection_modifyitems,
    pytest_collection_modifyitems_checked,
    pytest_configure_node,
    pytest_generate_tests,
    pytest_xdist_make_scheduler,
    pytest_xdist_node_collection_finished,
)
from pytest_llmeval.run.fixtures import (  # noqa: E402
    completion,
    judge,
    llmeval_record,
    model,
    sample,
)

__all__ = [
    "completion",
    "judge",
    "llmeval_record",
    "model",
    "pytest_collect_file",
    "pytest_collection_modifyitems",
    "pytest_collection_modifyitems_checked",
    "pytest_configure_node",
    "pytest_generate_tests",
    "pytest_xdist_make_scheduler",
    "pytest_xdist_node_collection_finished",
    "sample",
]
