"""The plugin's output options end to end: exporter files, the HTML report, a Pushgateway,
OpenTelemetry spans."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from evalkit import EvalProject


def test_exports_and_report_are_written_at_session_end(project: EvalProject) -> None:
    pytest.importorskip("prometheus_client")
    pytest.importorskip("matplotlib")
    from prometheus_client.parser import text_string_to_metric_families

    project.qa_suite(6, wrong={"q002"})
    result = project.run(
        "--llmeval-export",
        "csv:out/samples.csv",
        "--llmeval-export",
        "prometheus:out/m.prom",
        "--llmeval-export",
        "json:out/run.json",
        "--llmeval-report",
        "html:out/report.html",
    )
    result.stdout.fnmatch_lines(
        ["llmeval: wrote csv export *samples.csv", "llmeval: wrote HTML report *report.html"]
    )
    out = project.path / "out"
    run_id = project.runs()[-1]["id"]
    assert len((out / "samples.csv").read_text().splitlines()) == 7
    assert json.loads((out / "run.json").read_text())["run"]["id"] == run_id
    families = {f.name: f for f in text_string_to_metric_families((out / "m.prom").read_text())}
    overall = [s for s in families["llmeval_accuracy"].samples if s.labels["slice"] == ""]
    assert overall[0].value == pytest.approx(5 / 6) and overall[0].labels["run"] == run_id
    html = (out / "report.html").read_text()
    assert run_id in html and "<html" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llmeval-export", "xml:out.xml"], "expected FORMAT:PATH with FORMAT one of"),
        (["--llmeval-report", "pdf:r.pdf"], "expected html:PATH"),
    ],
)
def test_bad_output_options_are_usage_errors(
    project: EvalProject, args: list[str], message: str
) -> None:
    project.qa_suite(2)
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_metrics_are_pushed_to_a_pushgateway(project: EvalProject) -> None:
    pytest.importorskip("prometheus_client")
    received: list[tuple[str, str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(("PUT", self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        project.qa_suite(3)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = project.run("--llmeval-push-gateway", url)
        result.stdout.fnmatch_lines([f"llmeval: pushed metrics to {url}"])
    finally:
        server.shutdown()
    ((_, path, body),) = received
    assert path.startswith("/metrics/job/llmeval") and b"llmeval_accuracy" in body


def test_opentelemetry_spans_per_sample(
    project: EvalProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    project.qa_suite(3)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    result = project.pytester.runpytest_subprocess(*project.args("-s"))
    result.assert_outcomes(passed=3)
    text = result.stdout.str()
    spans = _json_objects(text)
    samples = [s for s in spans if s["name"].startswith("llmeval.sample")]
    calls = [s for s in spans if s["name"].startswith("chat ")]
    assert len(samples) == 3 and len(calls) == 3
    call = calls[0]
    assert call["attributes"]["gen_ai.request.model"] == "test-model"
    assert call["attributes"]["gen_ai.usage.input_tokens"] > 0
    parents = {s["context"]["span_id"] for s in samples}
    assert all(c["parent_id"] in parents for c in calls)


def _json_objects(text: str) -> list[dict[str, Any]]:
    """The console exporter prints one JSON object per span, pretty-printed."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while (i := text.find("{\n", i)) >= 0:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict) and "name" in obj and "context" in obj:
            out.append(obj)
        i = end
    return out
