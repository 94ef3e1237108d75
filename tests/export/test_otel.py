"""OpenTelemetry spans and run metrics, checked with the SDK's in-memory exporters."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra needs opentelemetry-sdk")
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pytest_llmeval.export import otel

T0 = 1_800_000_000.0  # Unix seconds
S = 1_000_000_000  # ns per second


def _tracer() -> tuple[otel.Tracer, InMemorySpanExporter, InMemoryMetricReader]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    return otel.Tracer([spans], [reader], batch=False), spans, reader


def test_times_resolve_from_ends_and_latency() -> None:
    assert otel.to_ns(T0) == 1_800_000_000 * S
    assert otel.to_ns(1_800_000_000 * S + 5) == 1_800_000_000 * S + 5  # ints are ns
    assert otel.to_ns(datetime.fromtimestamp(T0, UTC)) == otel.to_ns(T0)
    assert otel.to_ns(datetime.fromtimestamp(T0, UTC).replace(tzinfo=None)) == otel.to_ns(T0)
    start = otel.to_ns(T0)
    assert otel.resolve_times(T0, T0 + 2) == (start, start + 2 * S)
    assert otel.resolve_times(T0, latency_ms=250) == (start, start + S // 4)
    assert otel.resolve_times(end_time=T0, latency_ms=250) == (start - S // 4, start)
    assert otel.resolve_times(latency_ms=1000, now_ns=start) == (start - S, start)
    assert otel.resolve_times(T0, T0 - 1) == (start, start)  # never ends before it starts


def test_attributes_are_otel_valid() -> None:
    attrs = otel.attributes(
        {
            "task": "qa",
            "gen_ai.request.model": "m",
            "slices": ["easy", "factual"],
            "mixed": [1, "a"],
            "skip": None,
            "obj": {"b": 1},
            "nan": float("nan"),
        }
    )
    assert attrs == {
        "llmeval.task": "qa",
        "gen_ai.request.model": "m",
        "llmeval.slices": ("easy", "factual"),
        "llmeval.mixed": ("1", "a"),
        "llmeval.obj": '{"b": 1}',
        "llmeval.nan": "nan",
    }


def test_sample_span_nests_children_after_the_fact() -> None:
    tracer, spans, _ = _tracer()
    with tracer.run_span("run-1", {"model": "openai/m"}) as run:
        pass
    # the model's call was prefetched before the item ran; scoring ran in the item
    with tracer.sample_span(
        "evals/eval_qa.yaml::q001",
        {"task": "qa", "sample_id": "q001", "slices": ["easy"]},
        start_time=T0 + 1.0,
        end_time=T0 + 1.5,
        parent=run,
    ) as sample:
        sample.model_call(
            "openai/gpt-4o-mini",
            start_time=T0,
            latency_ms=800.0,
            input_tokens=412,
            output_tokens=9,
            cached=False,
            finish_reason="stop",
        )
        sample.judge_call(
            "openai/judge", end_time=T0 + 1.2, latency_ms=300.0, input_tokens=700,
            output_tokens=20, score=4.67,
        )  # fmt: skip
        sample.scoring(
            start_time=T0 + 1.2,
            end_time=T0 + 1.3,
            scores={"qa_f1": {"value": 1.0, "passed": None}, "qa_exact_match": 0.0, "x": "n/a"},
            passed=False,
        )
        sample.set(passed=False, cached=False)
    tracer.force_flush()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert set(by_name) == {
        "llmeval.run",
        "llmeval.sample qa",
        "chat gpt-4o-mini",
        "chat judge",
        "llmeval.scoring",
    }
    root, item = by_name["llmeval.run"], by_name["llmeval.sample qa"]
    model, judge, scoring = (
        by_name["chat gpt-4o-mini"],
        by_name["chat judge"],
        by_name["llmeval.scoring"],
    )
    assert item.parent is not None and item.parent.span_id == root.context.span_id
    for child in (model, judge, scoring):
        assert child.parent is not None and child.parent.span_id == item.context.span_id
        assert child.context.trace_id == root.context.trace_id
    # explicit timestamps; the sample span stretches back to cover the prefetched call
    assert (model.start_time, model.end_time) == (otel.to_ns(T0), otel.to_ns(T0 + 0.8))
    assert (judge.start_time, judge.end_time) == (otel.to_ns(T0 + 0.9), otel.to_ns(T0 + 1.2))
    assert (scoring.start_time, scoring.end_time) == (otel.to_ns(T0 + 1.2), otel.to_ns(T0 + 1.3))
    assert (item.start_time, item.end_time) == (otel.to_ns(T0), otel.to_ns(T0 + 1.5))

    assert model.kind == SpanKind.CLIENT and scoring.kind == SpanKind.INTERNAL
    assert dict(model.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 412,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.response.finish_reasons": ("stop",),
        "llmeval.role": "model",
        "llmeval.model": "openai/gpt-4o-mini",
        "llmeval.cached": False,
        "llmeval.latency_ms": 800.0,
    }
    assert judge.attributes is not None and judge.attributes["llmeval.role"] == "judge"
    assert judge.attributes["llmeval.judge.score"] == 4.67
    assert judge.attributes["gen_ai.usage.input_tokens"] == 700
    assert dict(scoring.attributes or {}) == {
        "llmeval.score.qa_f1": 1.0,
        "llmeval.score.qa_exact_match": 0.0,
        "llmeval.passed": False,
    }
    assert dict(item.attributes or {}) == {
        "llmeval.nodeid": "evals/eval_qa.yaml::q001",
        "llmeval.task": "qa",
        "llmeval.sample_id": "q001",
        "llmeval.slices": ("easy",),
        "llmeval.passed": False,
        "llmeval.cached": False,
    }
    assert root.attributes is not None and root.attributes["llmeval.run_id"] == "run-1"
    assert root.resource.attributes["service.name"] == "pytest-llmeval"


def test_an_error_in_the_block_marks_the_span_and_propagates() -> None:
    tracer, spans, _ = _tracer()
    with pytest.raises(RuntimeError), tracer.sample_span("x::y") as sample:
        sample.model_call("hf/./ckpt", latency_ms=10.0)
        raise RuntimeError("scorer crashed")
    (model, item) = sorted(spans.get_finished_spans(), key=lambda s: s.name)
    assert item.name == "llmeval.sample" and item.status.status_code == StatusCode.ERROR
    assert item.events[0].name == "exception"
    assert model.attributes is not None and model.attributes["gen_ai.provider.name"] == "hf"
    assert model.parent is not None and model.parent.span_id == item.context.span_id
    assert item.parent is None  # no current span: a root


def _points(data: MetricsData | None) -> dict[str, list[tuple[dict[str, Any], float]]]:
    assert data is not None
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith("llmeval."):
                    continue  # the SDK's own metrics, which some versions record
                out[metric.name] = [
                    (dict(p.attributes or {}), float(p.value))  # type: ignore[union-attr]
                    for p in metric.data.data_points
                ]
    return out


def test_run_metrics_become_gauges_per_metric_and_task() -> None:
    tracer, _, reader = _tracer()
    result = {
        "run_id": "r1",
        "model": "openai/m",
        "metrics": {
            "qa": {
                "": {
                    "accuracy": {"value": 0.8, "lo": 0.6, "hi": 0.9, "n": 20},
                    "latency_p95_ms": {"value": 950.0, "n": 20},
                    "empty": {"value": None, "n": 0},
                },
                "hard": {"accuracy": {"value": 0.5, "lo": 0.2, "hi": 0.8, "n": 8}},
            },
            "json": {"": {"accuracy": {"value": 1.0, "lo": 0.7, "hi": 1.0, "n": 10}}},
        },
        "verdicts": [{"task": "qa", "metric": "accuracy", "passed": True}],
    }
    tracer.record_run_metrics(result)
    # one collection: before opentelemetry-sdk 1.41 a gauge set once is reported only once
    data = reader.get_metrics_data()
    points = _points(data)
    common = {"llmeval.model": "openai/m", "llmeval.run_id": "r1"}
    assert sorted(points["llmeval.accuracy"], key=lambda p: str(p[0])) == sorted(
        [
            ({**common, "llmeval.task": "qa", "llmeval.slice": ""}, 0.8),
            ({**common, "llmeval.task": "qa", "llmeval.slice": "hard"}, 0.5),
            ({**common, "llmeval.task": "json", "llmeval.slice": ""}, 1.0),
        ],
        key=lambda p: str(p[0]),
    )
    assert ({**common, "llmeval.task": "qa", "llmeval.slice": ""}, 0.6) in points[
        "llmeval.accuracy_lower"
    ]
    assert points["llmeval.latency_p95_ms"][0][1] == 950.0
    assert "llmeval.empty" not in points
    assert points["llmeval.threshold_passed"] == [
        ({**common, "llmeval.task": "qa", "llmeval.metric": "accuracy"}, 1.0)
    ]
    assert points["llmeval.gate_passed"] == [(common, 1.0)]
    assert data is not None
    units = {m.name: m.unit for sm in data.resource_metrics[0].scope_metrics for m in sm.metrics}
    assert units["llmeval.latency_p95_ms"] == "ms"
    tracer.shutdown()


_FROM_ENV = """
from pytest_llmeval.export.otel import Tracer
tracer = Tracer.from_env()
with tracer.sample_span("a::b") as s:
    s.set(task="qa")
