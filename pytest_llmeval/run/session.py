"""EvalSession: one run, from the first item to the verdict. Hooks only; the work is done by
the Runner (every process), the Recorder (the controller) and the gate (pure).

Registered as a plugin in ``pytest_configure``. In every process the runner produces
completions and scores and puts each sample's result on its test report; only the controller
(or the single process) records results, asks the gate for the verdict and prints the
summary.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from pytest_llmeval import gate
from pytest_llmeval.export import summary
from pytest_llmeval.export.comparison import to_markdown
from pytest_llmeval.export.outputs import Outputs
from pytest_llmeval.gate import aggregate
from pytest_llmeval.gate import thresholds as th
from pytest_llmeval.gate.baseline import REGRESSION, Comparison, compare
from pytest_llmeval.models import SpecError
from pytest_llmeval.models.base import Completion
from pytest_llmeval.result import TEST, SampleResult
from pytest_llmeval.run import previous
from pytest_llmeval.run.options import Options, check_models
from pytest_llmeval.run.outcomes import EvalError, ModelFailure, SampleMiss, SampleUnsent
from pytest_llmeval.run.recorder import Recorder
from pytest_llmeval.run.runner import (
    NO_MODEL,
    Runner,
    case_key,
    completion_key,
    result_key,
    tries_key,
)
from pytest_llmeval.store.results import Results, Run
from pytest_llmeval.store.storage import new_run_id
from pytest_llmeval.suite import Suite
from pytest_llmeval.untrusted import printable

__all__ = [
    "EvalSession",
    "ModelFailure",
    "SampleMiss",
    "case_key",
    "completion_key",
    "result_key",
    "session_key",
]

session_key = pytest.StashKey["EvalSession"]()
options_key = pytest.StashKey[Options]()  # read at configure: cheap, no model checks
suites_key = pytest.StashKey[dict[str, Suite]]()  # every suite collected, before deselection

GATE_PREFIX = "llmeval::gate"


class EvalSession:
    """Owns the run: wires pytest's hooks to the runner, the recorder and the gate."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.notes: list[str] = []
        self.result: dict[str, Any] | None = None
        self.output_lines: list[str] = []
        resumed = None if self.is_worker else previous.resumed_run(config, options)
        self.run_id = resumed.id if resumed else new_run_id()
        self.runner = Runner(config, options)
        self.recorder = Recorder(config.rootpath, options, self.run_id, resume=bool(resumed))
        self.outputs = (
            None
            if self.is_worker
            else Outputs(
                options.outputs,
                options.model.spec if options.model else None,
                options.judge.spec if options.judge else None,
            )
        )
        # Checked here, before any test runs: a bad baseline is a usage error (exit 4) that
        # leaves no trace in the database.
        self.baseline: Run | None = None
        if not self.is_worker:
            self.baseline, note = previous.baseline_run(config, options)
            self.notes += [note] if note else []
        if not self.is_worker:
            self.runner.answer_sink = self.recorder.answer
            if resumed:
                self.runner.replay, self.runner.replay_judge = self.recorder.load_previous()
                self.notes.append(
                    f"resuming run {resumed.id} ({resumed.status}): "
                    f"{len(self.recorder.previous)} samples already scored are not sent again"
                )

    @classmethod
    def activate(cls, config: pytest.Config) -> EvalSession:
        """Switch the run on: eval items were collected (here, or by an xdist worker).
        What a session without evals never pays for starts now: the model checks, the
        baseline and resume lookups, the run row, the engine and broker."""
        found = config.stash.get(session_key, None)
        if found is not None:
            return found
        options = config.stash[options_key]
        try:
            check_models(options, config)
        except SpecError as exc:
            raise pytest.UsageError(str(exc)) from None
        session = cls(config, options)
        config.stash[session_key] = session
        config.pluginmanager.register(session, "llmeval-session")
        meet = getattr(config, "workerinput", {}).get("llmeval_rendezvous")
        controller_meet = rendezvous_key_of(config)
        if meet is not None:  # tell the controller: this worker has eval items
            (Path(meet) / f"evals-{config.workerinput['workerid']}").touch()  # type: ignore[attr-defined]
        elif controller_meet is not None and options.model is not None:
            # the xdist controller: serve the workers its engine; the run starts now
            session.runner.serve_workers(controller_meet)
            session.recorder.start()
        if not session.is_worker:
            session._announce()
        return session

    def _announce(self) -> None:
        """The run's one header line, once it is known to have eval items."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for line in self.header_lines():
            reporter.write_line(line)

    # -- xdist ---------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        found = getattr(node, "workeroutput", {}).get("llmeval_contamination")
        if found:
            self.runner.contamination.update(found)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        self.recorder.crashed += 1

    # -- collection ----------------------------------------------------------------------
    @property
    def suites(self) -> dict[str, Suite]:
        """Every suite collected in this process, before deselection."""
        return self.config.stash.get(suites_key, {})

    def check_collected(self, items: list[pytest.Item]) -> None:
        """What the selected items need (a model, a judge), and that every threshold and
        margin names something that exists: usage errors before any request."""
        if self.config.getoption("collectonly"):
            return
        problem = self._missing_model(items) or self._missing_price()
        if problem is None and self.suites:
            problem = self._unknown_names()
        if problem is not None:
            raise pytest.UsageError(problem)

    def _unknown_names(self) -> str | None:
        """A threshold or margin naming a suite or metric that cannot exist is a usage
        error now, before any request: the gate must never pass what it did not check."""
        errors, notes = unknown_names(self.suites, self.options)
        if not self.is_worker:
            self.notes += [n for n in notes if n not in self.notes]
        return errors[0] if errors else None

    def _missing_price(self) -> str | None:
        """A budget in USD is enforced from prices: a model without one cannot be held to it."""
        o = self.options
        if o.budget_usd is None:
            return None
        for settings in (o.model, o.judge):
            if settings is not None and o.prices.for_spec(settings.spec) is None:
                return (
                    f"pytest-llmeval: --llmeval-budget {o.budget_usd:g} needs a price for "
                    f"{settings.spec}: add it to [tool.llmeval.prices] in pyproject.toml (or a "
                    "--llmeval-prices file), or use --llmeval-token-budget N"
                )
        return None

    def _missing_model(self, items: list[pytest.Item]) -> str | None:
        if self.options.model is None:
            return NO_MODEL
        if self.options.judge is None:
            judged = sorted(
                {
                    i.stash[case_key].suite.name
                    for i in items
                    if case_key in i.stash and i.stash[case_key].needs_judge
                }
            )
            if judged:
                return (
                    f"pytest-llmeval: suite {', '.join(judged)} is graded by a judge (a rubric): pass "
                    "--judge-model SPEC (and --judge-base-url for an OpenAI-compatible "
                    "server), or set llmeval_judge_model in ini"
                )
        return None

    # -- running items ---------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Write the run row, then plan every selected item's request (-k/-m/--lf have
        already deselected)."""
        if self.config.getoption("collectonly") or self.options.model is None:
            return
        if not self.is_worker and any(case_key in i.stash for i in session.items):
            self.recorder.start()
        self.runner.plan(session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """Score a marked test after its body: a miss fails the item."""
        if not isinstance(item, pytest.Function) or case_key not in item.stash:
            return (yield)
        if len(item.stash[case_key].tries) > 1:
            return (yield)  # pytest_pyfunc_call runs and scores each try
        try:
            result = yield
        except BaseException:
            self.runner.score_item(item)  # still record what the model said
            raise
        miss = self.runner.score_item(item)
        if miss is not None:
            raise miss
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """A marked test with repeats: its body runs once per try, each with that try's
        completion (the ``completion`` argument), and the tries decide the outcome."""
        case = pyfuncitem.stash.get(case_key, None)
        if case is None or len(case.tries) == 1:
            return None
        params = inspect.signature(pyfuncitem.obj).parameters
        args = {name: pyfuncitem.funcargs[name] for name in params if name in pyfuncitem.funcargs}

        def body(comp: Completion) -> None:
            if "completion" in args:
                args["completion"] = comp
            pyfuncitem.obj(**args)

        self.runner.run_tries(pyfuncitem, body)
        return True

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
    def pytest_runtest_makereport_one_line(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> pytest.TestReport | None:
        """A miss or an eval error is reported in one line, without a traceback.

        pytest's default report formats the traceback (parsing each frame's source) before
        anyone could replace it: ~150 ms per item, which a dead server multiplies by
        thousands of samples.
        """
        if call.excinfo is None or not call.excinfo.errisinstance(
            (SampleMiss, EvalError, SampleUnsent)
        ):
            return None
        # pytest has no public reader of an item's captured output sections (its own
        # TestReport.from_item_and_call reads this same private list), and calling that
        # would format the traceback we mean to skip.
        sections = [
            (f"Captured {key} {when}", content)
            for when, key, content in getattr(item, "_report_sections", [])
        ]
        when = cast(Literal["setup", "call", "teardown"], call.when)
        # made of escaped parts already (summary.miss_message, the runner's errors): this
        # only guards what -v, -rA, JUnit and json-report show against a part that was not
        message = printable(str(call.excinfo.value), block=True)
        outcome: Literal["failed", "skipped"] = "failed"
        longrepr: Any = message
        unsent = call.excinfo.errisinstance(SampleUnsent)
        if unsent:  # not sent (the budget): not run, so a skip, with why
            outcome = "skipped"
            path, lineno, _ = item.location
            longrepr = (str(path), (lineno or 0) + 1, f"unsent: {message}")
        elif self._miss_is_statistics(item, call):
            # A miss in a gated suite is no failure: every report (JUnit, json-report, the
            # CI test reporters that read them) must agree with the exit code. Skipped is
            # the one outcome they show as neither passed nor failed; it carries the miss
            # as its reason, and pytest_report_teststatus still names it "missed".
            outcome = "skipped"
            path, lineno, _ = item.location
            longrepr = (str(path), (lineno or 0) + 1, f"missed: {message}")
        report = pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords={k: 1 for k in item.keywords},
            outcome=outcome,
            longrepr=longrepr,
            when=when,
            sections=sections,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
            user_properties=item.user_properties,
        )
        if unsent:
            report.llmeval_unsent = True  # type: ignore[attr-defined]
        return report

    def _miss_is_statistics(self, item: pytest.Item, call: pytest.CallInfo[None]) -> bool:
        if self.options.strict or call.excinfo is None:
            return False
        if not call.excinfo.errisinstance(SampleMiss):
            return False
        result = self.runner.final_result(item)
        return result is not None and result.gated

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Put the item's result on the report of the phase that decided its outcome."""
        report = yield
        # only the call phase, or a failed setup, carries the result (checked first: this
        # runs for every phase of every item)
        if call.when == "teardown" or (call.when == "setup" and report.passed):
            return report
        missed = bool(call.excinfo and call.excinfo.errisinstance(SampleMiss))
        if report.skipped and not missed:  # a real skip (a miss reports as skipped too)
            return report
        result = self.runner.final_result(item)
        if result is None:
            return report
        if call.when == "setup" and report.failed:
            if not result.error:
                why = printable(str(call.excinfo.value if call.excinfo else "setup failed"))
                result = result.with_(error=why[:2000], error_kind=TEST)
        elif call.when != "call":
            return report
        result = result.with_(miss=missed)
        # Only JSON primitives survive xdist's transport: a result rides as a plain dict.
        report.llmeval = result.as_dict()  # type: ignore[attr-defined]
        tries = item.stash.get(tries_key, None)
        if tries is not None:  # repeats: the rows are the tries; `llmeval` is their verdict
            report.llmeval_tries = [t.as_dict() for t in tries]  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str | tuple[str, dict[str, bool]]] | None:
        """Say the eval's truth in pytest's vocabulary: a miss in a gated suite is its own
        outcome (``m``, ``N missed``, no traceback), and a sample that could not be
        evaluated in the call phase (a scorer that raised) is an error, not a failure."""
        if getattr(report, "llmeval_unsent", False):
            return "unsent", "u", ("UNSENT", {"yellow": True})
        if report.when != "call" or report.passed:
            return None
        result = _result_of(report)
        if result is None:
            return None
        if result.eval_error and report.failed:
            return "error", "E", "ERROR"
        if self._shown_as_missed(result):
            return "missed", "m", ("MISSED", {"yellow": True})
        return None

    def _shown_as_missed(self, result: SampleResult) -> bool:
        return result.miss and result.gated and not self.options.strict

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker or report.nodeid.startswith(GATE_PREFIX):
            return
        if getattr(report, "llmeval_unsent", False):
            self.recorder.unsent += 1
            return
        result = _result_of(report)
        missed = result is not None and report.when == "call" and self._shown_as_missed(result)
        if report.failed or missed:
            self.recorder.failed(report.nodeid, result)
        if missed and result is not None:
            # shown in the summary: a miss that is no failure has no FAILURES entry
            text = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            self.recorder.missed(result.task, report.nodeid, str(text).removeprefix("missed: "))
        if result is None:
            return
        for row in _tries_of(report) or [result]:
            changed = self.config.hook.pytest_llmeval_result(config=self.config, result=row)
            row = changed if changed is not None else row
            self.recorder.add(row)
            if self.outputs is not None:
                self.outputs.sample(row)

    @pytest.hookimpl(trylast=True, specname="pytest_runtest_logreport")
    def pytest_runtest_logreport_lastfailed(self, report: pytest.TestReport) -> None:
        """``--lf`` reruns misses: pytest's last-failed plugin forgets a report that is not
        failed (a miss reports as skipped, see above), so it is put back, after it ran."""
        if self.is_worker or report.when != "call" or not report.skipped:
            return
        result = _result_of(report)
        if result is None or not self._shown_as_missed(result):
            return
        lf = self.config.pluginmanager.get_plugin("lfplugin")
        lastfailed = getattr(lf, "lastfailed", None)
        if isinstance(lastfailed, dict):
            lastfailed[report.nodeid] = True

    # -- the end -------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before `yield`: junitxml, json-report and the terminal's final line run after us
        # and see the gate's exit status and synthetic gate reports.
        engine = self.runner.started_engine
        engine_summary = None
        if engine is not None:
            engine.close()  # cancels what -x or Ctrl-C left queued or running
            engine_summary = engine.summary()
        if not self.is_worker and self.recorder.started:
            self._finish(session, engine_summary)
        return (yield)

    def _finish(self, session: pytest.Session, engine: dict[str, Any] | None) -> None:
        rec = self.recorder
        stop = rec.stop or (engine or {}).get("stopped")
        if stop is not None and engine and engine.get("stopped"):
            stop = {**stop, "since": engine["stopped"].get("since")}
        status = int(session.exitstatus)
        interrupted = status == pytest.ExitCode.INTERRUPTED and stop is None
        metrics = rec.metrics(self.runner.contamination)
        rows = rec.all_rows()
        comparison = None
        if self.baseline is not None and stop is None and not interrupted:
            comparison = self._compare(rows)
        facts = gate.Facts(
            exitstatus=status,
            interrupted=interrupted,
            stopped_early=bool(session.shouldfail or (session.shouldstop and stop is None)),
            collect_errors=_collect_errors(self.config),
            crashed=rec.crashed,
            other_failures=len(rec.other_failures),
            samples=len(rows),
            planned=rec.planned(),
            errors=dict(rec.errors),
            budget_errors=rec.budget_errors,
            rejected=rec.rejected,
            misses=dict(rec.misses),
            stop=stop,
            error_reason=rec.error_reasons.most_common(1)[0][0] if rec.error_reasons else None,
            errors_since=rec.first_error_at,
            max_error_rate=self.options.max_error_rate,
            strict=self.options.strict,
            partial=rec.partial(),
            selections=rec.selections(),
            shard="{}/{}".format(*self.options.shard) if self.options.shard else None,
            unsent=rec.unsent,
            budget=(engine or {}).get("budget"),
        )
        findings = gate.evaluate(
            facts,
            [
                th.Threshold.parse(task, metric, spec, task)
                for task, info in rec.suite_info.items()
                for metric, spec in info["thresholds"].items()
            ],
            self.options.thresholds,
            rows,
            metrics,
            comparison,
            self.options.fail_underpowered,
        )
        decision, verdicts, unchecked = findings.decision, findings.verdicts, findings.unchecked
        info = findings.informational
        requests = self.runner.request_reports()  # what was sent, and what the server refused
        self.notes += [n for r in requests.values() for n in r.get("notes", ())]
        self.result = {
            "run_id": self.run_id,
            "status": decision.status,
            "partial": decision.partial,
            "verdict": decision.verdict,
            "reason": decision.reason,
            "db": str(self.options.db_path),
            "model": rec.model_spec,
            "metrics": metrics,
            "verdicts": [{**v.as_dict(), "info": v in info} for v in verdicts],
            "selections": {t: list(n) for t, n in facts.selections.items()},
            "shard": facts.shard,
            "gated": sorted(findings.gated),
            "misses": dict(rec.misses),
            "errors": dict(rec.errors),
            "suites": rec.suite_info,
            "exitstatus": decision.exitstatus,
            "engine": engine,
            "baseline": comparison.as_dict() if comparison is not None else None,
            "contamination": self.runner.contamination,
            "notes": list(self.notes),
            "requests": requests,
            "miss_details": self._shown_misses(),
            "cost": self._cost(metrics),
        }
        rec.save(self.result)
        if decision.exitstatus != status:
            session.exitstatus = decision.exitstatus
        if decision.verdict in (gate.PASSED, gate.FAILED):
            failures = [
                self._gate_failure(v)
                for v in verdicts
                if not v.passed and v not in unchecked and v not in info
            ]
            base = comparison.baseline_label if comparison else ""
            failures += [
                (
                    f"{GATE_PREFIX}[baseline:{task}.{m.metric}]",
                    f"[{task}] {m.metric} regressed against baseline {base}: "
                    f"{summary.fmt(m.baseline)} -> {summary.fmt(m.candidate)} "
                    f"(p={m.p_value:.3g}, margin {m.margin:g})",
                )
                for task, m in (comparison.with_verdict(REGRESSION) if comparison else ())
            ]
            # the gate's items count as collected, so the progress never passes 100%
            session.testscollected += len(failures)
            for nodeid, message in failures:
                self._failed_report(nodeid, message)
        if comparison is not None and self.options.compare_md is not None:
            self.options.compare_md.parent.mkdir(parents=True, exist_ok=True)
            self.options.compare_md.write_text(to_markdown(comparison), encoding="utf-8")
            self.output_lines.append(
                f"llmeval: wrote the baseline comparison (Markdown) {self.options.compare_md}"
            )
        self.config.hook.pytest_llmeval_summary(config=self.config, summary=self.result)
        if self.outputs is not None:
            self.output_lines += self.outputs.finish(self.result, self.options.db_path, self.run_id)

    def _compare(self, rows: list[SampleResult]) -> Comparison:
        """Pair this run's samples with the baseline's. For ``latest``, prefer the newest
        qualifying run that covers every suite of this one."""
        assert self.baseline is not None
        base = self.baseline
        tasks = set(self.recorder.suite_info)
        with Results(self.options.db_path) as results:
            if self.options.baseline == "latest" and not tasks <= set(base.suites):
                for run in results.runs(limit=50, model=base.model, status="complete"):
                    if not run.partial and not run.n_errors and tasks <= set(run.suites):
                        if run.id != base.id:
                            self.notes.append(
                                f"baseline {base.id} lacks suite(s) "
                                f"{', '.join(sorted(tasks - set(base.suites)))}: compared "
                                f"with {run.id} instead"
                            )
                        base = run
                        break
            baseline_rows = results.samples(base.id)
        return compare(
            baseline_rows,
            rows,
            self.options.margins,
            self.options.alpha,
            baseline_label=base.id,
            candidate_label=self.run_id,
            baseline_model=base.model,
            candidate_model=self.model_spec,
        )

    def _cost(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The run's tokens and, where the models have prices, what they cost."""
        overall = [slices.get("", {}) for slices in metrics.values()]

        def total(name: str) -> float:
            return sum(float((m.get(name) or {}).get("value") or 0.0) for m in overall)

        specs = [s.spec for s in (self.options.model, self.options.judge) if s is not None]
        unpriced = [s for s in specs if self.options.prices.for_spec(s) is None]
        return {
            "usd": total("cost_usd_total") if any("cost_usd_total" in m for m in overall) else None,
            "prompt_tokens": int(total("prompt_tokens_total") + total("judge_prompt_tokens_total")),
            "completion_tokens": int(
                total("completion_tokens_total") + total("judge_completion_tokens_total")
            ),
            "unpriced": unpriced,
        }

    def _shown_misses(self) -> list[str]:
        limit = self.options.show_misses
        shown: dict[str, int] = {}
        out = []
        for task, _nodeid, message in self.recorder.miss_messages:
            if limit is not None and shown.get(task, 0) >= limit:
                continue
            shown[task] = shown.get(task, 0) + 1
            out.append(message)
        return out

    def _gate_failure(self, verdict: th.Verdict) -> tuple[str, str]:
        t = verdict.threshold
        value = summary.fmt_value(verdict.value)
        message = f"[{t.task}] {t.metric} {value} does not meet {t} ({t.source})" + (
            f": {verdict.note}" if verdict.note else ""
        )
        return f"{GATE_PREFIX}[{t.task}.{t.metric}]", message

    def _failed_report(self, nodeid: str, message: str) -> None:
        """A failed gate as a failed item, so JUnit, json-report and the last line agree
        with the exit code."""
        location = ("llmeval", None, nodeid)
        failed = pytest.TestReport(
            nodeid=nodeid, location=location, keywords={}, outcome="failed", longrepr=message,
            when="call",
        )  # fmt: skip
        # junitxml closes a test case on its teardown report, so send one.
        done = pytest.TestReport(
            nodeid=nodeid, location=location, keywords={}, outcome="passed", longrepr=None,
            when="teardown",
        )  # fmt: skip
        for report in (failed, done):
            self.config.hook.pytest_runtest_logreport(report=report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.result is not None:
            terminalreporter.section("llmeval")
            for line in [*summary.render(self.result), *self.output_lines]:
                terminalreporter.write_line(line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        if self.result is not None:
            json_report["llmeval"] = self.result

    def header_lines(self) -> list[str]:
        m = self.options.model
        if m is None:
            return [f"llmeval: no model configured, run {self.run_id}"]
        if self.options.default_model:
            lines = [
                f"llmeval: no --model given: running the bundled {m.spec} (a few MB, CPU, "
                "offline; a smoke test, not a quality bar); evaluate a real model with "
                "--model gpt-4o-mini, --model openai/NAME --llmeval-base-url URL or "
                f"--model hf/PATH. run {self.run_id}, db {self.options.db_path}"
            ]
        else:
            where = f" at {m.base_url}" if m.base_url else ""
            lines = [
                f"llmeval: model {m.spec}{where}, run {self.run_id}, db {self.options.db_path}"
            ]
        from pytest_llmeval.suite.model import NOTES

        self.notes += [n for n in NOTES if n not in self.notes]
        return lines + [f"llmeval: {note}" for note in self.notes]

    @property
    def model_spec(self) -> str | None:
        return self.options.model.spec if self.options.model else None

    def close(self) -> None:
        self.runner.close()
        self.recorder.close()


def producible(suite: Suite, options: Options) -> frozenset[str] | None:
    """The metrics a suite can produce; with repeats, also pass@k, pass^k and flip_rate."""
    names = suite.metrics()
    k = options.repeats_for(suite.repeats)
    if names is None or k == 1:
        return names
    ks = aggregate.pass_ks(k)
    return names | {"flip_rate"} | {f"pass{c}{j}" for j in ks for c in "@^"}


def unknown_names(suites: dict[str, Suite], options: Options) -> tuple[list[str], list[str]]:
    """Thresholds and margins naming a suite or metric that cannot exist: (errors, notes).
    Checked once suites are collected, ``--co`` included, before any request."""
    if not suites:
        return [], []
    spec = options.model.spec if options.model else None
    by_name = {name: producible(suite, options) for name, suite in suites.items()}
    own = [t for s in suites.values() for t in s.thresholds_for(spec)]
    return gate.check_names([*own, *options.thresholds], options.margins, by_name)


def _collect_errors(config: pytest.Config) -> int:
    """Collection errors of this session, however collected (here or by xdist workers)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    errors = getattr(reporter, "stats", {}).get("error", [])
    return sum(1 for r in errors if isinstance(r, pytest.CollectReport))


def rendezvous_key_of(config: pytest.Config) -> Path | None:
    from pytest_llmeval.run.collect import rendezvous_key

    return config.stash.get(rendezvous_key, None)


_last_read: list[Any] = [None, None]  # (report, its result): read twice per report


def _result_of(report: pytest.TestReport) -> SampleResult | None:
    if _last_read[0] is report:
        return cast(SampleResult | None, _last_read[1])
    data = getattr(report, "llmeval", None)
    result = None if data is None else SampleResult.from_dict(data)
    _last_read[:] = [report, result]
    return result


def _tries_of(report: pytest.TestReport) -> list[SampleResult]:
    return [SampleResult.from_dict(d) for d in getattr(report, "llmeval_tries", None) or ()]


def _host() -> str:
    import socket

    return socket.gethostname()
