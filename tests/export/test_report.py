"""The HTML report of a run made here: its structure, escaping and JSON diff, then the page as
headless Chromium renders it (a screenshot that is not blank, no console errors)."""

from __future__ import annotations

import base64
import html as html_lib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from evalkit import EvalProject

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (the report extra)")
import numpy as np

from pytest_llmeval.export.html import json_diff, write_report
from pytest_llmeval.result import Call, SampleResult
from pytest_llmeval.store.results import Results

REPO = Path(__file__).resolve().parents[2]


def _warm_up_matplotlib() -> None:
    """Draw once now, so that every matplotlib module a report imports lazily is imported
    before any pytester fixture: pytester restores ``sys.modules`` when a test ends, and a
    matplotlib submodule imported twice breaks its ``isinstance`` checks."""
    import matplotlib.image  # noqa: F401

    from pytest_llmeval.export.html import plots

    m = {"a": {"value": 0.5, "lo": 0.4, "hi": 0.6}}
    plots.interval_plot("warm-up", m, ["a"], m, thresholds={"a": (">=", 0.5)})
    plots.latency_histogram({"t": [1.0, 10.0, 100.0]})


_warm_up_matplotlib()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _demo() -> ModuleType:
    """scripts/report_screenshot.py: the demo project the README's screenshot shows."""
    spec = importlib.util.spec_from_file_location(
        "report_screenshot", REPO / "scripts" / "report_screenshot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BUILT: dict[str, Any] = {}


def _two_runs(project: EvalProject) -> tuple[ModuleType, Path, str, str]:
    """A baseline model's run, then a worse candidate gated against it: the database and
    the two run ids. Made once per module, by whichever test asks first (the runs are only
    read afterwards, and the pytester directory outlives its test)."""
    if not _BUILT:
        demo = _demo()
        project.server.configure(script=demo.write_demo_project(project.path, n_qa=18, n_json=12))
        judge = ["--judge-model", "openai/judge", "--judge-base-url", project.server.base_url]
        project.run(*judge, model=f"openai/{demo.BASELINE_MODEL}")
        base = project.runs()[0]["id"]
        project.run(*judge, "--llmeval-baseline", base, model=f"openai/{demo.CANDIDATE_MODEL}")
        runs = project.runs()
        assert [r["status"] for r in runs] == ["complete", "complete"]
        _BUILT.update(demo=demo, db=project.db, base=runs[0]["id"], cand=runs[1]["id"])
    return _BUILT["demo"], _BUILT["db"], _BUILT["base"], _BUILT["cand"]


class _Page(HTMLParser):
    """Tags, ids and resource attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.resources: list[str] = []  # src and href values

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("src", "href") and value is not None:
                self.resources.append(value)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _article(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start : html.index("</article>", start)]


def test_json_diff_classifies_fields() -> None:
    expected = {"name": "Ann", "age": 30, "tags": ["a", "b"], "city": "Oslo"}
    output = 'Sure:\n```json\n{"name": "Ann ", "age": 31.0, "tags": ["a"], "zip": "0150"}\n```'
    rows, how = json_diff(expected, output)
    status = {r["path"]: r["status"] for r in rows}
    assert how == "fence"
    assert status == {
        "name": "match",  # canonicalized like the scorers: whitespace
        "age": "wrong",
        "tags.0": "match",
        "tags.1": "missing",
        "city": "missing",
        "zip": "extra",
    }
    rows, how = json_diff(expected, "no JSON here")
    assert "no parseable JSON" in how and {r["status"] for r in rows} == {"missing"}


def test_report_of_a_gated_run(project: EvalProject, tmp_path: Path) -> None:
    demo, db, base_id, cand_id = _two_runs(project)
    out = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_llmeval.cli",
            "--db",
            str(db),
            "report",
            "latest",
            "--html",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    html = out.read_text(encoding="utf-8")
    page = _parse(html)

    # one self-contained file: no script, no external resource, figures inline
    assert "script" not in page.tags
    assert all(r.startswith(("data:image/png;base64,", "#")) for r in page.resources), (
        page.resources
    )
    assert "url(" not in html and "@import" not in html
    images = [r for r in page.resources if r.startswith("data:")]
    assert len(images) >= 7  # metrics and slices per task, judge scores, latency
    assert base64.b64decode(images[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Content-Security-Policy" in html

    # sections and the run header
    for section in ("run", "gate", "baseline", "tasks", "latency", "samples"):
        assert section in page.ids
    for task in ("json_extraction", "qa", "qa_judged"):
        assert f"task::{task}" in page.ids
    assert f"llmeval report: openai/{demo.CANDIDATE_MODEL}" in html and cand_id in html
    assert "data/qa.jsonl" in html and "not a git checkout" in html
    assert "gate FAILED" in html and "baseline REGRESSION" in html

    # an output that is HTML stays text
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;llmeval&#x27;)&lt;/script&gt; c5x" in html
    assert "Unknown &lt;b&gt;name&lt;/b&gt;" in html and "<b>name</b>" not in html

    # the worst samples: side by side, a field diff for JSON, the judge's rationale
    card = _article(html, "sample::json_extraction::je-test-0002")
    assert "<h4>Prompt</h4>" in card and "<h4>Output</h4>" in card and "<h4>Expected</h4>" in card
    assert re.search(r'<tr class="wrong"><td><code>product_name</code>', card)
    assert re.search(r'<tr class="missing"><td><code>in_stock</code>', card)
    assert re.search(r'<tr class="extra"><td><code>notes</code>', card)
    assert card.count('<tr class="match">') == 3
    assert "output parsed (fence): 3 match, 1 wrong, 1 missing, 1 extra" in card
    card = _article(html, "sample::json_extraction::je-test-0004")
    assert "The output has no JSON to compare" in card
    card = _article(html, "sample::qa_judged::q002")
    assert "judge rationale" in card and "does not give the code c2x" in card
    assert "correctness 1" in card

    # the baseline: verdicts, flipped samples with both outputs
    assert f"baseline <code>{base_id}</code> &rarr; candidate <code>{cand_id}</code>" in html
    assert "REGRESSION" in html and "pass &rarr; fail" in html
    flips = html[html.index('id="baseline"') : html.index('id="tasks"')]
    assert '<a href="#sample::json_extraction::je-test-0002">' in flips
    assert "Baseline values and deltas from run" in html and " pt</span>" in html

    # write_report, as the plugin calls it: an explicit baseline gets a fresh comparison
    with Results(db) as results:
        path = write_report(results, base_id, tmp_path / "rev.html", baseline=cand_id)
    reverse = path.read_text(encoding="utf-8")
    assert f"baseline <code>{cand_id}</code> &rarr; candidate <code>{base_id}</code>" in reverse
    assert "IMPROVEMENT" in reverse or "improved" in reverse


PROBE = """<script>
window.__probe = [];
function __note(m) { window.__probe.push(String(m)); }
window.addEventListener('error', function (e) {
  var t = e.target;
  __note(t && t !== window && (t.src || t.href) ? 'failed to load ' + (t.src || t.href)
                                               : 'error: ' + e.message);
}, true);
window.addEventListener('unhandledrejection', function (e) { __note('rejection: ' + e.reason); });
document.addEventListener('securitypolicyviolation', function (e) {
  __note('CSP blocked ' + e.blockedURI + ' (' + e.violatedDirective + ')');
});
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () {
    __note('console.' + level + ': ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
});
window.addEventListener('load', function () { setTimeout(__report, 100); });
function __report() {
  var broken = Array.prototype.filter.call(document.images, function (i) {
    return !(i.complete && i.naturalWidth > 0);
  }).length;
  var out = document.createElement('pre');
  out.id = 'llmeval-probe';
  out.textContent = JSON.stringify({problems: window.__probe, images: document.images.length,
                                    broken: broken, scripts: document.scripts.length});
  document.body.appendChild(out);
}
</script>"""


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    demo = _demo()
    return subprocess.run(
        [CHROMIUM or "chromium", *demo.CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(project: EvalProject, tmp_path: Path) -> None:
    demo, db, _, cand_id = _two_runs(project)
    report = write_report(db, cand_id, tmp_path / "report.html")
    html = report.read_text(encoding="utf-8")

    # 1. the page as a person sees it: a screenshot with real content
    png = tmp_path / "shot.png"
    shot = demo.screenshot(report, png, size=(1200, 2000))
    assert png.exists(), shot.stderr[-3000:]
    import matplotlib.image

    pixels = (matplotlib.image.imread(str(png))[..., :3] * 255).astype(np.uint8)
    assert pixels.shape[:2] == (2000, 1200)
    rgb = pixels.reshape(-1, 3).astype(np.uint32)
    colours = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])
    assert len(colours) > 200, f"only {len(colours)} colours: a blank page?"
    assert (pixels.min(axis=2) < 200).mean() > 0.03  # ink, not just background
    # the browser's own log: every console message (an uncaught error, console.error, a CSP
    # violation) is a CONSOLE line on stderr; a page without script should log none
    assert _console(shot.stderr) == []

    # 2. the same page with a probe in front of the report's own CSP: every JS error, failed
    # or blocked load (anything external) and console.error/warn, written into the DOM
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    dom = _chromium(
        "--virtual-time-budget=2000",
        "--dump-dom",
        probed.resolve().as_uri(),
        profile=tmp_path / "profile",
    )
    match = re.search(r'<pre id="llmeval-probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stderr[-3000:]
    result: dict[str, Any] = json.loads(html_lib.unescape(match.group(1)))
    assert result["problems"] == []
    assert result["images"] >= 7 and result["broken"] == 0
    assert result["scripts"] == 1  # the probe; the output '<script>' stayed text
    assert "&lt;script&gt;alert(" in dom.stdout

    # 3. both checks catch a page with an external image and a script
    bad = tmp_path / "bad.html"
    bad.write_text(
        html.replace("<head>", "<head>" + PROBE, 1)
        .replace("</main>", '<img src="https://example.invalid/x.png"><p>x</p></main>')
        .replace("</body>", "<script>undefinedFunction()</script></body>"),
        encoding="utf-8",
    )
    logged = _console(demo.screenshot(bad, tmp_path / "bad.png", size=(400, 300)).stderr)
    assert any("example.invalid" in line for line in logged), logged
    assert any("inline script" in line for line in logged), logged
    dom = _chromium(
        "--virtual-time-budget=2000", "--dump-dom", bad.resolve().as_uri(), profile=tmp_path / "p2"
    )
    match = re.search(r'<pre id="llmeval-probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stderr[-3000:]
    problems = json.loads(html_lib.unescape(match.group(1)))["problems"]
    assert any("CSP blocked https://example.invalid" in p for p in problems), problems
    assert any("CSP blocked inline" in p or "undefinedFunction" in p for p in problems), problems


def test_render_without_plots_errors_or_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmeval.export.html import html as report_html
    from pytest_llmeval.export.html import plots
    from pytest_llmeval.store.results import Run

    run = Run(
        id="r1",
        started_at="2026-01-01T00:00:00.000000Z",
        status="interrupted",
        partial=True,
        model="hf/./ckpt",
        metrics={"qa": {"": {"error_rate": {"value": 0.5, "lo": 0.1, "hi": 0.9, "n": 2}}}},
    )
    rows = [
        SampleResult(
            nodeid="e.yaml::a&b",
            task="qa",
            sample_id="a&b",
            error="HTTP 500 <html>",
            error_kind="model",
            prompt="not JSON <p>",
            expected='["x", "y"]',
        ),
        SampleResult(
            nodeid="e.yaml::c",
            task="qa",
            sample_id="c",
            passed=True,
            model=Call(output="x", cached=True, latency_ms=0.1, original_latency_ms=900.0),
            expected="x",
        ),
    ]
    monkeypatch.setattr(plots, "available", lambda: False)
    html = report_html.render(run, rows)
    page = _parse(html)
    assert "img" not in page.tags and "Plots need matplotlib" in html
    assert "No thresholds configured" in html and "No baseline comparison" in html
    assert "partial" in html and "running" in html  # no finished_at yet
    card = _article(html, "sample::qa::a~26b")
    assert "ERROR" in card and "HTTP 500 &lt;html&gt;" in card and "not JSON &lt;p&gt;" in card
    assert "JSON fields" not in card  # an errored sample has no output to compare
    # the cached row's latency is its original one
    assert "<td class=num>900</td>" in html

    empty = Run(id="r2", started_at="2026-01-01T00:00:00.000000Z", status="aborted")
    html = report_html.render(empty, [])
    assert "No metrics." in html and "No samples." in html and "No latencies." in html
