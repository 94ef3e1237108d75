"""Options parsing: defaults, validation, one-line usage errors."""

from __future__ import annotations

import pytest

from pytest_llmeval.run import options
from pytest_llmeval.run.options import _nonneg, _positive, _rate, read_options


def test_rates_accept_a_share_or_a_percentage() -> None:
    assert _rate(None, "--x") == 0.0
    assert _rate("0.02", "--x") == 0.02 and _rate("2%", "--x") == 0.02
    for bad in ("lots", "150%", "-0.1"):
        with pytest.raises(ValueError, match=r"^--x: expected a share"):
            _rate(bad, "--x")


def test_numbers() -> None:
    assert _positive("3", "--n", int) == 3
    with pytest.raises(ValueError, match=r"^--n: must be > 0, got .0.$"):
        _positive("0", "--n", int)
    with pytest.raises(ValueError, match=r"^--n: expected a number"):
        _positive("x", "--n")
    with pytest.raises(ValueError, match=r"^--n: must be >= 0"):
        _nonneg(-1, "--n")


def test_defaults_come_from_one_place(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("--model", "openai/m", "--llmeval-base-url", "http://x/v1")
    opts = read_options(config)
    assert (opts.concurrency, opts.batch_size, opts.stall_timeout) == (
        options.CONCURRENCY,
        options.BATCH_SIZE,
        options.STALL_TIMEOUT_S,
    )
    assert opts.model is not None and opts.model.timeout == 60.0 and opts.show_misses == 3
    assert opts.db_path == config.rootpath / ".llmeval" / "llmeval.db"


def test_a_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("--model", "openai/m", "--llmeval-max-error-rate", "lots")
    with pytest.raises(pytest.UsageError, match="--llmeval-max-error-rate: expected a share"):
        read_options(config)
