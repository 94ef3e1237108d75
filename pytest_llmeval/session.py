"""EvalSession: one run, from the first item to the gate.

Registered as a plugin in ``pytest_configure``. In every process it produces completions
and scores and puts each sample's row on its test report; only the controller (or the
single process) stores rows, aggregates metrics, applies the gate and prints the summary.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from pytest_llmeval import __version__, aggregate, models, summary
from pytest_llmeval import thresholds as th
from pytest_llmeval.broker import Broker, RemoteEngine
from pytest_llmeval.dataset import file_hash
from pytest_llmeval.engine import Engine, Request
from pytest_llmeval.models import ModelSettings, create_model
from pytest_llmeval.models.base import Completion, GenerateParams, Message, Model, ModelError
from pytest_llmeval.options import Options
from pytest_llmeval.storage import Store, new_run_row, utcnow
from pytest_llmeval.suite import Case, Suite

session_key = pytest.StashKey["EvalSession"]()
case_key = pytest.StashKey[Case]()
row_key = pytest.StashKey[dict[str, Any]]()
completion_key = pytest.StashKey[Completion]()

GATE_PREFIX = "llmeval::gate"
NO_MODEL_NODEID = "llmeval::no-model"
FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0
MAX_TEXT = 64 * 1024
# What the controller keeps in memory per row for the end-of-session metrics.
AGGREGATED = (
    "task",
    "sample_id",
    "slices",
    "scores",
    "passed",
    "error",
    "latency_ms",
    "original_latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached",
)  # cap on prompt/output text carried in reports and stored

NO_MODEL = (
    "pytest-llmeval: no model configured: pass --model gpt-4o-mini (reads OPENAI_API_KEY), "
    "--model openai/NAME --llmeval-base-url http://HOST:PORT/v1, or set llmeval_model in ini"
)


class SampleMiss(AssertionError):
    """The sample scored below its pass mark: an F item with expected vs got."""


class ModelFailure(Exception):
    """The model call failed after retries: an E item, never a wrong answer."""


def new_run_id() -> str:
    """Sortable and unique: ``20261127T101530Z-3f9a``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class EvalSession:
    """Owns the run: completions, scoring, storage, gate and summary."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.run_id: str = workerinput["llmeval_run_id"] if workerinput else new_run_id()
        self._engine: Engine | RemoteEngine | None = None
        self._broker: Broker | None = None
        self._params: dict[int, GenerateParams] = {}
        # controller state
        self.store: Store | None = None
        self.started_at = utcnow()
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self.rows: list[dict[str, Any]] = []
        self.suite_info: dict[str, dict[str, Any]] = {}
        self.misses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.other_failures: set[str] = set()
        self.collect_errors = 0
        self.crashed = 0
        self.result: dict[str, Any] | None = None

    # -- producing results (every process) ------------------------------------------------
    @property
    def engine(self) -> Engine | RemoteEngine:
        if self._engine is None:
            self._engine = self._remote_engine() or self._local_engine()
        return self._engine

    def _remote_engine(self) -> RemoteEngine | None:
        """On an xdist worker: the controller's engine, if this worker can reach it."""
        address = getattr(self.config, "workerinput", {}).get("llmeval_broker")
        if address is None:
            return None
        try:
            return RemoteEngine(address[0], bytes.fromhex(address[1]))
        except OSError:
            return None  # a remote gateway (--tx ssh=...): evaluate locally instead

    def _local_engine(self) -> Engine:
        settings = self.require_model()
        custom = bool(self.config.hook.pytest_llmeval_make_model.get_hookimpls())
        concurrency = self.options.concurrency
        workers = getattr(self.config, "workerinput", {}).get("workercount")
        if workers:  # a worker on its own still keeps to its share of the quota
            concurrency = max(1, concurrency // int(workers))
        return Engine(
            self._make_model,
            # A model from a conftest hook knows its own identity; built-in ones are
            # identified from settings, so a fully cached run never loads the model.
            identity=None if custom else (lambda: models.identity(settings)),
            concurrency=concurrency,
            window=self.options.window,
            cache_mode=self.options.cache,
            cache_lookup=self._cache_lookup,
            max_retries=settings.max_retries,
        )

    def _cache_lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if self.options.cache in ("off", "refresh") or not self.options.db_path.exists():
            return {}
        store = Store(self.options.db_path)  # its own connection: may run on another thread
        try:
            return store.get_cache(keys)
        finally:
            store.close()

    def _make_model(self) -> Model:
        settings = self.require_model()
        model = self.config.hook.pytest_llmeval_make_model(config=self.config, settings=settings)
        return model if model is not None else create_model(settings)

    def require_model(self) -> ModelSettings:
        if self.options.model is None:
            raise pytest.UsageError(NO_MODEL)
        return self.options.model

    def params_for(self, suite: Suite) -> GenerateParams:
        params = self._params.get(id(suite))
        if params is None:
            overrides: dict[str, Any] = {}
            if self.options.temperature is not None:
                overrides["temperature"] = self.options.temperature
            if self.options.max_tokens is not None:
                overrides["max_tokens"] = self.options.max_tokens
            params = GenerateParams(**{**suite.params.__dict__, **overrides})
            self._params[id(suite)] = params
        return params

    def generate(self, messages: list[Message], params: GenerateParams) -> Completion:
        """A direct, blocking model call (the ``model`` fixture)."""
        try:
            return self.engine.generate(messages, params)
        except ModelError as exc:
            raise ModelFailure(f"model error: {exc}") from None

    def completion_for(self, item: pytest.Item) -> Completion:
        done = item.stash.get(completion_key, None)
        if done is not None:
            return done
        case = item.stash[case_key]
        row = self._row(item)
        try:
            comp = self.engine.result(self._request(item, case))
        except ModelError as exc:
            row["error"] = str(exc)[:2000]
            row["error_kind"] = "model"
            raise ModelFailure(f"model error: {exc}") from None
        row.update(
            output=comp.text[:MAX_TEXT],
            latency_ms=round(comp.latency_ms, 3),
            prompt_tokens=comp.prompt_tokens,
            completion_tokens=comp.completion_tokens,
            finish_reason=comp.finish_reason,
            cached=comp.cached,
            original_latency_ms=comp.metadata.get("original_latency_ms"),
            response_model=comp.model,
            # a cut-off output must not be cached as the model's answer
            cache_key=comp.metadata.get("cache_key") if len(comp.text) <= MAX_TEXT else None,
        )
        item.stash[completion_key] = comp
        return comp

    def _request(self, item: pytest.Item, case: Case) -> Request:
        return Request(item.nodeid, case.messages, self.params_for(case.suite))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Plan every selected item's request now: -k/-m/--lf have already deselected."""
        if self.config.getoption("collectonly") or self.options.model is None:
            return
        planned = []
        for item in session.items:
            if case_key not in item.stash:
                continue
            # A marked test that never asks for `completion` must not cost a request.
            names = getattr(item, "fixturenames", None)
            if names is None or "completion" in names:
                planned.append(self._request(item, item.stash[case_key]))
        if planned:
            self.engine.plan(planned)

    def _row(self, item: pytest.Item) -> dict[str, Any]:
        row = item.stash.get(row_key, None)
        if row is None:
            case = item.stash[case_key]
            s = case.sample
            expected = case.expected
            row = {
                "nodeid": item.nodeid,
                "task": case.suite.name,
                "sample_id": s.id,
                "dataset": case.suite.dataset_display,
                "slices": list(s.slices),
                "difficulty": s.difficulty,
                "prompt": json.dumps(case.messages, ensure_ascii=False)[:MAX_TEXT],
                "expected": expected
                if isinstance(expected, str) or expected is None
                else json.dumps(expected, ensure_ascii=False),
                "scores": {},
                "passed": None,
                "error": None,
                "suite_size": case.suite_size,
                "thresholds": {t.metric: str(t) for t in case.suite.thresholds},
                "worker": getattr(self.config, "workerinput", {}).get("workerid", "main"),
            }
            item.stash[row_key] = row
        return row

    def record_score(
        self, item: pytest.Item, name: str, value: float, passed: bool | None, explanation: str
    ) -> None:
        if case_key not in item.stash:
            raise pytest.UsageError(
                f"{item.nodeid}: llmeval_record needs a test marked "
                "@pytest.mark.llmeval(dataset=..., task=...) that takes 'sample'"
            )
        row = self._row(item)
        row["scores"][name] = {
            "value": float(value),
            "passed": passed,
            "metric": name,
            **({"explanation": explanation} if explanation else {}),
        }
        item.user_properties.append((f"llmeval.{name}", float(value)))

    def score_item(self, item: pytest.Item) -> SampleMiss | None:
        """Run the suite's scorers on the item's completion; return the miss, if any."""
        if case_key not in item.stash:
            return None
        case = item.stash[case_key]
        comp = item.stash.get(completion_key, None)
        if comp is None and row_key not in item.stash:
            return None  # the test used neither `completion` nor `llmeval_record`
        row = self._row(item)
        scores = row["scores"]
        if comp is not None:
            for info in case.suite.scorers:
                score = info.fn(case.sample, comp)
                scores[info.name] = {"metric": info.metric, **score.as_dict()}
                item.user_properties.append((f"llmeval.{info.metric}", score.value))
        failing = [n for n in case.suite.pass_on if n in scores and not scores[n]["passed"]]
        failing += [
            n
            for n, s in scores.items()
            if n not in case.suite.pass_on
            and s.get("passed") is False
            and n not in {i.name for i in case.suite.scorers}
        ]
        row["passed"] = not failing
        item.user_properties.append(("llmeval.passed", row["passed"]))
        if not failing:
            return None
        return SampleMiss(summary.miss_message(case, row, failing))

    # -- pytest hooks ---------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker records into this run and uses its engine."""
        node.workerinput["llmeval_run_id"] = self.run_id
        if self.options.model is not None and not self.config.getoption("collectonly"):
            if self._broker is None:
                engine = self.engine
                assert isinstance(engine, Engine)
                self._broker = Broker(engine)
            node.workerinput["llmeval_broker"] = (self._broker.address, self._broker.authkey.hex())

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Deal items round-robin so workers follow the engine's generation order."""
        if config.getvalue("dist") != "load" or self.options.model is None:
            return None
        from pytest_llmeval.scheduling import InterleavedScheduling

        return InterleavedScheduling(config, log)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        has_evals = False
        for item in items:
            callspec = getattr(item, "callspec", None)
            case = callspec.params.get("sample") if callspec is not None else None
            if isinstance(case, Case):
                item.stash[case_key] = case
            has_evals = has_evals or case_key in item.stash
        if has_evals and self.options.model is None and not config.getoption("collectonly"):
            if not self.is_worker:
                raise pytest.UsageError(NO_MODEL)
            # A UsageError on a worker crashes xdist; instead run nothing here and tell the
            # controller through a failed collect report, which it turns into exit 4.
            items.clear()
            config.hook.pytest_collectreport(
                report=pytest.CollectReport(
                    nodeid=NO_MODEL_NODEID, outcome="failed", longrepr=NO_MODEL, result=[]
                )
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not isinstance(item, pytest.Function) or case_key not in item.stash:
            return (yield)
        try:
            result = yield
        except BaseException:
            self.score_item(item)  # still record what the model said
            raise
        miss = self.score_item(item)
        if miss is not None:
            raise miss
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        row = item.stash.get(row_key, None)
        if row is None or report.skipped:
            return report
        if call.when == "setup" and report.failed:
            if not row.get("error"):
                row["error"] = str(call.excinfo.value if call.excinfo else "setup failed")[:2000]
                row["error_kind"] = "test"
        elif call.when != "call":
            return report
        row["miss"] = bool(call.excinfo and call.excinfo.errisinstance(SampleMiss))
        # Only JSON primitives survive xdist's transport: normalize here so a bad value
        # fails the same way with and without -n.
        report.llmeval = json.loads(json.dumps(row, default=str))  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
    def pytest_runtest_makereport_one_line(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> pytest.TestReport | None:
        """A miss or a model error is reported in one line, without a traceback.

        pytest's default report formats the traceback (parsing each frame's source) before
        anyone could replace it: ~150 ms per item, which a dead server multiplies by
        thousands of samples.
        """
        if call.excinfo is None or not call.excinfo.errisinstance((SampleMiss, ModelFailure)):
            return None
        sections = [
            (f"Captured {key} {when}", content)
            for when, key, content in getattr(item, "_report_sections", [])
        ]
        return pytest.TestReport(
            item.nodeid,
            item.location,
            {k: 1 for k in item.keywords},
            "failed",
            str(call.excinfo.value),
            cast(Literal["setup", "call", "teardown"], call.when),
            sections,
            call.duration,
            call.start,
            call.stop,
            item.user_properties,
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.is_worker or not report.failed:
            return
        if report.nodeid == NO_MODEL_NODEID:
            raise pytest.UsageError(NO_MODEL)
        self.collect_errors += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        self.crashed += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker or report.nodeid.startswith(GATE_PREFIX):
            return
        row = getattr(report, "llmeval", None)
        if report.failed:
            if row is None:
                self.other_failures.add(report.nodeid)
            elif row.get("miss"):
                self.misses[row["task"]] += 1
            elif row.get("error_kind") == "model":
                self.errors[row["task"]] += 1
            else:
                self.other_failures.add(report.nodeid)
        if row is not None:
            self._add_row(row)

    def _add_row(self, row: dict[str, Any]) -> None:
        self.config.hook.pytest_llmeval_result(config=self.config, row=row)
        info = self.suite_info.setdefault(
            row["task"],
            {"size": row["suite_size"], "thresholds": row["thresholds"], "dataset": row["dataset"]},
        )
        info["size"] = max(info["size"], row["suite_size"])
        self.rows.append({k: row.get(k) for k in AGGREGATED})
        self._buffer.append(row)
        if len(self._buffer) >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        if self.store is None:
            self.store = Store(self.options.db_path)
            self.store.sweep_stale(self._host())
            self.store.create_run(
                new_run_row(
                    self.run_id,
                    started_at=self.started_at,
                    model=self._model_spec(),
                    params=self._run_params(),
                    plugin_version=__version__,
                    **_git_info(self.config.rootpath),
                )
            )
        rows, self._buffer = self._buffer, []
        self.store.add_results(self.run_id, rows)
        self.store.put_cache(
            [
                {
                    "key": r["cache_key"],
                    "model": self._model_spec(),
                    "latency_ms": r["latency_ms"],
                    "run_id": self.run_id,
                    "response": {
                        "text": r["output"],
                        "finish_reason": r["finish_reason"],
                        "prompt_tokens": r["prompt_tokens"],
                        "completion_tokens": r["completion_tokens"],
                        "model": r.get("response_model"),
                    },
                }
                for r in rows
                if r.get("cache_key") and not r.get("cached") and not r.get("error")
            ]
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before `yield`: junitxml, json-report and the terminal's final line run after us
        # and see the gate's exit status and synthetic gate reports.
        if self._engine is not None:
            self._engine.close()  # cancels what -x or Ctrl-C left queued or running
        if not self.is_worker and self.rows:
            self._finish(session)
        return (yield)

    def _finish(self, session: pytest.Session) -> None:
        self._flush()
        metrics = aggregate.summarize(self.rows)
        values = aggregate.values(metrics)
        layers = self._thresholds()
        verdicts = th.evaluate(layers.values(), values)
        gated = {t.task for t in layers.values()}
        status, partial = self._status(session)
        exitstatus = int(session.exitstatus)
        if (
            exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
            and status != "interrupted"
        ):
            ungated = any(self.misses[t] or self.errors[t] for t in values if t not in gated)
            strict = self.options.strict and sum(self.misses.values()) > 0
            gate_failed = any(not v.passed for v in verdicts)
            failed = (
                bool(self.other_failures)
                or self.collect_errors > 0
                or ungated
                or strict
                or gate_failed
            )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
            for v in verdicts:
                if not v.passed:
                    self._gate_report(v)
        self.result = {
            "run_id": self.run_id,
            "status": status,
            "partial": partial,
            "db": str(self.options.db_path),
            "model": self._model_spec(),
            "metrics": metrics,
            "verdicts": [v.as_dict() for v in verdicts],
            "gated": sorted(gated & set(values)),
            "misses": dict(self.misses),
            "errors": dict(self.errors),
            "suites": self.suite_info,
            "exitstatus": int(session.exitstatus),
            "engine": self._engine.summary() if self._engine is not None else None,
        }
        self.config.hook.pytest_llmeval_summary(config=self.config, summary=self.result)
        assert self.store is not None
        self.store.save_metrics(self.run_id, aggregate.rows_for_storage(metrics))
        self.store.update_run(
            self.run_id,
            status=status,
            partial=int(partial),
            finished_at=utcnow(),
            exitstatus=int(session.exitstatus),
            metrics=metrics,
            verdicts=self.result["verdicts"],
            datasets=self._dataset_hashes(),
        )

    def _thresholds(self) -> dict[tuple[str, str], th.Threshold]:
        """Suite defaults, overridden by the project's (pyproject, ini, CLI); a gated task
        also gets ``error_rate <= 0`` unless it says otherwise."""
        suite_layer = [
            th.Threshold.parse(task, metric, spec, info.get("source", task))
            for task, info in self.suite_info.items()
            for metric, spec in info["thresholds"].items()
        ]
        merged = th.merge(suite_layer, self.options.thresholds)
        for task in {t for t, _ in merged}:
            merged.setdefault(
                (task, "error_rate"), th.Threshold(task, "error_rate", "<=", 0.0, "default")
            )
        return merged

    def _status(self, session: pytest.Session) -> tuple[str, bool]:
        counts = Counter(r["task"] for r in self.rows)
        partial = (
            any(counts[t] < info["size"] for t, info in self.suite_info.items())
            or self.options.limit is not None
        )
        if self.collect_errors or self.crashed or session.shouldfail or session.shouldstop:
            return "incomplete", True
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:
            return "interrupted", True
        return "complete", partial

    def _gate_report(self, verdict: th.Verdict) -> None:
        t = verdict.threshold
        nodeid = f"{GATE_PREFIX}[{t.task}.{t.metric}]"
        value = "missing" if verdict.value is None else f"{verdict.value:.4g}"
        message = f"[{t.task}] {t.metric} {value} does not meet {t} ({t.source})" + (
            f": {verdict.note}" if verdict.note else ""
        )
        failed = pytest.TestReport(
            nodeid=nodeid,
            location=("llmeval", None, nodeid),
            keywords={},
            outcome="failed",
            longrepr=message,
            when="call",
        )
        # junitxml closes a test case on its teardown report, so send one.
        done = pytest.TestReport(
            nodeid=nodeid,
            location=("llmeval", None, nodeid),
            keywords={},
            outcome="passed",
            longrepr=None,
            when="teardown",
        )
        for report in (failed, done):
            self.config.hook.pytest_runtest_logreport(report=report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is None:
            return
        for line in summary.render(self.result):
            terminalreporter.write_line(line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        if self.result is not None:
            json_report["llmeval"] = self.result

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.options.model is None:
            return [f"llmeval: no model configured, run {self.run_id}"]
        m = self.options.model
        where = f" at {m.base_url}" if m.base_url else ""
        return [f"llmeval: model {m.spec}{where}, run {self.run_id}, db {self.options.db_path}"]

    # -- helpers ---------------------------------------------------------------------------
    def _model_spec(self) -> str | None:
        return self.options.model.spec if self.options.model else None

    def _run_params(self) -> dict[str, Any]:
        m = self.options.model
        return {
            "base_url": m.base_url if m else None,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "limit": self.options.limit,
            "seed": self.options.seed,
            "strict": self.options.strict,
        }

    def _dataset_hashes(self) -> dict[str, str]:
        out = {}
        for info in self.suite_info.values():
            path = Path(info["dataset"])
            path = path if path.is_absolute() else self.config.rootpath / path
            if path.is_file():
                out[info["dataset"]] = file_hash(path)
        return out

    @staticmethod
    def _host() -> str:
        import socket

        return socket.gethostname()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self._broker is not None:
            self._broker.close()
        if self.store is not None:
            self.store.close()


def _git_info(root: Path) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"git_commit": commit.stdout.strip(), "git_dirty": int(bool(dirty.stdout.strip()))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
