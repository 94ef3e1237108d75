"""Producing one item's result, in whichever process runs the item.

The runner asks the engine for the item's completion (the controller's engine, under
xdist), runs the suite's scorers and builds the item's row: JSON primitives that ride on
the test report to the controller.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval import contamination, conversation, models
from pytest_llmeval.export import summary
from pytest_llmeval.judge import grading as judging
from pytest_llmeval.judge.scorer import VERDICT
from pytest_llmeval.models import ModelSettings, compat
from pytest_llmeval.models.base import Completion, GenerateParams, Message, Model, ModelError
from pytest_llmeval.result import (
    JUDGE,
    JUDGE_MODEL,
    MAX_TEXT,
    MODEL,
    SCORER,
    Call,
    SampleResult,
)
from pytest_llmeval.run import budget, providers
from pytest_llmeval.run.broker import Broker, RemoteEngine
from pytest_llmeval.run.budget import Budget, BudgetStop
from pytest_llmeval.run.engine import Engine, Request, request_id
from pytest_llmeval.run.options import Options
from pytest_llmeval.run.outcomes import (
    EvalError,
    JudgeFailure,
    ModelFailure,
    SampleMiss,
    SampleUnsent,
    ScorerFailure,
)
from pytest_llmeval.store import cache
from pytest_llmeval.suite import Case, Suite
from pytest_llmeval.untrusted import printable

case_key = pytest.StashKey[Case]()
result_key = pytest.StashKey[SampleResult]()
scores_key = pytest.StashKey[dict[str, dict[str, Any]]]()
completion_key = pytest.StashKey[Completion]()
repeat_key = pytest.StashKey[int]()  # the try an item with repeats is running
tries_key = pytest.StashKey[list[SampleResult]]()  # its finished tries
fixture_calls_key = pytest.StashKey[list[Completion]]()  # its `model` fixture calls
unsent_key = pytest.StashKey[str]()  # why it was not sent (the budget)
NO_MODEL = (
    "pytest-llmeval: no model configured: pass --model gpt-4o-mini (reads OPENAI_API_KEY), "
    "--model openai/NAME --llmeval-base-url http://HOST:PORT/v1 or --model hf/PATH, or set "
    "llmeval_model in ini (the bundled default model needs pip install 'pytest-llmeval[local]')"
)


class Runner:
    """Completions, scores and rows for the items of this process."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        self.workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        self._engine: Engine | RemoteEngine | None = None
        self._judge_engine: Engine | RemoteEngine | None = None
        self.broker: Broker | None = None
        self._params: dict[int, GenerateParams] = {}
        self.contamination: dict[str, dict[str, Any]] = {}  # suite name -> overlap report
        # Controller only: where each answer goes as it arrives (the recorder), and what a
        # resumed run already has (request id -> answer), served instead of asked again.
        self.answer_sink: Callable[[str, Completion], None] | None = None
        self.replay: dict[str, Completion] = {}
        self.replay_judge: dict[str, Completion] = {}
        self._items: dict[str, pytest.Item] = {}  # eval items by node id (model fixture)
        self.selected: dict[str, int] = {}  # suite -> tries selected this session
        o = options
        # one budget for the run: the model's calls and the judge's count against it
        self.budget = (
            Budget(o.budget_usd, o.budget_tokens)
            if o.budget_usd is not None or o.budget_tokens is not None
            else None
        )

    # -- the engine ------------------------------------------------------------------------
    @property
    def engine(self) -> Engine | RemoteEngine:
        if self._engine is None:
            self._engine = self._remote_engine() or self._local_engine()
        return self._engine

    @property
    def started_engine(self) -> Engine | RemoteEngine | None:
        return self._engine

    def serve_workers(self, meet: Path) -> None:
        """xdist controller: share this process's engine with the workers, leaving the
        broker's address and key in ``meet`` (a private directory) for them."""
        if self.broker is None:
            engine = self.engine
            assert isinstance(engine, Engine)
            engines = {"model": engine}
            if self.judge_engine is not None:
                judge = self.judge_engine
                assert isinstance(judge, Engine)
                engines["judge"] = judge
            unix = hasattr(socket, "AF_UNIX")
            self.broker = Broker(engines, str(meet / "broker.sock") if unix else None)
            target = meet / "broker.json"
            tmp = meet / "broker.json.tmp"
            tmp.write_text(json.dumps([self.broker.address, self.broker.authkey.hex()]))
            tmp.chmod(0o600)
            tmp.replace(target)  # a worker never reads half a file

    @property
    def judge_engine(self) -> Engine | RemoteEngine | None:
        """The judge's engine (the controller's, under xdist), if a judge is configured."""
        if self.options.judge is None:
            return None
        if self._judge_engine is None:
            model = self.engine
            if isinstance(model, RemoteEngine):
                self._judge_engine = model.sibling("judge")
            else:
                settings = self.options.judge
                identity = {**models.identity(settings), "role": "judge"}
                self._judge_engine = self._new_engine(
                    lambda: providers.build(self.config, settings, "--judge-model"),
                    lambda: identity,
                    model.concurrency,
                    settings,
                    self.replay_judge,
                )
        return self._judge_engine

    def _new_engine(
        self,
        make: Callable[[], Model],
        identity: Callable[[], dict[str, Any]] | None,
        concurrency: int,
        settings: ModelSettings,
        replay: dict[str, Completion],
    ) -> Engine:
        price = self.options.prices.for_spec(settings.spec)
        engine = Engine(
            make,
            identity=identity,
            concurrency=concurrency,
            window=self.options.window,
            cache_mode=self.options.cache,
            cache_lookup=cache.Lookup(
                self.options.db_path, self.options.cache, self.options.cache_ttl
            ),
            max_retries=settings.max_retries,
            batch_size=self.options.batch_size,
            stall_timeout=self.options.stall_timeout,
            replay=replay,
            pricer=budget.pricer(price),
            budget=self.budget,
            estimate=budget.estimator(price, settings.spec),
        )
        sink = self.answer_sink
        if sink is not None:
            engine.on_answer = lambda req, comp: sink(req.id, comp)
        return engine

    def _plan_judge(self, req: Request, comp: Completion) -> None:
        """On the model's loop, as soon as an answer exists: queue its grading."""
        judge = self.judge_engine
        if judge is None or req.follow is None:
            return
        requests = judging.inline_requests(req, comp.text, self.judge_params)
        if req.follow.payload.get("rubric") is not None:
            requests.insert(0, judging.request(req, comp.text, self.judge_params))
        judge.plan(requests)

    @property
    def judge_params(self) -> GenerateParams:
        params = judging.params(self.options.judge_max_tokens, self.options.judge_json)
        return compat.effective_params(self.options.judge, params)

    def _remote_engine(self) -> RemoteEngine | None:
        """On an xdist worker: the controller's engine, if this worker can reach it."""
        meet = self.workerinput.get("llmeval_rendezvous")
        if not meet or not Path(meet).is_dir():
            return None  # a remote gateway (--tx ssh=...): evaluate locally instead
        # the controller serves its engine as soon as the first worker has collected
        # eval items; this worker may have got here first
        broker = Path(meet) / "broker.json"
        deadline = time.monotonic() + 60
        while not broker.is_file():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        address, key = json.loads(broker.read_text())
        try:
            return RemoteEngine(address, bytes.fromhex(key))
        except OSError:
            return None

    def _local_engine(self) -> Engine:
        settings = self.require_model()
        custom = bool(self.config.hook.pytest_llmeval_make_model.get_hookimpls())
        concurrency = self.options.concurrency
        workers = self.workerinput.get("workercount")
        if workers:  # a worker on its own still keeps to its share of the quota
            concurrency = max(1, concurrency // int(workers))
        engine = self._new_engine(
            self._make_model,
            # A model from a conftest hook knows its own identity; built-in ones are
            # identified from settings, so a fully cached run never loads the model.
            None if custom else (lambda: models.identity(settings)),
            concurrency,
            settings,
            self.replay,
        )
        if self.options.judge is not None:
            engine.followers[judging.FOLLOW] = self._plan_judge
        return engine

    def _make_model(self) -> Model:
        return providers.build(self.config, self.require_model())

    @property
    def model_spec(self) -> str | None:
        return self.options.model.spec if self.options.model else None

    def require_model(self) -> ModelSettings:
        if self.options.model is None:
            raise pytest.UsageError(NO_MODEL)
        return self.options.model

    def request_reports(self) -> dict[str, dict[str, Any]]:
        """By role (model, judge): what each model was actually sent, and what its server
        made it change (this process's engines: the controller's, under xdist)."""
        out = {}
        for role, engine in (("model", self._engine), ("judge", self._judge_engine)):
            report = engine.request_report() if isinstance(engine, Engine) else None
            if report:
                out[role] = report
        return out

    def close(self) -> None:
        for engine in (self._engine, self._judge_engine):
            if engine is not None:
                engine.close()
        if self.broker is not None:
            self.broker.close()

    # -- requests --------------------------------------------------------------------------
    def params_for(self, suite: Suite) -> GenerateParams:
        params = self._params.get(id(suite))
        if params is None:
            overrides: dict[str, Any] = {}
            if self.options.temperature is not None:
                overrides["temperature"] = self.options.temperature
                overrides["explicit"] = suite.params.explicit | {"temperature"}
            if self.options.max_tokens is not None:
                overrides["max_tokens"] = self.options.max_tokens
            params = GenerateParams(**{**suite.params.__dict__, **overrides})
            # what the model really decodes with (a reasoning model: its own temperature)
            params = compat.effective_params(self.options.model, params)
            self._params[id(suite)] = params
        return params

    def request(self, item: pytest.Item, case: Case, repeat: int | None = None) -> Request:
        """The request of the item's current try (or of try ``repeat``)."""
        if repeat is None:
            repeat = item.stash.get(repeat_key, case.tries[0])
        return Request(
            request_id(item.nodeid, repeat),
            case.messages,
            case.params_for(self.params_for(case.suite)),
            judging.follow_up(case),
            repeat=repeat,
            conversation=case.conversation,
        )

    def plan(self, items: list[pytest.Item]) -> None:
        """Queue every item's request in run order (items are already deselected)."""
        planned = []
        self.check_contamination(items)
        for item in items:
            if case_key not in item.stash:
                continue
            self._items[item.nodeid] = item
            name = item.stash[case_key].suite.name
            self.selected[name] = self.selected.get(name, 0) + len(item.stash[case_key].tries)
            # A marked test that never asks for `completion` must not cost a request.
            names = getattr(item, "fixturenames", None)
            if names is None or "completion" in names:
                case = item.stash[case_key]
                planned += [self.request(item, case, r) for r in case.tries]
        if planned:
            self.engine.plan(planned)

    def check_contamination(self, items: list[pytest.Item]) -> None:
        """Per suite: how much of what is evaluated was in the training data. Under xdist one
        worker computes it (every worker has the same items) for the controller."""
        if self.workerinput.get("workerid", "gw0") != "gw0":
            return
        cases: dict[str, list[Case]] = {}
        for item in items:
            if case_key in item.stash:
                case = item.stash[case_key]
                cases.setdefault(case.suite.name, []).append(case)
        adapter = self.options.model.options.get("adapter") if self.options.model else None
        for name, group in cases.items():
            found = contamination.for_suite(
                group[0].suite, [c.sample for c in group], self.config.rootpath, adapter
            )
            if found is not None:
                self.contamination[name] = found
        if self.workerinput:
            self.config.workeroutput["llmeval_contamination"] = self.contamination  # type: ignore[attr-defined]

    def generate(self, messages: list[Message], params: GenerateParams) -> Completion:
        """A blocking model call from a test body (the ``model`` fixture), through the
        engine: cached like any other, and, in an eval item, kept as its answer."""
        item = self._current_item()
        repeat = item.stash.get(repeat_key, 0) if item is not None else 0
        try:
            comp = self.engine.generate(
                messages, compat.effective_params(self.options.model, params), repeat
            )
        except ModelError as exc:
            if item is not None:
                self._failed(item, MODEL, str(exc), exc)
            raise ModelFailure(f"model error: {printable(str(exc))}") from None
        if item is not None:
            self.result(item)
            calls = item.stash.setdefault(fixture_calls_key, [])
            transcript = [*messages, conversation.assistant_message(comp)]
            calls.append(dataclasses.replace(comp, transcript=tuple(transcript)))
        return comp

    def _current_item(self) -> pytest.Item | None:
        """The eval item whose test body is running: pytest names it in
        ``PYTEST_CURRENT_TEST`` (``NODEID (call)``)."""
        import os

        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        nodeid = current.rsplit(" (", 1)[0]
        return self._items.get(nodeid)

    def _fixture_answer(self, item: pytest.Item) -> Completion | None:
        """The `model` fixture's calls in this item, as one answer (a conversation)."""
        calls = item.stash.get(fixture_calls_key, None)
        if not calls:
            return None
        transcript: list[Message] = []
        for c in calls:
            msgs = list(c.transcript)
            if transcript and msgs[: len(transcript)] == transcript:
                transcript += msgs[len(transcript) :]
            else:
                transcript += msgs
        return conversation.combine(calls, transcript)

    def completion_for(self, item: pytest.Item) -> Completion:
        done = item.stash.get(completion_key, None)
        if done is not None:
            return done
        case = item.stash[case_key]
        self.result(item)
        try:
            comp = self.engine.result(self.request(item, case))
        except BudgetStop as exc:
            item.stash[unsent_key] = str(exc)
            raise SampleUnsent(f"[{case.suite.name}] {case.sample.id} {exc}") from None
        except ModelError as exc:
            self._failed(item, MODEL, str(exc), exc)
            raise ModelFailure(f"model error: {printable(str(exc))}") from None
        self._keep(item, comp)
        item.stash[completion_key] = comp
        if case.suite.judge is not None:
            self._grade(item, case, comp)
        if judging.inline_statements(case):
            self._grade_inline(item, case, item.stash[completion_key])
        return item.stash[completion_key]

    def _keep(self, item: pytest.Item, comp: Completion) -> None:
        """The item's answer on its row, with a conversation's own cache entries."""
        entries = comp.metadata.get("cache_entries") or ()
        changes: dict[str, Any] = {"model": Call.from_completion(comp)}
        if entries:
            spec = self.model_spec or ""
            changes["cache_entries"] = (
                *self.result(item).cache_entries,
                *({**e, "model": spec} for e in entries),
            )
        self._update(item, **changes)

    def _grade(self, item: pytest.Item, case: Case, comp: Completion) -> None:
        """Grade the answer now (usually already graded ahead); a judge error is an E."""
        judge = self.judge_engine
        assert judge is not None  # checked at collection
        graded = judging.grade(
            judge,
            self.request(item, case),
            comp.text,
            self.judge_params,
            self.options.judge_repairs,
        )
        spec = self.options.judge.spec if self.options.judge else ""
        self._update(
            item,
            judge=graded.call(),
            cache_entries=(
                *self.result(item).cache_entries,
                *({**e, "model": spec} for e in graded.cache_entries),
            ),
        )
        if graded.error is not None:
            # the judge's call failing is an outage; its verdict staying invalid, a judge
            # that cannot grade (invalid_judge_rate)
            kind = JUDGE_MODEL if graded.failure is not None else JUDGE
            self._failed(item, kind, graded.error, graded.failure)
            raise JudgeFailure(printable(graded.error))
        # the judge's scorers read the verdict from the answer they score
        comp = dataclasses.replace(comp, metadata={**comp.metadata, VERDICT: graded})
        item.stash[completion_key] = comp

    def _grade_inline(self, item: pytest.Item, case: Case, comp: Completion) -> None:
        """The judge's verdicts on the sample's inline rubrics, for the checks that read
        them (``completion.metadata["rubrics"]``); a judge error is an E."""
        judge = self.judge_engine
        assert judge is not None  # checked at collection
        verdicts, graded = judging.grade_inline(
            judge, self.request(item, case), comp.text, self.judge_params,
            self.options.judge_repairs,
        )  # fmt: skip
        spec = self.options.judge.spec if self.options.judge else ""
        earlier = self.result(item).judge
        call = graded.call()
        if earlier is not None:  # a rubric suite's judge too: one record of both
            call = dataclasses.replace(
                call,
                output=f"{earlier.output}\n{call.output}".strip(),
                latency_ms=(earlier.latency_ms or 0) + (call.latency_ms or 0),
                prompt_tokens=(earlier.prompt_tokens or 0) + (call.prompt_tokens or 0),
                completion_tokens=(earlier.completion_tokens or 0) + (call.completion_tokens or 0),
            )
        self._update(
            item,
            judge=call,
            cache_entries=(
                *self.result(item).cache_entries,
                *({**e, "model": spec} for e in graded.cache_entries),
            ),
        )
        if graded.error is not None:
            kind = JUDGE_MODEL if graded.failure is not None else JUDGE
            self._failed(item, kind, graded.error, graded.failure)
            raise JudgeFailure(printable(graded.error))
        item.stash[completion_key] = dataclasses.replace(
            comp, metadata={**comp.metadata, "rubrics": verdicts}
        )

    def _failed(
        self, item: pytest.Item, kind: str, why: str, exc: ModelError | None = None
    ) -> None:
        """Record an error; when the run cannot go on (the server rejects the configuration,
        or is down), stop the session after this item instead of failing every sample."""
        fatal = exc.fatal if exc is not None else None
        rejected = exc is not None and not exc.retryable and 400 <= (exc.status or 0) < 500
        # the reason quotes the server or the judge: untrusted text, escaped where it is made
        why = printable(why)[:2000]
        self._update(item, error=why, error_kind=kind, stopped=fatal, rejected=rejected)
        if fatal is not None:
            item.session.shouldstop = f"llmeval: {printable(str(exc))}"

    # -- results and scores ----------------------------------------------------------------
    def result(self, item: pytest.Item) -> SampleResult:
        """The item's result so far (built here, filled in as the item runs)."""
        found = item.stash.get(result_key, None)
        if found is None:
            case = item.stash[case_key]
            s = case.sample
            thresholds = case.suite.thresholds_for(self.model_spec)
            found = SampleResult(
                nodeid=item.nodeid,
                task=case.suite.name,
                sample_id=s.id,
                dataset=case.suite.dataset_display,
                slices=tuple(s.slices),
                difficulty=s.difficulty,
                prompt=json.dumps(case.messages, ensure_ascii=False)[:MAX_TEXT],
                expected=_text(case.expected),
                suite_size=case.suite_size,
                tries=self.options.repeats_for(case.suite.repeats),
                selected=self.selected.get(case.suite.name, 0),
                thresholds={t.metric: str(t) for t in thresholds},
                # a miss in a gated suite is statistics, not a failure: the gate decides
                gated=bool(thresholds) or case.suite.name in self.options.project_tasks,
                worker=self.workerinput.get("workerid", "main"),
                repeat=item.stash.get(repeat_key, case.tries[0]),
            )
            item.stash[result_key] = found
            item.stash[scores_key] = {}
        return found

    def _update(self, item: pytest.Item, **changes: Any) -> None:
        item.stash[result_key] = self.result(item).with_(**changes)

    def final_result(self, item: pytest.Item) -> SampleResult | None:
        """The item's result with its scores, for its report; None for a plain test."""
        found = item.stash.get(result_key, None)
        if found is None:
            return None
        scores: dict[str, dict[str, Any]] = item.stash[scores_key]
        return found.with_(scores=dict(scores))

    def record_score(
        self, item: pytest.Item, name: str, value: float, passed: bool | None, explanation: str
    ) -> None:
        if case_key not in item.stash:
            raise pytest.UsageError(
                f"{item.nodeid}: llmeval_record needs a test marked "
                "@pytest.mark.llmeval(dataset=..., task=...) that takes 'sample'"
            )
        self.result(item)
        item.stash[scores_key][name] = {
            "value": float(value),
            "passed": passed,
            "metric": name,
            **({"explanation": explanation} if explanation else {}),
        }
        item.user_properties.append((f"llmeval.{name}", float(value)))

    def score_item(self, item: pytest.Item) -> SampleMiss | ScorerFailure | None:
        """Run the suite's scorers on the item's completion; return the miss (or the
        scorer's error), if any."""
        if case_key not in item.stash:
            return None
        case = item.stash[case_key]
        comp = item.stash.get(completion_key, None)
        if comp is None:
            comp = self._fixture_answer(item)
            if comp is not None:  # the test body asked the model itself: score that
                self._keep(item, comp)
        if comp is None and result_key not in item.stash:
            return None  # the test used neither `completion` nor `llmeval_record`
        result = self.result(item)
        started = time.time()
        scores = item.stash[scores_key]
        suite_scorers = {info.name for info in case.suite.scorers}
        if comp is not None:
            for info in case.suite.scorers:
                try:
                    score = info.fn(case.sample, comp)
                except Exception as exc:
                    why = printable(f"scorer {info.name!r} raised {type(exc).__name__}: {exc}")
                    self._failed(item, SCORER, why)
                    self._update(item, scored_at=(started, time.time()))
                    return ScorerFailure(f"[{case.suite.name}] {case.sample.id}: {why}")
                scores[info.name] = {"metric": info.metric, **score.as_dict()}
                item.user_properties.append((f"llmeval.{info.metric}", score.value))
        # The suite's pass_on scorers decide, and so does any recorded score that failed.
        failing = [n for n in case.suite.pass_on if n in scores and not scores[n]["passed"]]
        failing += [
            n for n, s in scores.items() if n not in suite_scorers and s.get("passed") is False
        ]
        self._update(item, passed=not failing, scored_at=(started, time.time()))
        item.user_properties.append(("llmeval.passed", not failing))
        if result.expected is not None:
            item.user_properties.append(("llmeval.expected", printable(result.expected)))
        if not failing:
            return None
        return SampleMiss(summary.miss_message(case, self.final_result(item), failing))

    # -- repeats: one item, K tries -----------------------------------------------------------
    def run_tries(self, item: pytest.Item, body: Callable[[Completion], None] | None) -> None:
        """Run each of the item's tries (its completion, the test body if any, its scorers)
        and raise the sample's outcome: the first error of any try (E), else the first
        exception of the body, else a miss unless a majority (or all, with
        ``--llmeval-repeat-pass all``) of the tries passed. Every try is kept as a row."""
        case = item.stash[case_key]
        tries: list[SampleResult] = []
        outcomes: list[BaseException | None] = []
        for i, repeat in enumerate(case.tries):
            if i:  # the first try's completion may already exist (fetched in setup)
                if result_key in item.stash:
                    del item.stash[result_key]
                if completion_key in item.stash:
                    del item.stash[completion_key]
                if fixture_calls_key in item.stash:
                    del item.stash[fixture_calls_key]
            item.stash[repeat_key] = repeat
            outcome: BaseException | None = None
            try:
                comp = self.completion_for(item)
                if body is not None:
                    body(comp)
            except (EvalError, SampleMiss) as exc:
                outcome = exc
            except Exception as exc:  # the test body's own failure: still score the answer
                outcome = exc
                self.score_item(item)
            if outcome is None:
                outcome = self.score_item(item)
            done = self.final_result(item) or self.result(item)
            tries.append(done.with_(miss=isinstance(outcome, SampleMiss)))
            outcomes.append(outcome)
            if done.stopped:
                break  # the run cannot go on: no point asking for the other tries
        item.stash[tries_key] = tries
        passed = sum(1 for t in tries if t.passed)
        needed = len(tries) if self.options.repeat_pass == "all" else len(tries) // 2 + 1
        first = tries[0]
        failure: BaseException | None = next(
            (o for o in outcomes if isinstance(o, EvalError)), None
        )
        failure = failure or next(
            (o for o in outcomes if o is not None and not isinstance(o, SampleMiss)), None
        )
        errored = next((t for t in tries if t.error), None)
        item.stash[result_key] = first.with_(
            passed=None if errored else passed >= needed,
            error=errored.error if errored else None,
            error_kind=errored.error_kind if errored else None,
            stopped=errored.stopped if errored else None,
            rejected=errored.rejected if errored else False,
        )
        item.stash[scores_key] = {k: dict(v) for k, v in first.scores.items()}
        if failure is not None:
            raise failure
        if passed < needed:
            missed = next(o for o in outcomes if isinstance(o, SampleMiss))
            rule = "all" if self.options.repeat_pass == "all" else "a majority"
            head, _, rest = str(missed).partition("\n")
            raise SampleMiss(
                f"{head} in {len(tries) - passed} of {len(tries)} tries (passes on {rule})\n{rest}"
            )


def _text(value: Any) -> str | None:
    """The expected answer as stored and shown: text, or JSON for objects."""
    return (
        value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False)
    )
