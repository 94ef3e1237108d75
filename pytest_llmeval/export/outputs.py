"""What a finished run is written to besides SQLite and the terminal: exporter files,
the HTML report, a Prometheus Pushgateway, OpenTelemetry spans and metrics. Controller
only; each output imports its library when it is used."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.result import SampleResult

OTEL_ENV = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@dataclass(frozen=True)
class OutputSpec:
    exports: tuple[tuple[str, Path], ...] = ()  # (format, path)
    report: Path | None = None
    push_gateway: str | None = None
    otel: bool = False


def parse(
    exports: list[str], report: str | None, gateway: str | None, otel: bool, rootdir: Path
) -> OutputSpec:
    """Validate the output options (ValueError, one line, naming the option)."""
    from pytest_llmeval.export import EXPORTERS

    parsed = []
    for spec in exports:
        fmt, _, path = spec.partition(":")
        if fmt not in EXPORTERS or not path:
            known = ", ".join(sorted(EXPORTERS))
            raise ValueError(
                f"--llmeval-export {spec!r}: expected FORMAT:PATH with FORMAT one of {known}"
            )
        parsed.append((fmt, _path(path, rootdir)))
    report_path = None
    if report is not None:
        kind, _, path = report.partition(":")
        if kind != "html" or not path:
            raise ValueError(f"--llmeval-report {report!r}: expected html:PATH")
        report_path = _path(path, rootdir)
    enabled = otel or any(os.environ.get(v) for v in OTEL_ENV)
    if enabled:
        import importlib.util

        if importlib.util.find_spec("opentelemetry.sdk") is None:
            raise ValueError(
                "OpenTelemetry export needs the SDK: pip install "
                "'pytest-llmeval[otel]' (or unset OTEL_TRACES_EXPORTER)"
            )
    return OutputSpec(tuple(parsed), report_path, gateway, enabled)


def _path(text: str, rootdir: Path) -> Path:
    p = Path(text)
    return p if p.is_absolute() else rootdir / p


class Outputs:
    """Streams a span per sample as rows arrive; writes files at the end."""

    def __init__(self, spec: OutputSpec, model: str | None, judge: str | None) -> None:
        self.spec = spec
        self.model, self.judge = model, judge
        self._tracer: Any = None
        if spec.otel:
            from pytest_llmeval.export.otel import Tracer

            self._tracer = Tracer.from_env()

    def sample(self, result: SampleResult) -> None:
        """One span per sample: the model call, the judge's call, the scoring as children."""
        if self._tracer is None:
            return
        attrs = {
            "task": result.task,
            "sample_id": result.sample_id,
            "nodeid": result.nodeid,
            "passed": result.passed,
            "cached": result.model.cached if result.model else None,
            "error": result.error,
            "worker": result.worker,
        }
        with self._tracer.sample_span(result.nodeid, attrs) as span:
            if result.model is not None and result.model.started_at is not None:
                span.call("model", self.model, result.model)
            if result.judge is not None and result.judge.started_at is not None:
                judge = result.scores.get("judge") or {}
                span.call("judge", self.judge, result.judge, score=judge.get("value"))
            if result.scored_at is not None:
                span.scoring(
                    start_time=result.scored_at[0],
                    end_time=result.scored_at[1],
                    scores=result.scores,
                    passed=result.passed,
                )

    def finish(self, result: dict[str, Any], db: Path, run_id: str) -> list[str]:
        """Write every configured output; returns a line per output for the summary."""
        lines: list[str] = []
        if self._tracer is not None:
            self._tracer.record_run_metrics(result)
            self._tracer.shutdown()
            lines.append("llmeval: OpenTelemetry spans and metrics exported")
        if not (self.spec.exports or self.spec.report or self.spec.push_gateway):
            return lines
        from pytest_llmeval.store.results import Results

        with Results(db) as results:
            run = results.run(run_id)
            samples = results.samples(run_id)
            for fmt, path in self.spec.exports:
                from pytest_llmeval.export import export

                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("w", encoding="utf-8", newline="") as fh:
                    export(fmt, run, samples, fh)
                lines.append(f"llmeval: wrote {fmt} export {path}")
            if self.spec.report is not None:
                from pytest_llmeval.export.html import write_report

                write_report(results, run_id, self.spec.report)
                lines.append(f"llmeval: wrote HTML report {self.spec.report}")
            if self.spec.push_gateway:
                from pytest_llmeval.export.prometheus import push

                push(run, samples, self.spec.push_gateway)
                lines.append(f"llmeval: pushed metrics to {self.spec.push_gateway}")
        return lines
