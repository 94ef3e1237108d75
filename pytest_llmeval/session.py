"""EvalSession: one run, from the first item to the gate. Hooks only; the work is done by
the Runner (every process) and the Recorder (the controller).

Registered as a plugin in ``pytest_configure``. In every process the runner produces
completions and scores and puts each sample's row on its test report; only the controller
(or the single process) records rows, aggregates metrics, applies the gate and prints the
summary.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any, Literal, cast

import pytest

from pytest_llmeval import summary
from pytest_llmeval import thresholds as th
from pytest_llmeval.compare import REGRESSION
from pytest_llmeval.compare_report import to_markdown
from pytest_llmeval.options import Options
from pytest_llmeval.outcomes import ModelFailure, SampleMiss
from pytest_llmeval.outputs import Outputs
from pytest_llmeval.recorder import Outcome, Recorder
from pytest_llmeval.results import Results, check_baseline
from pytest_llmeval.runner import NO_MODEL, Runner, case_key, completion_key, row_key
from pytest_llmeval.storage import StoreError
from pytest_llmeval.suite import Case

__all__ = [
    "EvalSession",
    "ModelFailure",
    "SampleMiss",
    "case_key",
    "completion_key",
    "row_key",
    "session_key",
]

session_key = pytest.StashKey["EvalSession"]()

GATE_PREFIX = "llmeval::gate"
USAGE_NODEID = "llmeval::usage-error"


def new_run_id() -> str:
    """Sortable and unique: ``20261127T101530Z-3f9a``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class EvalSession:
    """Owns the run: wires pytest's hooks to the runner and the recorder."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.run_id: str = workerinput["llmeval_run_id"] if workerinput else new_run_id()
        self.runner = Runner(config, options)
        self.recorder = Recorder(config.rootpath, options, self.run_id)
        self.result: dict[str, Any] | None = None
        self.output_lines: list[str] = []
        self.outputs = (
            None
            if self.is_worker
            else Outputs(
                options.outputs,
                options.model.spec if options.model else None,
                options.judge.spec if options.judge else None,
            )
        )
        # Checked here, before xdist starts a worker or a test runs: a bad baseline is a
        # usage error (exit 4) that leaves no trace in the database.
        self.baseline = None if self.is_worker else self._check_baseline()

    def _check_baseline(self) -> str | None:
        ref = self.options.baseline
        if ref is None or self.config.getoption("collectonly"):
            return None
        try:
            with Results(self.options.db_path) as results:
                run = results.run(ref)
            check_baseline(run, self.config.rootpath)
        except (StoreError, LookupError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, LookupError) else str(exc)
            raise pytest.UsageError(f"--llmeval-baseline {ref}: {message}") from None
        return run.id

    # -- xdist ---------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker records into this run and uses its engine."""
        node.workerinput["llmeval_run_id"] = self.run_id
        if self.options.model is not None and not self.config.getoption("collectonly"):
            node.workerinput["llmeval_broker"] = self.runner.serve_workers()

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Deal items round-robin so workers follow the engine's generation order."""
        if config.getvalue("dist") != "load" or self.options.model is None:
            return None
        from pytest_llmeval.scheduling import InterleavedScheduling

        return InterleavedScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        found = getattr(node, "workeroutput", {}).get("llmeval_contamination")
        if found:
            self.runner.contamination.update(found)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        self.recorder.crashed += 1

    # -- collection ----------------------------------------------------------------------
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
        problem = self._missing_model(items) if has_evals else None
        if problem is None or config.getoption("collectonly"):
            return
        if not self.is_worker:
            raise pytest.UsageError(problem)
        # A UsageError on a worker crashes xdist; instead run nothing here and tell the
        # controller through a failed collect report, which it turns into exit 4.
        items.clear()
        config.hook.pytest_collectreport(
            report=pytest.CollectReport(
                nodeid=USAGE_NODEID, outcome="failed", longrepr=problem, result=[]
            )
        )

    def _missing_model(self, items: list[pytest.Item]) -> str | None:
        if self.options.model is None:
            return NO_MODEL
        if self.options.judge is None:
            judged = sorted(
                {
                    i.stash[case_key].suite.name
                    for i in items
                    if case_key in i.stash and i.stash[case_key].suite.judge
                }
            )
            if judged:
                return (
                    f"pytest-llmeval: suite {', '.join(judged)} is graded by a judge: pass "
                    "--judge-model SPEC (and --judge-base-url for an OpenAI-compatible "
                    "server), or set llmeval_judge_model in ini"
                )
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.is_worker or not report.failed:
            return
        if report.nodeid == USAGE_NODEID:
            raise pytest.UsageError(str(report.longrepr))
        self.recorder.collect_errors += 1

    # -- running items ---------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Plan every selected item's request now: -k/-m/--lf have already deselected."""
        if not self.config.getoption("collectonly") and self.options.model is not None:
            self.runner.plan(session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """Score a marked test after its body: a miss fails the item."""
        if not isinstance(item, pytest.Function) or case_key not in item.stash:
            return (yield)
        try:
            result = yield
        except BaseException:
            self.runner.score_item(item)  # still record what the model said
            raise
        miss = self.runner.score_item(item)
        if miss is not None:
            raise miss
        return result

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
        when = cast(Literal["setup", "call", "teardown"], call.when)
        return pytest.TestReport(
            item.nodeid,
            item.location,
            {k: 1 for k in item.keywords},
            "failed",
            str(call.excinfo.value),
            when,
            sections,
            call.duration,
            call.start,
            call.stop,
            item.user_properties,
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Put the item's row on the report of the phase that decided its outcome."""
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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker or report.nodeid.startswith(GATE_PREFIX):
            return
        row = getattr(report, "llmeval", None)
        if report.failed:
            self.recorder.failed(report.nodeid, row)
        if row is not None:
            self.config.hook.pytest_llmeval_result(config=self.config, row=row)
            self.recorder.add(row)
            if self.outputs is not None:
                self.outputs.sample(row)

    # -- the end -------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before `yield`: junitxml, json-report and the terminal's final line run after us
        # and see the gate's exit status and synthetic gate reports.
        engine = self.runner.started_engine
        if engine is not None:
            engine.close()  # cancels what -x or Ctrl-C left queued or running
        if not self.is_worker and self.recorder.rows:
            outcome = Outcome(
                exitstatus=int(session.exitstatus),
                interrupted=session.exitstatus == pytest.ExitCode.INTERRUPTED,
                stopped_early=bool(session.shouldfail or session.shouldstop),
            )
            self.result, verdicts, comparison, status = self.recorder.finish(
                outcome,
                engine.summary() if engine is not None else None,
                self.baseline,
                self.runner.contamination,
            )
            if status != outcome.exitstatus:
                session.exitstatus = status
            if status in (0, 1) and not outcome.interrupted:
                for verdict in verdicts:
                    if not verdict.passed:
                        self._gate_report(verdict)
                for task, m in comparison.with_verdict(REGRESSION) if comparison else ():
                    self._failed_report(
                        f"{GATE_PREFIX}[baseline:{task}.{m.metric}]",
                        f"[{task}] {m.metric} regressed against baseline {self.baseline}: "
                        f"{m.baseline:.4g} -> {m.candidate:.4g} (p={m.p_value:.3g}, "
                        f"margin {m.margin:g})",
                    )
            if comparison is not None and self.options.compare_md is not None:
                self.options.compare_md.parent.mkdir(parents=True, exist_ok=True)
                self.options.compare_md.write_text(to_markdown(comparison), encoding="utf-8")
            self.config.hook.pytest_llmeval_summary(config=self.config, summary=self.result)
            if self.outputs is not None:
                self.output_lines = self.outputs.finish(
                    self.result, self.options.db_path, self.run_id
                )
        return (yield)

    def _gate_report(self, verdict: th.Verdict) -> None:
        t = verdict.threshold
        value = "missing" if verdict.value is None else f"{verdict.value:.4g}"
        message = f"[{t.task}] {t.metric} {value} does not meet {t} ({t.source})" + (
            f": {verdict.note}" if verdict.note else ""
        )
        self._failed_report(f"{GATE_PREFIX}[{t.task}.{t.metric}]", message)

    def _failed_report(self, nodeid: str, message: str) -> None:
        """A failed gate as a failed item, so JUnit, json-report and the last line agree
        with the exit code."""
        location = ("llmeval", None, nodeid)
        failed = pytest.TestReport(nodeid, location, {}, "failed", message, "call")
        # junitxml closes a test case on its teardown report, so send one.
        done = pytest.TestReport(nodeid, location, {}, "passed", None, "teardown")
        for report in (failed, done):
            self.config.hook.pytest_runtest_logreport(report=report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is not None:
            for line in [*summary.render(self.result), *self.output_lines]:
                terminalreporter.write_line(line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        if self.result is not None:
            json_report["llmeval"] = self.result

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.options.model is None:
            return [f"llmeval: no model configured, run {self.run_id}"]
        m = self.options.model
        if self.options.default_model:
            return [
                f"llmeval: no --model given: running the bundled {m.spec} (a few MB, CPU, "
                "offline; a smoke test, not a quality bar); evaluate a real model with "
                "--model gpt-4o-mini, --model openai/NAME --llmeval-base-url URL or "
                f"--model hf/PATH. run {self.run_id}, db {self.options.db_path}"
            ]
        where = f" at {m.base_url}" if m.base_url else ""
        return [f"llmeval: model {m.spec}{where}, run {self.run_id}, db {self.options.db_path}"]

    def close(self) -> None:
        self.runner.close()
        self.recorder.close()
