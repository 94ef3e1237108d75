"""Settings for one run, read once from command line, ini and ``[tool.llmeval]``.

Every problem found here is a usage error (exit 4) raised before any test runs.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.export.outputs import OutputSpec
from pytest_llmeval.export.outputs import parse as parse_outputs
from pytest_llmeval.gate import thresholds as th
from pytest_llmeval.gate.baseline import ALPHA, Margin, MarginError
from pytest_llmeval.models import (
    DTYPES,
    EMBEDDED_DEFAULT,
    EMBEDDED_DIR,
    MAX_RETRIES,
    TIMEOUT_S,
    ModelSettings,
    SpecError,
    prices,
    split_spec,
)
from pytest_llmeval.models.prices import PriceError, Prices
from pytest_llmeval.store import cache
from pytest_llmeval.store.results import DEFAULT_DB

# Every default, defined once: the options below, their help text and ini keys read these.
CONCURRENCY = 16
BATCH_SIZE = 32
JUDGE_MAX_TOKENS = 512
JUDGE_REPAIRS = 1
STALL_TIMEOUT_S = 120.0
SHOW_MISSES = 3
DEFAULT_MODEL = EMBEDDED_DEFAULT
SUITE_GLOB = "eval_*.yaml"
REPEAT_PASS = ("majority", "all")  # the first is the default


@dataclass(frozen=True)
class Options:
    model: ModelSettings | None
    db_path: Path
    strict: bool
    limit: int | None
    seed: int
    temperature: float | None
    max_tokens: int | None
    thresholds: tuple[th.Threshold, ...]  # project-level: pyproject, then ini, then CLI
    suite_glob: str
    concurrency: int = CONCURRENCY
    window: int | None = None
    cache: str = "auto"
    cache_ttl: float | None = None  # days; older cache entries are not read
    batch_size: int = BATCH_SIZE
    baseline: str | None = None
    margins: tuple[Margin, ...] = ()
    alpha: float = ALPHA
    compare_md: Path | None = None
    fail_underpowered: bool = False
    judge: ModelSettings | None = None
    default_model: bool = False  # no --model given: the bundled model stands in
    outputs: OutputSpec = field(default_factory=OutputSpec)
    judge_max_tokens: int = JUDGE_MAX_TOKENS
    judge_repairs: int = JUDGE_REPAIRS
    judge_json: bool = True
    max_error_rate: float = 0.0
    stall_timeout: float = STALL_TIMEOUT_S
    resume: str | None = None
    baseline_force: bool = False
    show_misses: int | None = SHOW_MISSES  # per task; None: all
    # tasks named by project thresholds (pyproject, ini, command line): their suites are gated
    project_tasks: frozenset[str] = frozenset()
    repeats_cli: int | None = None  # --llmeval-repeats: beats a suite's own `repeats`
    repeats_ini: int | None = None  # ini llmeval_repeats: for suites without one
    repeat_pass: str = REPEAT_PASS[0]
    repeat_items: bool = False
    shard: tuple[int, int] | None = None  # --llmeval-shard I/N: (I, N), 1-based
    prices: Prices = field(default_factory=Prices)
    budget_usd: float | None = None
    budget_tokens: int | None = None
    estimate: bool = False  # --co --llmeval-estimate

    def repeats_for(self, suite_repeats: int | None) -> int:
        """Tries per sample: the command line, else the suite's key, else ini, else 1."""
        return self.repeats_cli or suite_repeats or self.repeats_ini or 1


