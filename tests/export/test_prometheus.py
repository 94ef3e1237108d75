"""The Prometheus exporter: text exposition parsed back, a textfile, a Pushgateway push."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from evalkit import EvalProject

pytest.importorskip("prometheus_client", reason="the prometheus exporter needs prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

from pytest_llmeval.export import EXPORTERS, prometheus
from pytest_llmeval.result import Call, SampleResult
from pytest_llmeval.store.results import Run


def _run() -> Run:
    m = {"value": 0.75, "lo": 0.3, "hi": 0.95, "n": 4, "method": "wilson"}
    return Run(
        id="20260101T000000Z-abcd",
        started_at="2026-01-01T00:00:00.000000Z",
        finished_at="2026-01-01T00:00:30.500000Z",
        status="complete",
        model="openai/m",
        git_commit="deadbeef",
        git_dirty=False,
        plugin_version="0.1.0",
        metrics={
            "qa": {
                "": {
                    "accuracy": m,
                    "my-score": {"value": 2.5, "lo": None, "hi": None, "n": 4},
                    "weird_total": {"value": 7.0, "n": 4},
                    "latency_p50_ms": {"value": 120.0, "n": 3},
                    "prompt_tokens_total": {"value": 40.0, "n": 4},
                    "nan_metric": {"value": float("nan"), "n": 4},
                },
                "hard": {"accuracy": {"value": 0.5, "lo": 0.1, "hi": 0.9, "n": 2}},
            }
        },
        verdicts=[
            {"task": "qa", "metric": "accuracy", "op": ">=", "threshold": 0.7, "passed": True},
            {"task": "qa", "metric": "f1", "op": ">=", "threshold": 0.9, "passed": False},
        ],
    )


def _samples() -> list[SampleResult]:
    def sample(
        sid: str, passed: bool | None, error: str | None = None, **call: Any
    ) -> SampleResult:
        model = Call(prompt_tokens=10, completion_tokens=2, **call)
        kind = "model" if error else None
        return SampleResult(f"qa::{sid}", "qa", sid, passed=passed, error=error,
                            error_kind=kind, model=model)  # fmt: skip

    return [
        sample("a", True, latency_ms=40.0),
        sample("b", False, latency_ms=700.0),
        # a cache hit: its own latency is the lookup's; the histogram uses the original
        sample("c", True, cached=True, latency_ms=0.2, original_latency_ms=3000.0),
        sample("d", None, "HTTP 500", latency_ms=9.0),
    ]


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family: Any, name: str | None = None, **labels: str) -> float:
    for s in family.samples:
        if (name is None or s.name == name) and all(
            s.labels.get(k) == v for k, v in labels.items()
        ):
            return float(s.value)
    raise AssertionError(f"no sample {name} {labels} in {family.name}")


def test_text_exposition_parses_back_with_the_values() -> None:
    assert EXPORTERS["prometheus"] is prometheus.write
    text = prometheus.render(_run(), _samples())
    fams = _families(text)
    run = {"model": "openai/m", "run": "20260101T000000Z-abcd"}

    acc = fams["llmeval_accuracy"]
    assert acc.type == "gauge"
    assert _value(acc, task="qa", slice="", **run) == 0.75
    assert _value(acc, task="qa", slice="hard", **run) == 0.5
    assert _value(fams["llmeval_accuracy_lower"], slice="") == 0.3
    assert _value(fams["llmeval_accuracy_upper"], slice="") == 0.95
    # sanitized names; reserved suffixes avoided; no bounds where there are none
    assert _value(fams["llmeval_my_score"], slice="") == 2.5
    assert "llmeval_my_score_lower" not in fams
    assert _value(fams["llmeval_weird_total_value"]) == 7.0
    # latencies and tokens are not gauges; NaN is left out
    assert not any(n.startswith(("llmeval_latency_p50", "llmeval_prompt_tokens")) for n in fams)
    assert "llmeval_nan_metric" not in fams

    samples = fams["llmeval_samples"]  # the parser strips _total from counter families
    assert samples.type == "counter"
    counts = {s.labels["outcome"]: s.value for s in samples.samples if s.name.endswith("_total")}
    assert counts == {"passed": 2.0, "failed": 1.0, "error": 1.0}

    hist = fams["llmeval_latency_seconds"]
    assert hist.type == "histogram"
    assert _value(hist, "llmeval_latency_seconds_count", task="qa") == 3  # the error left out
    assert _value(hist, "llmeval_latency_seconds_sum") == pytest.approx(0.04 + 0.7 + 3.0)
    assert _value(hist, "llmeval_latency_seconds_bucket", le="0.05") == 1
    assert _value(hist, "llmeval_latency_seconds_bucket", le="1.0") == 2
    assert _value(hist, "llmeval_latency_seconds_bucket", le="2.5") == 2  # cached: 3 s
    assert _value(hist, "llmeval_latency_seconds_bucket", le="5.0") == 3
    assert _value(hist, "llmeval_latency_seconds_bucket", le="+Inf") == 3

    tokens = fams["llmeval_tokens"]
    assert _value(tokens, "llmeval_tokens_total", kind="prompt") == 40
    assert _value(tokens, "llmeval_tokens_total", kind="completion") == 8
    assert "llmeval_judge_tokens" not in fams and "llmeval_judge_latency_seconds" not in fams

    assert _value(fams["llmeval_threshold_passed"], metric="accuracy") == 1
    assert _value(fams["llmeval_threshold_passed"], metric="f1") == 0
    assert _value(fams["llmeval_gate_passed"], **run) == 0
    info = fams["llmeval_run_info"].samples[0]
    assert info.value == 1 and info.labels["git_commit"] == "deadbeef"
    assert info.labels["status"] == "complete" and info.labels["partial"] == "false"
    assert _value(fams["llmeval_run_duration_seconds"]) == pytest.approx(30.5)
    assert "_created" not in text  # no creation-time series in a textfile


def test_gauge_names_never_collide() -> None:
    names = prometheus.gauge_names(["a-b", "a_b", "x_lower", "x", "samples", "9lives", "c_count"])
    assert len(set(names.values())) == len(names)
    assert names["9lives"] == "_9lives" and names["c_count"] == "c_count_value"
    assert names["samples"] == "samples_value"  # llmeval_samples_total is the counter
    # 'x' would own llmeval_x_lower, which the metric 'x_lower' already is
    assert names["x_lower"] == "x_lower" and names["x"] == "x_value"


def test_textfile_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "llmeval.prom"
    prometheus.write_textfile(_run(), _samples(), path)
    assert _value(_families(path.read_text())["llmeval_accuracy"], slice="") == 0.75
    assert [p.name for p in tmp_path.iterdir()] == ["llmeval.prom"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, bytes]]] = []

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).requests.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def test_push_to_a_pushgateway(gateway: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, seen = gateway
    prometheus.push(_run(), _samples(), url, job="nightly")
    assert len(seen) == 1
    method, path, body = seen[0]
    assert method == "PUT"  # replaces the group's previous push
    # the grouping key holds the model; '/' in a value is sent base64-encoded
    assert path == "/metrics/job/nightly/model@base64/b3BlbmFpL20="
    fams = _families(body.decode())
    assert _value(fams["llmeval_accuracy"], slice="") == 0.75
    assert "llmeval_latency_seconds" in fams

    prometheus.push(_run(), _samples(), url, grouping_key={"suite": "qa"})
    assert seen[1][1] == "/metrics/job/llmeval/suite/qa"


def test_llmeval_export_prometheus_of_a_real_run(project: EvalProject) -> None:
    project.qa_suite(6, wrong={"q001", "q004"})
    project.run()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_llmeval.cli",
            "--db",
            str(project.db),
            "export",
            "latest",
            "--format",
            "prometheus",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fams = _families(out)
    run_id = project.runs()[-1]["id"]
    acc = fams["llmeval_accuracy"]
    assert _value(acc, task="qa", slice="", model="openai/test-model", run=run_id) == 4 / 6
    counts = {
        s.labels["outcome"]: s.value
        for s in fams["llmeval_samples"].samples
        if s.name == "llmeval_samples_total"
    }
    assert counts == {"passed": 4.0, "failed": 2.0, "error": 0.0}
    hist = fams["llmeval_latency_seconds"]
    assert _value(hist, "llmeval_latency_seconds_count", task="qa") == 6
    assert _value(fams["llmeval_tokens"], "llmeval_tokens_total", kind="prompt") > 0
