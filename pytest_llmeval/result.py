"""What one sample produced: the typed result, built in one place, read everywhere.

A ``SampleResult`` is built by the runner (in whichever process ran the item), rides on the
test report as plain JSON (``as_dict``: xdist serialises reports), and is read back with
``from_dict`` by the controller, which stores it (``columns``: one flat row of the
``results`` table) and aggregates it. A stored row comes back as a ``SampleResult`` too
(``from_columns``), so the exporters, the HTML report and the baseline comparison read the
same type. The model's call and the judge's are the same record, a ``Call``.

Adding a field: a field here, its column in ``columns``/``from_columns``, and a migration
in ``store/storage.py``. Nothing else spells the keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any

MAX_TEXT = 64 * 1024  # cap on prompt/output text carried in reports and stored

# error kinds: the sample was not evaluated, and why
MODEL, JUDGE, JUDGE_MODEL, SCORER, TEST = "model", "judge", "judge_model", "scorer", "test"
EVAL_ERRORS = (MODEL, JUDGE, JUDGE_MODEL, SCORER)
# what the error budget counts: a call that failed, or a scorer that raised. A judge whose
# verdict stays invalid ("judge") is judge health, gated by invalid_judge_rate instead.
BUDGET_ERRORS = (MODEL, JUDGE_MODEL, SCORER)


@dataclass(frozen=True)
class Call:
    """One call to a model, the evaluated one or the judge: what it said and cost."""

    output: str = ""
    latency_ms: float | None = None  # this session's (a cache lookup's for a hit)
    original_latency_ms: float | None = None  # the model's own, for a cached answer
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None  # as the response named it
    cached: bool = False
    started_at: float | None = None  # Unix seconds, when the call ran (ahead of its item)
    ended_at: float | None = None
    cache_key: str | None = None  # set when the cache should keep this answer
    cache_parts: Mapping[str, Any] | None = None  # the key's components (cache.key_parts)
    # the functions the model called (OpenAI's shape: {id, type, function: {name,
    # arguments}}), and a conversation's every message (empty for one request)
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    transcript: tuple[Mapping[str, Any], ...] = ()
    calls: int = 1  # model calls behind it (a conversation's, a solver's)
    cost_usd: float | None = None  # what this run paid for it (0 for a cached answer)

    @property
    def model_latency_ms(self) -> float | None:
        """The model's latency: for a cached answer the original one, not the lookup's."""
        return self.original_latency_ms if self.cached else self.latency_ms

    @classmethod
    def from_completion(cls, comp: Any) -> Call:
        """From an engine ``Completion`` (a cut-off output is never a cache entry)."""
        meta = comp.metadata
        return cls(
            output=comp.text[:MAX_TEXT],
            latency_ms=round(comp.latency_ms, 3),
            original_latency_ms=meta.get("original_latency_ms"),
            prompt_tokens=comp.prompt_tokens,
            completion_tokens=comp.completion_tokens,
            finish_reason=comp.finish_reason,
            model=comp.model or None,
            cached=comp.cached,
            started_at=meta.get("started_at"),
            ended_at=meta.get("ended_at"),
            cache_key=meta.get("cache_key") if len(comp.text) <= MAX_TEXT else None,
            cache_parts=meta.get("cache_parts") if len(comp.text) <= MAX_TEXT else None,
            tool_calls=tuple(tc.as_dict() for tc in comp.tool_calls),
            transcript=tuple(dict(m) for m in comp.transcript),
            calls=comp.calls,
            cost_usd=0.0 if comp.cached or meta.get("resumed") else meta.get("cost_usd"),
        )

    def response(self) -> dict[str, Any]:
        """The answer as the response cache and the answers table keep it (tool calls and
        a conversation's transcript only when there are any: older entries lack them)."""
        out: dict[str, Any] = {
            "text": self.output,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
        }
        if self.tool_calls:
            out["tool_calls"] = [dict(tc) for tc in self.tool_calls]
        if self.transcript:
            out["transcript"] = [dict(m) for m in self.transcript]
            out["calls"] = self.calls
        return out

    def completion(self, *, cached: bool = False, metadata: Mapping[str, Any] | None = None) -> Any:
        """This call as an engine ``Completion`` again (a cached or resumed answer)."""
        return completion_of(self.response(), self.latency_ms or 0.0, cached, metadata)


@dataclass(frozen=True)
class SampleResult:
    """One sample's outcome: where it came from, what the model (and judge) said, its
    scores, and whether it passed, missed or errored."""

    nodeid: str
    task: str  # the suite's name
    sample_id: str
    dataset: str | None = None
    slices: tuple[str, ...] = ()
    difficulty: str | None = None
    prompt: str | None = None  # the chat messages, as JSON
    expected: str | None = None  # the expected answer, as text (JSON for objects)
    scores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    passed: bool | None = None  # None: not scored (errored, or nothing to score)
    error: str | None = None
    error_kind: str | None = None  # model, judge, judge_model, scorer, test
    model: Call | None = None
    judge: Call | None = None
    # answers to cache besides the model's final one (judge repairs, a conversation's
    # earlier turns, the model fixture's calls)
    cache_entries: tuple[Mapping[str, Any], ...] = ()
    scored_at: tuple[float, float] | None = None
    repeat: int = 0
    worker: str = "main"
    # what the controller needs besides the row itself
    suite_size: int = 0
    tries: int = 1  # tries per sample in this run (--llmeval-repeats)
    # the suite's tries this session selected (-k, --lf, --deselect, node ids); 0: all
    selected: int = 0
    thresholds: Mapping[str, str] = field(default_factory=dict)
    gated: bool = False  # the suite has thresholds: a miss is statistics, not a failure
    miss: bool = False  # scored below the pass mark
    stopped: str | None = None  # the run cannot go on: "rejected" or "outage"
    rejected: bool = False  # the server refused this request (a 4xx): a retry cannot help

    # -- derived ---------------------------------------------------------------------------
    @property
    def judged(self) -> bool:
        return self.judge is not None or self.error_kind in (JUDGE, JUDGE_MODEL)

    @property
    def evaluated(self) -> bool:
        """Scored, not errored: what counts in the metrics."""
        return not self.error

    @property
    def eval_error(self) -> bool:
        return bool(self.error) and self.error_kind in EVAL_ERRORS

    @property
    def budget_error(self) -> bool:
        return bool(self.error) and self.error_kind in BUDGET_ERRORS

    @property
    def output(self) -> str | None:
        return self.model.output if self.model else None

    def call(self, which: str) -> Call:
        """``model`` or ``judge``; an empty Call where there was none."""
        return getattr(self, which) or Call()

    def with_(self, **changes: Any) -> SampleResult:
        """A copy with ``changes`` (``dataclasses.replace``, without its per-field
        bookkeeping: several calls per sample on the controller's hot path)."""
        unknown = changes.keys() - _RESULT_FIELD_SET
        if unknown:
            raise TypeError(f"SampleResult has no field(s) {sorted(unknown)}")
        new = object.__new__(SampleResult)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def slim(self) -> SampleResult:
        """Without the long texts (prompt, outputs): what the controller keeps in memory
        for the session's metrics, a few hundred bytes a sample."""
        return replace(
            self,
            prompt=None,
            model=_slim_call(self.model),
            judge=_slim_call(self.judge),
            cache_entries=(),
        )

    # -- on the report (JSON primitives) ---------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        # One level by hand (dataclasses.asdict deep-copies every value: ~0.6 ms a sample);
        # the JSON round trip makes the rest primitives, as before.
        d = {name: getattr(self, name) for name in _RESULT_FIELDS}
        for name in ("model", "judge"):
            call = d[name]
            if call is not None:
                d[name] = {f: getattr(call, f) for f in _CALL_FIELDS}
        return json.loads(json.dumps(d, default=_jsonable))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SampleResult:
        data = dict(d)
        for name in ("model", "judge"):
            if data.get(name) is not None:
                call = dict(data[name])
                call["tool_calls"] = tuple(call.get("tool_calls") or ())
                call["transcript"] = tuple(call.get("transcript") or ())
                data[name] = Call(**call)
        data["slices"] = tuple(data.get("slices") or ())
        data["cache_entries"] = tuple(data.get("cache_entries") or ())
        if data.get("scored_at") is not None:
            data["scored_at"] = tuple(data["scored_at"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    # -- in the results table --------------------------------------------------------------
    def columns(self) -> dict[str, Any]:
        """The flat row of the ``results`` table (JSON columns still as Python values)."""
        m, j = self.call("model"), self.call("judge")
        return {
            "nodeid": self.nodeid,
            "task": self.task,
            "sample_id": self.sample_id,
            "dataset": self.dataset,
            "slices": list(self.slices),
            "difficulty": self.difficulty,
            "prompt": self.prompt,
            "output": m.output if self.model else None,
            "expected": self.expected,
            "scores": dict(self.scores),
            "passed": self.passed,
            "error": self.error,
            "error_kind": self.error_kind,
            "latency_ms": m.latency_ms,
            "original_latency_ms": m.original_latency_ms,
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "cached": m.cached,
            "finish_reason": m.finish_reason,
            "cache_key": m.cache_key,
            "cost_usd": m.cost_usd,
            "judge_cost_usd": j.cost_usd,
            "tool_calls": list(m.tool_calls) if m.tool_calls else None,
            "transcript": list(m.transcript) if m.transcript else None,
            "judged": self.judged,
            "judge_output": j.output if self.judge else None,
            "judge_latency_ms": j.latency_ms,
            "judge_prompt_tokens": j.prompt_tokens,
            "judge_completion_tokens": j.completion_tokens,
            "worker": self.worker,
            "repeat": self.repeat,
        }

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> SampleResult:
        """A stored row (``Store.results``) as a SampleResult."""
        model = None
        if row.get("output") is not None or row.get("latency_ms") is not None:
            model = Call(
                output=row.get("output") or "",
                latency_ms=row.get("latency_ms"),
                original_latency_ms=row.get("original_latency_ms"),
                prompt_tokens=row.get("prompt_tokens"),
                completion_tokens=row.get("completion_tokens"),
                finish_reason=row.get("finish_reason"),
                cached=bool(row.get("cached")),
                cache_key=row.get("cache_key"),
                tool_calls=tuple(row.get("tool_calls") or ()),
                transcript=tuple(row.get("transcript") or ()),
                calls=max(
                    1, sum(1 for m in row.get("transcript") or () if m.get("role") == "assistant")
                ),
                cost_usd=row.get("cost_usd"),
            )
        judge = None
        if row.get("judged") and (
            row.get("judge_output") is not None or row.get("judge_latency_ms") is not None
        ):
            judge = Call(
                output=row.get("judge_output") or "",
                latency_ms=row.get("judge_latency_ms"),
                prompt_tokens=row.get("judge_prompt_tokens"),
                completion_tokens=row.get("judge_completion_tokens"),
                cost_usd=row.get("judge_cost_usd"),
            )
        passed = row.get("passed")
        return cls(
            nodeid=str(row["nodeid"]),
            task=str(row["task"]),
            sample_id=str(row["sample_id"]),
            dataset=row.get("dataset"),
            slices=tuple(row.get("slices") or ()),
            difficulty=row.get("difficulty"),
            prompt=row.get("prompt"),
            expected=row.get("expected"),
            scores=row.get("scores") or {},
            passed=None if passed is None else bool(passed),
            error=row.get("error"),
            error_kind=row.get("error_kind"),
            model=model,
            judge=judge,
            worker=row.get("worker") or "main",
            repeat=int(row.get("repeat") or 0),
        )

    # -- read as a mapping: the stored row's columns (the Results API's rows) ---------------
    def __getitem__(self, key: str) -> Any:
        return self._row()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._row().get(key, default)

    def keys(self) -> Iterator[str]:
        return iter(self._row())

    def _row(self) -> dict[str, Any]:
        return self.columns()


COLUMNS = tuple(SampleResult(nodeid="", task="", sample_id="").columns())  # the table's
_RESULT_FIELDS = tuple(SampleResult.__dataclass_fields__)
_RESULT_FIELD_SET = frozenset(_RESULT_FIELDS)
_CALL_FIELDS = tuple(Call.__dataclass_fields__)


def _slim_call(call: Call | None) -> Call | None:
    if call is None:
        return None
    return replace(call, output="", cache_parts=None, transcript=())


def completion_of(
    response: Mapping[str, Any],
    latency_ms: float,
    cached: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """A stored answer (a cache entry's or an answers row's ``response``) as a
    ``Completion``: the one place that turns one back into the other."""
    from pytest_llmeval.models.base import Completion, ToolCall

    transcript = tuple(response.get("transcript") or ())
    return Completion(
        text=response.get("text") or "",
        finish_reason=response.get("finish_reason"),
        prompt_tokens=response.get("prompt_tokens"),
        completion_tokens=response.get("completion_tokens"),
        latency_ms=float(latency_ms or 0.0),
        model=response.get("model") or "",
        cached=cached,
        metadata=dict(metadata or {}),
        tool_calls=tuple(ToolCall.from_dict(tc) for tc in response.get("tool_calls") or ()),
        transcript=transcript,
        calls=int(response.get("calls") or 1),
    )


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` cannot write: a dataclass as its fields, anything else as text."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)
