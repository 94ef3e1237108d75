"""Suites -> pytest items, for both styles, through one loader.

* ``evals/eval_*.yaml`` files become an ``EvalFile`` with one ``EvalItem`` per sample
  (node id ``evals/eval_qa.yaml::qa-0042``).
* ``@pytest.mark.llmeval(dataset=..., task=...)`` on a test that takes ``sample``
  parametrizes it with one ``Case`` per sample (node id ``test_qa[qa-0042]``).

Either way the item carries its ``Case`` in ``item.stash[case_key]`` and the session runs,
scores and records it the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import gc
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.run.outcomes import EvalError, SampleMiss
from pytest_llmeval.run.runner import case_key
from pytest_llmeval.run.session import (
    EvalSession,
    options_key,
    session_key,
    suites_key,
    unknown_names,
)
from pytest_llmeval.suite import Case, Suite, build_suite, load_suite_file

rendezvous_key = pytest.StashKey[Path]()
USAGE_NODEID = "llmeval::usage-error"
# Suites at least this large have their samples, cases and items moved out of the cyclic
# garbage collector's sight once built (gc.freeze): they live until the session ends, and
# every full collection (pytest runs two at exit) would walk them again: ~3 s of a
# 100,000-sample collection's 12.
FREEZE_AT = 1000


def _freeze_if_large(count: int) -> None:
    if count >= FREEZE_AT:
        gc.freeze()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic collection while a suite is built: it allocates hundreds of thousands of
    long-lived objects and frees none, so each collection the allocations trigger walks a
    growing heap for nothing (1.1 s of a 100,000-sample suite's 3.4 s)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    options = parent.config.stash.get(options_key, None)
    if options is None or not fnmatch.fnmatch(file_path.name, options.suite_glob):
        return None
    return EvalFile.from_parent(parent, path=file_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("llmeval")
    if marker is None or "sample" not in metafunc.fixturenames:
        return
    config = metafunc.config
    where = f"{metafunc.definition.nodeid}"
    try:
        if marker.args:
            raise DatasetError(f"{where}: llmeval marker takes keyword arguments only")
        suite = build_suite(marker.kwargs, where, config.rootpath, metafunc.definition.path.parent)
        suite = dataclasses.replace(suite, open_metrics=True)
    except DatasetError as exc:
        raise pytest.Collector.CollectError(str(exc)) from None
    cases = _cases(config, suite)
    metafunc.parametrize("sample", cases, ids=[c.item_name for c in cases], indirect=True)


def _cases(config: pytest.Config, suite: Suite) -> list[Case]:
    """One case per sample; with repeats, its K tries in one case, or one case per try
    (``--llmeval-repeat-items``: items named ``SAMPLE@rK``)."""
    config.stash.setdefault(suites_key, {})[suite.name] = suite
    options = config.stash[options_key]
    try:
        samples = suite.samples(options.limit, options.seed, options.shard)
    except DatasetError as exc:
        raise pytest.Collector.CollectError(str(exc)) from None
    k = options.repeats_for(suite.repeats)
    if k == 1:
        return [Case(suite, s, len(samples)) for s in samples]
    if options.repeat_items:
        return [Case(suite, s, len(samples), (r,), True) for s in samples for r in range(k)]
    return [Case(suite, s, len(samples), tuple(range(k))) for s in samples]


# -- switching the run on: only when eval items were collected --------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Mark each eval item with its case and its suite's name (``-k NAME``; before -k
    deselects, hence tryfirst), and switch the run on when there are any, as pytest's own
    stepwise and junitxml switch themselves on: a session without eval items never knows
    the plugin is installed (no header, thread, socket or database)."""
    evals = False
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("sample") if callspec is not None else None
        if isinstance(case, Case):
            item.stash[case_key] = case
            item.extra_keyword_matches.add(case.suite.name)
        evals = evals or case_key in item.stash
    if evals:
        _freeze_if_large(len(items))
    if evals and not config.getoption("collectonly"):
        _usage_errors_reported(config, items, lambda: EvalSession.activate(config))
    elif evals:  # --co: no run, but a name the gate could never check is still an error
        _usage_errors_reported(config, items, lambda: _check_names(config))


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_checked(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What the selected items need (a model, a judge) and whether every threshold names
    something that exists: after -k/-m/--lf have deselected."""
    session = config.stash.get(session_key, None)
    if session is not None:
        _usage_errors_reported(config, items, lambda: session.check_collected(items))
    options = config.stash.get(options_key, None)
    if options is not None and options.estimate and config.getoption("collectonly"):
        from pytest_llmeval.run.estimate import EstimateReport

        if any(case_key in i.stash for i in items):
            config.pluginmanager.register(EstimateReport(options, items), "llmeval-estimate")


def _check_names(config: pytest.Config) -> None:
    errors, _ = unknown_names(config.stash.get(suites_key, {}), config.stash[options_key])
    if errors:
        raise pytest.UsageError(errors[0])


def _usage_errors_reported(
    config: pytest.Config, items: list[pytest.Item], check: Callable[[], object]
) -> None:
    try:
        check()
    except pytest.UsageError as exc:
        if not hasattr(config, "workerinput"):
            raise
        # A UsageError on a worker crashes xdist; instead run nothing here and tell the
        # controller through a failed collect report, which it turns into exit 4.
        items.clear()
        config.hook.pytest_collectreport(
            report=pytest.CollectReport(
                nodeid=USAGE_NODEID, outcome="failed", longrepr=str(exc), result=[]
            )
        )


class _UsageRelay:
    """The xdist controller's side of a worker's usage error (trylast: on the worker,
    xdist's own hook sends the report on first). Registered only on a controller, from
    pytest_configure_node: an environment variable cannot tell a controller that itself
    runs inside an xdist worker (pytester under -n) from a worker."""

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.nodeid == USAGE_NODEID and report.failed:
            raise pytest.UsageError(str(report.longrepr))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give each worker a private directory to meet in. A worker that
    collects eval items says so there; the controller then starts its engine and broker
    and leaves their address there, before any test is scheduled."""
    config = node.config
    if rendezvous_key not in config.stash:
        config.stash[rendezvous_key] = Path(tempfile.mkdtemp(prefix="llmeval-"))
    node.workerinput["llmeval_rendezvous"] = str(config.stash[rendezvous_key])
    if not config.pluginmanager.has_plugin("llmeval-usage-relay"):
        config.pluginmanager.register(_UsageRelay(), "llmeval-usage-relay")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    config = node.config
    meet = config.stash.get(rendezvous_key, None)
    if meet is not None and (meet / f"evals-{node.gateway.id}").exists():
        EvalSession.activate(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Deal items round-robin so workers follow the engine's generation order."""
    options = config.stash.get(options_key, None)
    if config.getvalue("dist") != "load" or options is None or options.model is None:
        return None
    from pytest_llmeval.run.scheduling import InterleavedScheduling

    return InterleavedScheduling(config, log)


def forget_rendezvous(config: pytest.Config) -> None:
    meet = config.stash.get(rendezvous_key, None)
    if meet is not None:
        shutil.rmtree(meet, ignore_errors=True)


class EvalFile(pytest.File):
    """A declarative suite file."""

    def collect(self) -> list[EvalItem]:
        with _gc_paused():
            try:
                suite = load_suite_file(self.path, self.config.rootpath)
            except DatasetError as exc:
                raise self.CollectError(str(exc)) from None
            cases = _cases(self.config, suite)
            # The marker and the -k name sit on the file: items inherit both (iter_markers
            # and -k walk the node chain), instead of 100,000 copies of each.
            self.add_marker(pytest.mark.llmeval(task=suite.name))
            self.extra_keyword_matches.add(suite.name)
            items = [EvalItem.from_parent(self, name=c.item_name, case=c) for c in cases]
        _freeze_if_large(len(items))
        return items


class EvalItem(pytest.Item):
    """One sample of a declarative suite: generate in setup, score in the call."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stash[case_key] = case

    def setup(self) -> None:
        self.config.stash[session_key].runner.completion_for(self)

    def runtest(self) -> None:
        runner = self.config.stash[session_key].runner
        if len(self.stash[case_key].tries) > 1:
            runner.run_tries(self, None)
            return
        miss = runner.score_item(self)
        if miss is not None:
            raise miss

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SampleMiss | EvalError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        case = self.stash[case_key]
        # The domain is what headers name ("ERROR at setup of ..."): the sample and its
        # suite file, as the node id in the summary names them. Not the node id's own tail:
        # pytest's -v line would then read dots in it as "::" (eval_qa::yaml).
        return case.suite.dataset, case.sample.line - 1, f"{self.name} ({self.path.name})"
