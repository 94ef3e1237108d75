"""Suites -> pytest items, for both styles, through one loader.

* ``evals/eval_*.yaml`` files become an ``EvalFile`` with one ``EvalItem`` per sample
  (node id ``evals/eval_qa.yaml::qa-0042``).
* ``@pytest.mark.llmeval(dataset=..., task=...)`` on a test that takes ``sample``
  parametrizes it with one ``Case`` per sample (node id ``test_qa[qa-0042]``).

Either way the item carries its ``Case`` in ``item.stash[case_key]`` and the session runs,
scores and records it the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.run.outcomes import EvalError, SampleMiss
from pytest_llmeval.run.runner import case_key
from pytest_llmeval.run.session import session_key
from pytest_llmeval.suite import Case, Suite, build_suite, load_suite_file


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    session = parent.config.stash.get(session_key, None)
    if session is None or not fnmatch.fnmatch(file_path.name, session.options.suite_glob):
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
    metafunc.parametrize("sample", cases, ids=[c.sample.id for c in cases], indirect=True)


def _cases(config: pytest.Config, suite: Suite) -> list[Case]:
    session = config.stash[session_key]
    session.suite_collected(suite)
    options = session.options
    try:
        samples = suite.samples(options.limit, options.seed)
    except DatasetError as exc:
        raise pytest.Collector.CollectError(str(exc)) from None
    return [Case(suite, s, len(samples)) for s in samples]


class EvalFile(pytest.File):
    """A declarative suite file."""

    def collect(self) -> Iterator[EvalItem]:
        try:
            suite = load_suite_file(self.path, self.config.rootpath)
        except DatasetError as exc:
            raise self.CollectError(str(exc)) from None
        cases = _cases(self.config, suite)
        # One MarkDecorator per file: building one per item is measurably slow at 100k items.
        mark = pytest.mark.llmeval(task=suite.name)
        for case in cases:
            item = EvalItem.from_parent(self, name=case.sample.id, case=case)
            item.add_marker(mark)
            item.extra_keyword_matches.add(suite.name)
            yield item


class EvalItem(pytest.Item):
    """One sample of a declarative suite: generate in setup, score in the call."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stash[case_key] = case

    def setup(self) -> None:
        self.config.stash[session_key].runner.completion_for(self)

    def runtest(self) -> None:
        miss = self.config.stash[session_key].runner.score_item(self)
        if miss is not None:
            raise miss

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SampleMiss | EvalError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        case = self.stash[case_key]
        return case.suite.dataset, case.sample.line - 1, f"{case.suite.name}::{case.sample.id}"
