"""OpenTelemetry: one trace span per sample, and run-level metrics (the ``otel`` extra).

    from pytest_llmeval.export.otel import Tracer

    tracer = Tracer.from_env()                  # OTEL_TRACES_EXPORTER, OTEL_SERVICE_NAME...
    with tracer.sample_span(item.nodeid, {"task": "qa", "sample_id": "q001"}) as span:
        span.model_call("openai/gpt-4o-mini", start_time=t0, latency_ms=830.0,
                        input_tokens=412, output_tokens=9)
        span.scoring(start_time=t1, end_time=t2, scores={"qa_f1": 1.0}, passed=True)
        span.set(passed=True)
    tracer.record_run_metrics(result)           # gauges per metric and task
    tracer.shutdown()                           # flushes

**After the fact.** The model's answer is usually prefetched, on the engine's thread, long
before the item runs; so nothing here times anything live. The sample span and its children
(``model_call``, ``judge_call``, ``scoring``) are created when the ``with`` block exits,
with explicit timestamps: ``start_time``/``end_time`` as Unix seconds (``float``, as
``time.time()``), nanoseconds (``int``, OTel's unit, as ``time.time_ns()``) or ``datetime``;
a ``latency_ms`` fills in whichever end is missing (with neither end given, the call is
taken to have ended when it is recorded). The sample span covers its block and every child,
so a prefetched call that started before the item still nests inside it.

**Names.** Model and judge calls follow the GenAI semantic conventions: span
``chat {model}`` (kind CLIENT) with ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
``gen_ai.response.finish_reasons``; llmeval's own attributes are under ``llmeval.``
(``llmeval.task``, ``llmeval.sample_id``, ``llmeval.nodeid``, ``llmeval.passed``,
``llmeval.cached``, ``llmeval.latency_ms``, ``llmeval.role`` = ``model`` or ``judge``,
``llmeval.score.<scorer>``). A key given without a dot gets the ``llmeval.`` prefix.

Run metrics (:meth:`Tracer.record_run_metrics`) are gauges ``llmeval.<metric>`` (and
``llmeval.<metric>_lower`` / ``_upper`` for the 95% interval, as in the Prometheus export)
with attributes ``llmeval.task``, ``llmeval.slice`` (``""``: all samples), ``llmeval.model``
and ``llmeval.run_id``; ``llmeval.threshold_passed`` (1/0 per ``llmeval.metric``) and
``llmeval.gate_passed``.

Providers are private to the :class:`Tracer` (the global ones are left alone) unless given.
The SDK is imported when a Tracer is built, never by the plugin's import.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider, _Gauge
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, TracerProvider

    from pytest_llmeval.result import Call

TimeLike = float | int | datetime
SCOPE = "pytest_llmeval"
DEFAULT_SERVICE = "pytest-llmeval"
_NAME_OK = re.compile(r"[^A-Za-z0-9_.\-/]")


def to_ns(t: TimeLike) -> int:
    """Nanoseconds since the epoch: ``int`` is taken as nanoseconds already, ``float`` as
    seconds, a naive ``datetime`` as UTC."""
    if isinstance(t, datetime):
        aware = t if t.tzinfo else t.replace(tzinfo=UTC)
        return round(aware.timestamp() * 1e9)
    if isinstance(t, bool):
        raise TypeError("a timestamp cannot be a bool")
    if isinstance(t, int):
        return t
    return round(float(t) * 1e9)


def resolve_times(
    start_time: TimeLike | None = None,
    end_time: TimeLike | None = None,
    latency_ms: float | None = None,
    now_ns: int | None = None,
) -> tuple[int, int]:
    """``(start_ns, end_ns)`` from what is known: both ends; one end and the latency; the
    latency alone (ending now); or nothing (an instant, now)."""
    lat = None if latency_ms is None else round(float(latency_ms) * 1e6)
    start = None if start_time is None else to_ns(start_time)
    end = None if end_time is None else to_ns(end_time)
    if start is not None and end is not None:
        return start, max(end, start)
    if start is not None:
        return start, start + (lat or 0)
    end = end if end is not None else (now_ns if now_ns is not None else time.time_ns())
    return end - (lat or 0), end


def attributes(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """OTel-valid attributes: ``None`` dropped, keys without a dot prefixed ``llmeval.``,
    sequences of one primitive type kept as tuples, anything else as JSON text."""
    out: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        name = key if "." in key else f"llmeval.{key}"
        out[name] = _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = [v for v in value if v is not None]
        kinds = {bool if isinstance(v, bool) else type(v) for v in items}
        if len(kinds) <= 1 and kinds <= {bool, int, float, str}:
            return tuple(items)
        return tuple(str(v) for v in items)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _split_model(model: str | None) -> tuple[str | None, str | None]:
    """``openai/gpt-4o`` -> ``("openai", "gpt-4o")``; a bare name means OpenAI."""
    if not model:
        return None, None
    from pytest_llmeval.models import SpecError, parse_spec

    try:
        return parse_spec(model)
    except SpecError:
        return None, model


@dataclass
class _Child:
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    client: bool = False


@dataclass
class SampleSpan:
    """What :meth:`Tracer.sample_span` yields: attributes and children of one sample's span,
    emitted when the block exits."""

    nodeid: str
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[_Child] = field(default_factory=list)

    def set(self, **attrs: Any) -> None:
        """Add attributes to the sample span (``passed=True`` -> ``llmeval.passed``)."""
        self.attrs.update(attributes(attrs))

    def set_attributes(self, attrs: Mapping[str, Any]) -> None:
        self.attrs.update(attributes(attrs))

    def _call(
        self,
        role: str,
        model: str | None,
        start_time: TimeLike | None,
        end_time: TimeLike | None,
        latency_ms: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached: bool | None,
        finish_reason: str | None,
        attrs: Mapping[str, Any] | None,
    ) -> None:
        provider, name = _split_model(model)
        start, end = resolve_times(start_time, end_time, latency_ms)
        span_attrs = attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": name,
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.response.finish_reasons": (finish_reason,) if finish_reason else None,
                "role": role,
                "model": model,
                "cached": cached,
                "latency_ms": (end - start) / 1e6 if latency_ms is None else float(latency_ms),
                **(attrs or {}),
            }
        )
        label = f"chat {name}" if name else "chat"
        self.children.append(_Child(label, start, end, span_attrs, client=True))

    def call(self, role: str, model: str | None, call: Call, *, score: float | None = None) -> None:
        """A child span for one model call (``role``: ``model`` or ``judge``; ``model``:
        the spec, e.g. ``openai/gpt-4o``), timed from when it ran. A cache hit is the
        original call's latency with ``cached=True``."""
        extra = {"llmeval.judge.score": score} if role == "judge" else None
        self._call(
            role, model, call.started_at, call.ended_at,
            call.original_latency_ms if call.cached else None, call.prompt_tokens,
            call.completion_tokens, call.cached, call.finish_reason, extra,
        )  # fmt: skip

    def model_call(self, model: str | None = None, **kw: Any) -> None:
        """A child span for the model's call from its parts (start_time, end_time,
        latency_ms, input_tokens, output_tokens, cached, finish_reason, attrs)."""
        self._call("model", model, **_parts(kw), attrs=kw.get("attrs"))

    def judge_call(self, model: str | None = None, **kw: Any) -> None:
        """Like :meth:`model_call`; ``score`` -> ``llmeval.judge.score``."""
        extra = {"llmeval.judge.score": kw.get("score"), **(kw.get("attrs") or {})}
        self._call("judge", model, **_parts(kw), attrs=extra)

    def scoring(
        self,
        *,
        start_time: TimeLike | None = None,
        end_time: TimeLike | None = None,
        latency_ms: float | None = None,
        scores: Mapping[str, Any] | None = None,
        passed: bool | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """A child span for the scorers: ``llmeval.score.<name>`` per score (a number, or a
        stored score dict whose ``value`` is taken) and ``llmeval.passed``."""
        values: dict[str, Any] = {}
        for name, score in (scores or {}).items():
            value = score.get("value") if isinstance(score, Mapping) else score
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[f"llmeval.score.{name}"] = float(value)
        start, end = resolve_times(start_time, end_time, latency_ms)
        span_attrs = attributes({**values, "passed": passed, **(attrs or {})})
        self.children.append(_Child("llmeval.scoring", start, end, span_attrs))


class Tracer:
    """Spans and metrics for one session, on providers of its own (or the ones given)."""

    def __init__(
        self,
        span_exporters: Sequence[SpanExporter] = (),
        metric_readers: Sequence[MetricReader] = (),
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        batch: bool = True,
        service_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``span_exporters`` get a BatchSpanProcessor each (``batch=False``: a
        SimpleSpanProcessor, for tests); ``metric_readers`` read the meter provider. Given
        providers are used as they are (and not shut down by :meth:`shutdown`). The resource
        comes from ``environ`` (default ``os.environ``: ``OTEL_RESOURCE_ATTRIBUTES``,
        ``OTEL_SERVICE_NAME``), ``service_name`` winning."""
        from opentelemetry import trace

        self._own_tracer = tracer_provider is None
        self._own_meter = meter_provider is None
        if tracer_provider is None or meter_provider is None:
            resource = _resource(service_name, environ)
        if tracer_provider is None:
            from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

            sdk_tracer = SdkTracerProvider(resource=resource)
            for exporter in span_exporters:
                processor = BatchSpanProcessor if batch else SimpleSpanProcessor
                sdk_tracer.add_span_processor(processor(exporter))
            tracer_provider = sdk_tracer
        if meter_provider is None:
            from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider

            meter_provider = SdkMeterProvider(
                metric_readers=list(metric_readers), resource=resource
            )
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._tracer = trace.get_tracer(SCOPE, _version(), tracer_provider=tracer_provider)
        self._meter: Meter = meter_provider.get_meter(SCOPE, _version())
        self._gauges: dict[tuple[str, str], _Gauge] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tracer:
        """Exporters named by the standard variables: ``OTEL_TRACES_EXPORTER`` and
        ``OTEL_METRICS_EXPORTER`` (comma-separated; ``otlp`` by default, ``console``, ``none``
        ...: the SDK's exporter entry points, which read their own ``OTEL_EXPORTER_*``
        settings); ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` for the resource
        (service ``pytest-llmeval`` by default); ``OTEL_SDK_DISABLED=true``: no exporters."""
        env = os.environ if environ is None else environ
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        spans: list[SpanExporter] = []
        readers: list[MetricReader] = []
        if not disabled:
            for name in _names(env.get("OTEL_TRACES_EXPORTER", "otlp")):
                spans.append(_load_exporter("opentelemetry_traces_exporter", name)())
            if _names(env.get("OTEL_METRICS_EXPORTER", "otlp")):
                from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

                for name in _names(env.get("OTEL_METRICS_EXPORTER", "otlp")):
                    exporter = _load_exporter("opentelemetry_metrics_exporter", name)()
                    readers.append(PeriodicExportingMetricReader(exporter))
        return cls(spans, readers, environ=env)

    # -- traces ------------------------------------------------------------------------
    @contextmanager
    def sample_span(
        self,
        item_nodeid: str,
        attrs: Mapping[str, Any] | None = None,
        *,
        start_time: TimeLike | None = None,
        end_time: TimeLike | None = None,
        parent: Span | None = None,
    ) -> Iterator[SampleSpan]:
        """The span of one sample (named ``llmeval.sample``, or ``llmeval.sample {task}``).

        Recorded at exit, under ``parent`` (a span, e.g. :meth:`run_span`'s) or the current
        span; it starts at ``start_time`` (default: the block's start) or its earliest
        child, and ends at ``end_time`` (default: the block's end) or its latest child. An
        exception in the block marks it as an error, and propagates."""
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        entered = time.time_ns()
        sample = SampleSpan(item_nodeid, attributes({"nodeid": item_nodeid, **(attrs or {})}))
        error: BaseException | None = None
        try:
            yield sample
        except BaseException as exc:
            error = exc
            raise
        finally:
            exited = time.time_ns()
            start = to_ns(start_time) if start_time is not None else entered
            end = to_ns(end_time) if end_time is not None else exited
            if sample.children:
                start = min(start, *(c.start_ns for c in sample.children))
                end = max(end, *(c.end_ns for c in sample.children))
            task = sample.attrs.get("llmeval.task")
            name = f"llmeval.sample {task}" if task else "llmeval.sample"
            context = trace.set_span_in_context(parent) if parent is not None else None
            span = self._tracer.start_span(
                name, context=context, attributes=sample.attrs, start_time=start
            )
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            child_context = trace.set_span_in_context(span)
            for child in sample.children:
                kind = SpanKind.CLIENT if child.client else SpanKind.INTERNAL
                self._tracer.start_span(
                    child.name,
                    context=child_context,
                    kind=kind,
                    attributes=child.attributes,
                    start_time=child.start_ns,
                ).end(end_time=child.end_ns)
            span.end(end_time=max(end, start))

    @contextmanager
    def run_span(
        self,
        run_id: str,
        attrs: Mapping[str, Any] | None = None,
        *,
        start_time: TimeLike | None = None,
    ) -> Iterator[Span]:
        """A live span for the whole run (``llmeval.run``), current inside the block; pass
        it as ``parent`` to :meth:`sample_span` from hooks outside the block."""
        from opentelemetry import trace

        span = self._tracer.start_span(
            "llmeval.run",
            attributes=attributes({"run_id": run_id, **(attrs or {})}),
            start_time=None if start_time is None else to_ns(start_time),
        )
        with trace.use_span(span, end_on_exit=True):
            yield span

    # -- metrics -----------------------------------------------------------------------
    def _gauge(self, name: str, unit: str) -> _Gauge:
        key = (name, unit)
        if key not in self._gauges:
            self._gauges[key] = self._meter.create_gauge(name, unit=unit)
        return self._gauges[key]

    def record_run_metrics(self, result: Mapping[str, Any] | Any) -> None:
        """Set gauges from a run's result: the session result dict (``metrics``,
        ``verdicts``, ``run_id``, ``model``) or a stored :class:`~pytest_llmeval.store.results.Run`;
        then flush, so periodic readers export at once."""
        if not isinstance(result, Mapping):
            result = {
                "metrics": result.metrics,
                "verdicts": result.verdicts,
                "run_id": result.id,
                "model": result.model,
            }
        common = attributes({"model": result.get("model"), "run_id": result.get("run_id")})
        for task, slices in (result.get("metrics") or {}).items():
            for sl, metrics in slices.items():
                where = {**common, "llmeval.task": str(task), "llmeval.slice": str(sl)}
                for metric, m in metrics.items():
                    if not isinstance(m, Mapping):
                        continue
                    name = "llmeval." + _NAME_OK.sub("_", str(metric))
                    unit = _unit(str(metric))
                    for suffix, key in (("", "value"), ("_lower", "lo"), ("_upper", "hi")):
                        value = m.get(key)
                        if isinstance(value, int | float) and math.isfinite(value):
                            self._gauge(name + suffix, unit).set(float(value), where)
        verdicts = result.get("verdicts") or []
        for v in verdicts:
            where = {
                **common,
                "llmeval.task": str(v["task"]),
                "llmeval.metric": str(v["metric"]),
            }
            self._gauge("llmeval.threshold_passed", "").set(1.0 if v["passed"] else 0.0, where)
        if verdicts:
            ok = all(v["passed"] for v in verdicts)
            self._gauge("llmeval.gate_passed", "").set(1.0 if ok else 0.0, common)
        self.force_flush()

    # -- life cycle ----------------------------------------------------------------------
    def force_flush(self, timeout_ms: int = 10_000) -> None:
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush(timeout_ms)

    def shutdown(self) -> None:
        """Flush and shut down the providers this Tracer built (given ones are left alone)."""
        self.force_flush()
        if self._own_tracer:
            getattr(self.tracer_provider, "shutdown", lambda: None)()
        if self._own_meter:
            getattr(self.meter_provider, "shutdown", lambda: None)()


def _parts(kw: Mapping[str, Any]) -> dict[str, Any]:
    names = ("start_time", "end_time", "latency_ms", "input_tokens", "output_tokens", "cached")
    return {n: kw.get(n) for n in (*names, "finish_reason")}


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip() and n.strip().lower() != "none"]


def _load_exporter(group: str, name: str) -> Any:
    from importlib.metadata import entry_points

    for ep in entry_points(group=group, name=name):
        return ep.load()
    known = sorted({ep.name for ep in entry_points(group=group)})
    hint = " (pip install opentelemetry-exporter-otlp)" if name.startswith("otlp") else ""
    variable = "OTEL_TRACES_EXPORTER" if "traces" in group else "OTEL_METRICS_EXPORTER"
    raise ValueError(
        f"{variable}={name}: no such exporter installed{hint}; installed: "
        f"{', '.join(known) or 'none'}"
    )


def _resource(service_name: str | None, env: Mapping[str, str] | None = None) -> Any:
    """The resource: ``OTEL_RESOURCE_ATTRIBUTES``, then ``OTEL_SERVICE_NAME``, then
    ``service_name`` winning; service ``pytest-llmeval`` when none names one."""
    from urllib.parse import unquote

    from opentelemetry.sdk.resources import Resource

    env = os.environ if env is None else env
    attrs: dict[str, Any] = {}
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            attrs[key.strip()] = unquote(value.strip())
    name = service_name or env.get("OTEL_SERVICE_NAME") or attrs.get("service.name")
    attrs["service.name"] = name or DEFAULT_SERVICE
    return Resource.create(attrs)


def _unit(metric: str) -> str:
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith("tokens_total"):
        return "{token}"
    return ""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pytest-llmeval")
    except Exception:
        return "0"
