"""pytest entry point: options, ini keys, hooks registration. No logic lives here."""

from __future__ import annotations

import pytest

from pytest_llmeval import hookspecs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmeval", "LLM evaluation (pytest-llmeval)")
    group.addoption(
        "--model",
        dest="llmeval_model",
        metavar="SPEC",
        help="Model to evaluate: gpt-4o-mini, openai/NAME or hf/REPO_OR_PATH",
    )
    group.addoption(
        "--llmeval-base-url",
        dest="llmeval_base_url",
        metavar="URL",
        help="Base URL of an OpenAI-compatible server (default: OPENAI_BASE_URL)",
    )
    group.addoption(
        "--temperature",
        dest="llmeval_temperature",
        type=float,
        metavar="T",
        help="Override every suite's sampling temperature",
    )
    group.addoption(
        "--max-tokens",
        dest="llmeval_max_tokens",
        type=int,
        metavar="N",
        help="Override every suite's completion token limit",
    )
    group.addoption(
        "--llmeval-timeout",
        dest="llmeval_timeout",
        type=float,
        metavar="S",
        help="Seconds before one model request times out (default 60)",
    )
    group.addoption(
        "--llmeval-max-retries",
        dest="llmeval_max_retries",
        type=int,
        metavar="N",
        help="Retries per request on 429/5xx/timeouts (default 4)",
    )
    group.addoption(
        "--llmeval-db",
        dest="llmeval_db",
        metavar="PATH",
        help="Results database (default .llmeval/llmeval.db under the rootdir)",
    )
    group.addoption(
        "--llmeval-limit",
        dest="llmeval_limit",
        type=int,
        metavar="N",
        help="Evaluate a seeded, stable subset of N samples per suite",
    )
    group.addoption(
        "--llmeval-seed",
        dest="llmeval_seed",
        type=int,
        metavar="N",
        help="Seed for --llmeval-limit (default 0)",
    )
    group.addoption(
        "--llmeval-threshold",
        dest="llmeval_threshold",
        action="append",
        metavar="TASK.METRIC>=X",
        help="Add or override a threshold, e.g. json_extraction.accuracy>=0.9",
    )
    group.addoption(
        "--llmeval-strict",
        dest="llmeval_strict",
        action="store_true",
        default=None,
        help="Fail the session on any sample miss, not just the gate",
    )

    parser.addini("llmeval_model", "Default --model spec")
    parser.addini("llmeval_base_url", "Default --llmeval-base-url")
    parser.addini("llmeval_timeout", "Default --llmeval-timeout")
    parser.addini("llmeval_max_retries", "Default --llmeval-max-retries")
    parser.addini("llmeval_db", "Default --llmeval-db")
    parser.addini("llmeval_limit", "Default --llmeval-limit")
    parser.addini("llmeval_seed", "Default --llmeval-seed")
    parser.addini("llmeval_thresholds", "Thresholds, one TASK.METRIC>=X per line", type="linelist")
    parser.addini("llmeval_strict", "Default --llmeval-strict", type="bool", default=False)
    parser.addini(
        "llmeval_suite_glob", "File name pattern of declarative suites", default="eval_*.yaml"
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from pytest_llmeval.options import read_options
    from pytest_llmeval.session import EvalSession, session_key

    config.addinivalue_line(
        "markers",
        "llmeval(dataset, task, prompt=None, params=None, scorers=None, pass_on=None, "
        "thresholds=None, name=None): run the test once per sample of an eval dataset",
    )
    session = EvalSession(config, read_options(config))
    config.stash[session_key] = session
    config.pluginmanager.register(session, "llmeval-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    from pytest_llmeval.session import session_key

    session = config.stash.get(session_key, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)
        del config.stash[session_key]


from pytest_llmeval.collect import pytest_collect_file, pytest_generate_tests  # noqa: E402
from pytest_llmeval.fixtures import completion, llmeval_record, model, sample  # noqa: E402

__all__ = [
    "completion",
    "llmeval_record",
    "model",
    "pytest_collect_file",
    "pytest_generate_tests",
    "sample",
]