tracer.shutdown()
"""


def test_from_env_uses_the_standard_variables() -> None:
    import os
    import subprocess

    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "evals-ci",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,team=ml%20eval",
    }
    run = [sys.executable, "-c", _FROM_ENV]
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert '"name": "llmeval.sample qa"' in out and '"llmeval.nodeid": "a::b"' in out
    assert '"service.name": "evals-ci"' in out and '"team": "ml eval"' in out
    quiet = {**env, "OTEL_SDK_DISABLED": "true"}
    out = subprocess.run(run, env=quiet, capture_output=True, text=True, check=True).stdout
    assert out == ""

    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER=nope: no such exporter"):
        otel.Tracer.from_env({"OTEL_TRACES_EXPORTER": "nope", "OTEL_METRICS_EXPORTER": "none"})
    with pytest.raises(ValueError, match="pip install opentelemetry-exporter-otlp"):
        otel.Tracer.from_env({"OTEL_TRACES_EXPORTER": "otlp_bogus"})
    tracer = otel.Tracer.from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    with tracer.sample_span("a::b"):
        pass
    tracer.shutdown()


def test_importing_the_module_does_not_import_the_sdk() -> None:
    import subprocess

    code = "import pytest_llmeval.export.otel, sys; print('opentelemetry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