def read_options(config: pytest.Config) -> Options:
    """Collect and validate the run's settings; raise pytest.UsageError on bad input."""
    try:
        return _read(config)
    except (SpecError, th.ThresholdError, MarginError, PriceError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None


def _opt(config: pytest.Config, name: str, ini: str | None = None) -> Any:
    value = config.getoption(name)
    if value is None and ini is not None:
        value = config.getini(ini) or None
    return value


def _read(config: pytest.Config) -> Options:
    spec = _opt(config, "llmeval_model", "llmeval_model")
    default_model = False
    if not spec:
        spec = default_spec(config)
        default_model = spec is not None
    model = None
    if spec:
        split_spec(spec)  # its provider is checked once eval items exist (check_models)
        timeout = _opt(config, "llmeval_timeout", "llmeval_timeout")
        retries = _opt(config, "llmeval_max_retries", "llmeval_max_retries")
        local = {
            "load_in_4bit": bool(config.getoption("llmeval_load_in_4bit")),
            "load_in_8bit": bool(config.getoption("llmeval_load_in_8bit")),
            "adapter": _opt(config, "llmeval_adapter", "llmeval_adapter"),
            "dtype": _opt(config, "llmeval_dtype", "llmeval_dtype"),
            "revision": _opt(config, "llmeval_revision", "llmeval_revision"),
            "trust_remote_code": bool(
                config.getoption("llmeval_trust_remote_code")
                or config.getini("llmeval_trust_remote_code")
            ),
        }
        if local["dtype"] not in (None, *DTYPES):
            raise ValueError(f"llmeval_dtype: unknown dtype {local['dtype']!r}")
        model = ModelSettings(
            options={k: v for k, v in local.items() if v},
            spec=spec,
            base_url=_opt(config, "llmeval_base_url", "llmeval_base_url"),
            timeout=_positive(
                TIMEOUT_S if timeout is None else timeout, "--llmeval-timeout", float
            ),
            max_retries=_nonneg(
                MAX_RETRIES if retries is None else retries, "--llmeval-max-retries"
            ),
        )

    db = _opt(config, "llmeval_db", "llmeval_db") or str(DEFAULT_DB)
    db_path = Path(db) if Path(db).is_absolute() else config.rootpath / db

    limit = _opt(config, "llmeval_limit", "llmeval_limit")
    limit = None if limit is None else int(_positive(limit, "--llmeval-limit", int))

    temperature = config.getoption("llmeval_temperature")
    if temperature is not None and temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {temperature}")
    max_tokens = config.getoption("llmeval_max_tokens")
    if max_tokens is not None:
        _positive(max_tokens, "--max-tokens", int)

    concurrency = _opt(config, "llmeval_concurrency", "llmeval_concurrency")
    window = _opt(config, "llmeval_window", "llmeval_window")
    cache_mode = _opt(config, "llmeval_cache", "llmeval_cache") or "auto"
    if cache_mode not in cache.MODES:
        raise ValueError(
            f"--llmeval-cache: expected one of {', '.join(cache.MODES)}, got {cache_mode!r}"
        )
    cache_ttl = _opt(config, "llmeval_cache_ttl", "llmeval_cache_ttl")
    batch_size = _opt(config, "llmeval_batch_size", "llmeval_batch_size")
    judge = None
    judge_spec = _opt(config, "llmeval_judge_model", "llmeval_judge_model")
    if judge_spec:
        split_spec(judge_spec, "--judge-model")
        judge = ModelSettings(
            spec=judge_spec,
            base_url=_opt(config, "llmeval_judge_base_url", "llmeval_judge_base_url"),
            timeout=model.timeout if model else TIMEOUT_S,
            max_retries=model.max_retries if model else MAX_RETRIES,
        )
    judge_tokens = _opt(config, "llmeval_judge_max_tokens", "llmeval_judge_max_tokens")
    judge_repairs = _opt(config, "llmeval_judge_repairs", "llmeval_judge_repairs")
    margins = [*config.getini("llmeval_fail"), *(config.getoption("llmeval_fail") or ())]
    alpha = float(_opt(config, "llmeval_alpha", "llmeval_alpha") or ALPHA)
    if not 0 < alpha < 0.5:
        raise ValueError(f"--llmeval-alpha: expected a level in (0, 0.5), got {alpha}")
    md = config.getoption("llmeval_compare_md")
    outputs = parse_outputs(
        list(config.getoption("llmeval_export") or ()),
        config.getoption("llmeval_report"),
        _opt(config, "llmeval_push_gateway", "llmeval_push_gateway"),
        bool(config.getoption("llmeval_otel")),
        config.rootpath,
    )
    show = str(_opt(config, "llmeval_show_misses", "llmeval_show_misses") or SHOW_MISSES).strip()
    show_misses = None if show.lower() == "all" else _nonneg(show, "--llmeval-show-misses")
    stall = _opt(config, "llmeval_stall_timeout", "llmeval_stall_timeout")
    project = tuple(project_thresholds(config))
    repeats_cli = config.getoption("llmeval_repeats")
    repeats_ini = config.getini("llmeval_repeats") or None
    repeat_pass = _opt(config, "llmeval_repeat_pass", "llmeval_repeat_pass") or REPEAT_PASS[0]
    budget = config.getoption("llmeval_budget")
    token_budget = config.getoption("llmeval_token_budget")
    if repeat_pass not in REPEAT_PASS:
        raise ValueError(f"llmeval_repeat_pass: expected majority or all, got {repeat_pass!r}")
    return Options(
        repeats_cli=None
        if repeats_cli is None
        else _positive(repeats_cli, "--llmeval-repeats", int),
        repeats_ini=None if repeats_ini is None else _positive(repeats_ini, "llmeval_repeats", int),
        repeat_pass=repeat_pass,
        repeat_items=bool(config.getoption("llmeval_repeat_items")),
        shard=parse_shard(config.getoption("llmeval_shard")),
        prices=prices.load(config.rootpath, _opt(config, "llmeval_prices", "llmeval_prices")),
        budget_usd=None if budget is None else float(_positive(budget, "--llmeval-budget")),
        budget_tokens=None
        if token_budget is None
        else int(_positive(token_budget, "--llmeval-token-budget", int)),
        estimate=bool(config.getoption("llmeval_estimate")),
        max_error_rate=_rate(
            _opt(config, "llmeval_max_error_rate", "llmeval_max_error_rate"),
            "--llmeval-max-error-rate",
        ),
        stall_timeout=float(
            _positive(STALL_TIMEOUT_S if stall is None else stall, "--llmeval-stall-timeout", float)
        ),
        resume=config.getoption("llmeval_resume"),
        baseline_force=bool(config.getoption("llmeval_baseline_force")),
        show_misses=show_misses,
        project_tasks=frozenset(t.task for t in project),
        outputs=outputs,
        default_model=default_model,
        judge=judge,
        judge_max_tokens=int(
            _positive(
                JUDGE_MAX_TOKENS if judge_tokens is None else judge_tokens,
                "--judge-max-tokens",
                int,
            )
        ),
        judge_repairs=_nonneg(
            JUDGE_REPAIRS if judge_repairs is None else judge_repairs, "--judge-repairs"
        ),
        judge_json=(_opt(config, "llmeval_judge_json_mode", "llmeval_judge_json_mode") or "on")
        == "on",
        baseline=_opt(config, "llmeval_baseline", "llmeval_baseline"),
        margins=tuple(Margin.parse(m) for m in margins if m.strip()),
        alpha=alpha,
        compare_md=None if md is None else Path(md),
        fail_underpowered=bool(config.getoption("llmeval_fail_underpowered")),
        batch_size=int(
            _positive(BATCH_SIZE if batch_size is None else batch_size, "--llmeval-batch-size", int)
        ),
        concurrency=int(
            _positive(
                CONCURRENCY if concurrency is None else concurrency, "--llmeval-concurrency", int
            )
        ),
        window=None if window is None else int(_positive(window, "--llmeval-window", int)),
        cache=cache_mode,
        cache_ttl=None if cache_ttl is None else _positive(cache_ttl, "--llmeval-cache-ttl"),
        model=model,
        db_path=db_path,
        strict=bool(config.getoption("llmeval_strict") or config.getini("llmeval_strict")),
        limit=limit,
        seed=_nonneg(_opt(config, "llmeval_seed", "llmeval_seed") or 0, "--llmeval-seed"),
        temperature=temperature,
        max_tokens=max_tokens,
        thresholds=project,
        suite_glob=config.getini("llmeval_suite_glob") or SUITE_GLOB,
    )


def check_models(options: Options, config: pytest.Config) -> None:
    """What would fail on every sample (an unknown provider, a missing key, extra or model
    directory): checked once eval items are known to exist, so unrelated test runs never
    pay for it. From then on, providers' notices go to the terminal."""
    from pytest_llmeval.run import providers

    providers.route_notices(config)
    if options.model is not None:
        providers.check(config, options.model)
    if options.judge is not None:
        providers.check(config, options.judge, "--judge-model", "--judge-base-url")


def default_spec(config: pytest.Config) -> str | None:
    """The model to use when none is given: ini ``llmeval_default_model`` (default: the
    bundled ``embedded/default``), if its dependencies and files are installed."""
    spec = config.getini("llmeval_default_model").strip()
    if not spec or spec.lower() == "none":
        return None
    if spec.startswith("embedded/"):
        name = spec.partition("/")[2]
        if (
            importlib.util.find_spec("transformers") is None
            or not (EMBEDDED_DIR / name / "config.json").is_file()
        ):
            return None
    return str(spec)


def project_thresholds(config: pytest.Config) -> list[th.Threshold]:
    """pyproject ``[tool.llmeval.thresholds]``, then ini ``llmeval_thresholds``, then CLI."""
    out: list[th.Threshold] = []
    pyproject = config.rootpath / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{pyproject.name}: {exc}") from None
        table = data.get("tool", {}).get("llmeval", {}).get("thresholds", {})
        out += th.from_table(table, "pyproject.toml [tool.llmeval.thresholds]")
    for line in config.getini("llmeval_thresholds"):
        if line.strip():
            out.append(th.Threshold.parse_qualified(line, "ini llmeval_thresholds"))
    for text in config.getoption("llmeval_threshold") or ():
        out.append(th.Threshold.parse_qualified(text, "--llmeval-threshold"))
    return out


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``I/N`` (1-based): shard I of N."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--llmeval-shard: expected I/N with 1 <= I <= N (2/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _rate(value: Any, name: str) -> float:
    """A share: ``0.02`` or ``2%``; 0 when not given."""
    if value is None or str(value).strip() == "":
        return 0.0
    text = str(value).strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{name}: expected a share such as 0.02 or 2%, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name}: expected a share in [0, 1], got {value!r}")
    return rate


def _positive(value: Any, name: str, kind: type = float) -> Any:
    try:
        v = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if v <= 0:
        raise ValueError(f"{name}: must be > 0, got {value!r}")
    return v


def _nonneg(value: Any, name: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an integer, got {value!r}") from None
    if v < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return v
