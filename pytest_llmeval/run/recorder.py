"""The controller's side of a run: rows in, SQLite out. It records; the gate decides.

Only the controller (or the single process) records. The run row is written as soon as the
session knows it has eval items (status ``running``, with a heartbeat), so a job killed on
its CI timeout leaves a trace that the next run marks ``aborted``. Rows are stored in
batches; the model's answers are kept as they arrive (before their items score them), so
Ctrl-C or a kill loses only what was still in flight and ``--llmeval-resume`` sends nothing
twice.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pytest_llmeval import __version__
from pytest_llmeval.dataset import file_hash
from pytest_llmeval.gate import aggregate
from pytest_llmeval.judge.grading import JUDGE_SUFFIX
from pytest_llmeval.judge.inline import SUFFIX as RUBRIC_SUFFIX
from pytest_llmeval.models.base import Completion
from pytest_llmeval.result import Call, SampleResult, completion_of
from pytest_llmeval.run.engine import request_id
from pytest_llmeval.run.options import Options
from pytest_llmeval.store import cache
from pytest_llmeval.store.storage import HEARTBEAT_S, Store, git_info, new_run_row, utcnow

FLUSH_ROWS = 200
FLUSH_SECONDS = 1.0  # a hard kill of the controller loses at most about this much


class Recorder:
    """Rows, storage and the run row for one run (controller only)."""

    def __init__(
        self, config_root: Path, options: Options, run_id: str, resume: bool = False
    ) -> None:
        self.root = config_root
        self.options = options
        self.run_id = run_id
        self.resume = resume
        self.started_at = utcnow()
        self.store: Store | None = None
        # (nodeid, repeat) -> result, its texts left out; and a resumed run's results
        self.rows: dict[tuple[str, int], SampleResult] = {}
        self.previous: dict[tuple[str, int], SampleResult] = {}
        self.suite_info: dict[str, dict[str, Any]] = {}
        self.misses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()  # error items per task
        self.budget_errors = 0
        self.rejected = 0  # budget errors the server refused (4xx): a retry cannot help
        self.error_reasons: Counter[str] = Counter()
        self.first_error_at: float | None = None
        self.miss_messages: list[tuple[str, str, str]] = []  # (task, nodeid, message)
        self.other_failures: set[str] = set()
        self.collect_errors = 0
        self.crashed = 0
        self.unsent = 0  # samples not sent: they could have passed the budget
        self.stop: dict[str, Any] | None = None  # the engine ended the run: {kind, reason}
        self._buffer: list[SampleResult] = []
        self._last_flush = time.monotonic()
        self._answers: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self.started = False
        self._suites_stored = 0
        self._stop_beating = threading.Event()
        self._beat: threading.Thread | None = None

    # -- the run row -------------------------------------------------------------------------
    def start(self) -> None:
        """Write (or, resuming, reopen) the run row and start its heartbeat. Idempotent; may
        run on any thread (the xdist broker's when a worker's plan arrives)."""
        with self._start_lock:
            if self.started:
                return
            store = Store(self.options.db_path)
            try:
                store.sweep_stale(socket.gethostname())
                if self.resume:
                    run = store.get_run(self.run_id)
                    store.update_run(
                        self.run_id,
                        status="running",
                        finished_at=None,
                        heartbeat_at=utcnow(),
                        host=socket.gethostname(),
                        pid=_pid(),
                        exitstatus=None,
                        reason=None,
                        resumed=int((run or {}).get("resumed") or 0) + 1,
                    )
                else:
                    store.create_run(
                        new_run_row(
                            self.run_id,
                            started_at=self.started_at,
                            model=self.model_spec,
                            params=self.run_params(),
                            plugin_version=__version__,
                            **git_info(self.root),
                        )
                    )
            finally:
                store.close()
            self.started = True
            self._beat = threading.Thread(target=self._background, name="llmeval-heartbeat")
            self._beat.daemon = True
            self._beat.start()

    def _background(self) -> None:
        """Keep the run row's heartbeat fresh and store answers as they arrive, even while
        pytest's thread waits on a server that does not answer."""
        store = Store(self.options.db_path)
        last_beat = time.monotonic()
        try:
            while not self._stop_beating.wait(1.0):
                self._store_answers(store)
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    store.heartbeat(self.run_id)
                    last_beat = time.monotonic()
        finally:
            store.close()

    def answer(self, request_id: str, comp: Completion) -> None:
        """An answer the model gave (any thread): kept until its item scores it, and in the
        cache at once, so a run stopped before its items scored them (Ctrl-C) does not pay
        for them again on a plain rerun."""
        call = Call.from_completion(comp)
        judged = JUDGE_SUFFIX in request_id or RUBRIC_SUFFIX in request_id
        judge = self.options.judge
        spec = (judge.spec if judge else "") if judged else self.model_spec or ""
        entries = [dict(e) for e in comp.metadata.get("cache_entries") or ()]
        if call.cache_key and not call.cached:
            entries.append(cache.entry(call, spec))
        self._answers.put(
            {
                "request_id": request_id,
                "latency_ms": call.latency_ms,
                "response": call.response(),
                "cache": [{**e, "model": spec, "run_id": self.run_id} for e in entries],
            }
        )

    def _store_answers(self, store: Store) -> None:
        batch = []
        while True:
            try:
                batch.append(self._answers.get_nowait())
            except queue.Empty:
                break
        store.put_answers(self.run_id, batch)
        store.put_cache([e for a in batch for e in a.get("cache", ())])

    # -- during the run ----------------------------------------------------------------------
    def failed(self, nodeid: str, result: SampleResult | None) -> None:
        """Classify a failed report: a sample miss, an eval error, or a real failure."""
        if result is None:
            self.other_failures.add(nodeid)
        elif result.miss:
            self.misses[result.task] += 1
        elif not result.eval_error:
            self.other_failures.add(nodeid)

    def missed(self, task: str, nodeid: str, message: str) -> None:
        self.miss_messages.append((task, nodeid, message))

    def add(self, result: SampleResult) -> None:
        self.start()
        info = self.suite_info.setdefault(
            result.task,
            {
                "size": result.suite_size,
                "thresholds": result.thresholds,
                "dataset": result.dataset,
                "tries": result.tries,
                "selected": result.selected,
            },
        )
        info["size"] = max(info["size"], result.suite_size)
        info["selected"] = max(info.get("selected", 0), result.selected)
        if result.eval_error:
            self.errors[result.task] += 1
        if result.budget_error and result.error:
            self.budget_errors += 1
            self.rejected += result.rejected
            self.error_reasons[_first_line(result.error)] += 1
            self.first_error_at = self.first_error_at or time.time()
            if result.stopped and self.stop is None:
                self.stop = {"kind": result.stopped, "reason": _first_line(result.error)}
        self.rows[result.nodeid, result.repeat] = result.slim()
        self._buffer.append(result)
        if len(self._buffer) >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self.started:
            return
        if self.store is None:
            self.store = Store(self.options.db_path)
        if len(self.suite_info) > self._suites_stored:  # what a resume must find unchanged
            self._suites_stored = len(self.suite_info)
            self.store.update_run(
                self.run_id, suites=sorted(self.suite_info), datasets=self.dataset_hashes()
            )
        results, self._buffer = self._buffer, []
        self.store.add_results(self.run_id, results)
        self.store.put_cache(
            [
                cache.entry(r.model, self.model_spec, self.run_id)
                for r in results
                if r.model is not None and r.model.cache_key and not r.model.cached
            ]
            + [{**e, "run_id": self.run_id} for r in results for e in r.cache_entries]
        )

    # -- resuming ------------------------------------------------------------------------------
    def load_previous(self) -> tuple[dict[str, Completion], dict[str, Completion]]:
        """A resumed run's scored rows (kept for the metrics over the union) and what can be
        replayed instead of asked again: (model answers, judge answers) by request id."""
        store = Store(self.options.db_path)
        try:
            stored = store.results(self.run_id)
            answers = store.answers(self.run_id)
        finally:
            store.close()
        model: dict[str, Completion] = {}
        judge: dict[str, Completion] = {}
        for rid, a in answers.items():
            target = judge if JUDGE_SUFFIX in rid or RUBRIC_SUFFIX in rid else model
            target[rid] = _completion(a["response"], a["latency_ms"])
        for r in stored:
            if r.error or r.passed is None or r.model is None:
                continue  # errored or unscored: asked again
            self.previous[r.nodeid, r.repeat] = r.slim()
            m = r.model
            rid = request_id(r.nodeid, r.repeat)
            model[rid] = _completion(
                m.response(), m.original_latency_ms or m.latency_ms, cached=m.cached
            )
            if r.judge is not None:
                judge[rid + JUDGE_SUFFIX] = _completion(r.judge.response(), r.judge.latency_ms)
        return model, judge

    # -- at the end --------------------------------------------------------------------------
    def all_rows(self) -> list[SampleResult]:
        """This session's results, and a resumed run's earlier ones that were not redone."""
        earlier = [r for key, r in self.previous.items() if key not in self.rows]
        return earlier + list(self.rows.values())

    def metrics(self, contamination: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        self.flush()
        metrics = aggregate.summarize(self.all_rows())
        for task, found in (contamination or {}).items():
            if task in metrics:  # the share of evaluated samples also seen in training
                metrics[task][""]["contamination_rate"] = aggregate.rate(
                    found["contaminated"], found["n_eval"]
                )
        return metrics

    def partial(self) -> bool:
        counts = Counter(task for task, _ in {(r.task, r.sample_id) for r in self.all_rows()})
        return (
            any(counts[t] < info["size"] for t, info in self.suite_info.items())
            or self.options.limit is not None
            or self.options.shard is not None
        )

    def selections(self) -> dict[str, tuple[int, int]]:
        """Suites of which this session selected only some tries (-k, --lf, --deselect or
        node ids): suite -> (selected, all). ``--llmeval-limit`` picks a sample: not here."""
        out = {}
        for task, info in self.suite_info.items():
            full = info["size"] * info["tries"]
            if 0 < info.get("selected", 0) < full:
                out[task] = (info["selected"], full)
        return out

    def planned(self) -> int:
        """Rows the suites' samples make: one per try."""
        return sum(info["size"] * info["tries"] for info in self.suite_info.values())

    def save(self, result: dict[str, Any]) -> None:
        """Store the finished run: metrics, verdicts, status; answers that every row now
        holds are dropped, so the database does not keep them twice."""
        self._finish_background()
        if self.store is None:
            self.store = Store(self.options.db_path)
        self._store_answers(self.store)
        self.store.save_metrics(self.run_id, aggregate.rows_for_storage(result["metrics"]))
        self.store.update_run(
            self.run_id,
            status=result["status"],
            partial=int(result["partial"]),
            finished_at=utcnow(),
            exitstatus=result["exitstatus"],
            metrics=result["metrics"],
            verdicts=result["verdicts"],
            verdict=result["verdict"],
            reason=result["reason"],
            n_errors=sum(1 for r in self.all_rows() if r.budget_error),
            suites=sorted(self.suite_info),
            datasets=self.dataset_hashes(),
            baseline=(result.get("baseline") or {}).get("baseline_label"),
            **self.sent_params(result.get("requests")),
            comparison=result["baseline"],
        )
        if result["status"] == "complete":
            self.store.delete_answers(self.run_id)

    def _finish_background(self) -> None:
        self._stop_beating.set()
        if self._beat is not None:
            self._beat.join(timeout=10)

    # -- run metadata ------------------------------------------------------------------------
    @property
    def model_spec(self) -> str | None:
        return self.options.model.spec if self.options.model else None

    def run_params(self) -> dict[str, Any]:
        m = self.options.model
        return {
            "base_url": m.base_url if m else None,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "limit": self.options.limit,
            "seed": self.options.seed,
            "strict": self.options.strict,
            "concurrency": self.options.concurrency,
            "cache": self.options.cache,
            "cache_ttl": self.options.cache_ttl,
            "baseline": self.options.baseline,
            "max_error_rate": self.options.max_error_rate,
            "shard": "{}/{}".format(*self.options.shard) if self.options.shard else None,
            # adapter, quantization, dtype: what makes this run's model differ from its base
            **(m.options if m else {}),
        }

    def sent_params(self, requests: dict[str, Any] | None) -> dict[str, Any]:
        """The run's parameters with what was actually sent, by role (model, judge): each
        distinct request's fields, and what the server refused and what went instead."""
        if not requests:
            return {}
        sent = {role: r.get("sent", []) for role, r in requests.items()}
        adapted = {role: r["adapted"] for role, r in requests.items() if r.get("adapted")}
        return {"params": {**self.run_params(), "sent": sent, "adapted": adapted}}

    def dataset_hashes(self) -> dict[str, str]:
        out = {}
        for info in self.suite_info.values():
            path = Path(info["dataset"])
            path = path if path.is_absolute() else self.root / path
            if path.is_file():
                out[info["dataset"]] = file_hash(path)
        return out

    def close(self) -> None:
        self._finish_background()
        if self.store is not None:
            self.store.close()


def _completion(resp: dict[str, Any], latency: float | None, cached: bool = False) -> Completion:
    meta = {"resumed": True, "original_latency_ms": latency}
    comp: Completion = completion_of(resp, latency or 0.0, cached, meta)
    return comp


def _first_line(text: str) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:300]


def _pid() -> int:
    import os

    return os.getpid()
