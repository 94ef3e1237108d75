from __future__ import annotations

import csv
import json
import subprocess
import sys
from typing import Any

from evalkit import EvalProject

HEAVY = ("torch", "transformers", "bitsandbytes", "peft", "openai", "numpy")


def _modules_after(code: str) -> list[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}; import sys; print(sorted(m for m in {HEAVY!r} "
            "if m in sys.modules) + (['pytest'] if 'pytest' in sys.modules else []))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return eval(out.stdout)  # a printed list of names


def test_importing_the_plugin_is_cheap() -> None:
    assert _modules_after("import pytest_llmeval.plugin") == ["pytest"]


def test_the_cli_never_imports_pytest() -> None:
    assert _modules_after("import pytest_llmeval.cli") == []


def test_an_api_model_run_never_imports_torch(project: EvalProject) -> None:
    """Nor the openai SDK: requests go out on its wire format through aiohttp (importing
    the SDK alone was about half of a short run's wall time)."""
    project.qa_suite(3)
    project.pytester.makeconftest("""
        import sys
        def pytest_unconfigure(config):
            open("modules.txt", "w").write(" ".join(
                m for m in ("torch", "transformers", "openai", "aiohttp") if m in sys.modules))
    """)
    result = project.pytester.runpytest_subprocess(*project.args())
    result.assert_outcomes(passed=3)
    assert (project.path / "modules.txt").read_text() == "aiohttp"


def test_the_sdk_transport_is_still_there(project: EvalProject, monkeypatch: Any) -> None:
    """LLMEVAL_OPENAI_TRANSPORT=sdk (or no aiohttp) sends through the openai SDK."""
    monkeypatch.setenv("LLMEVAL_OPENAI_TRANSPORT", "sdk")
    project.qa_suite(3, wrong={"q001"})
    project.pytester.makeconftest("""
        import sys
        def pytest_unconfigure(config):
            open("modules.txt", "w").write(" ".join(
                m for m in ("torch", "openai") if m in sys.modules))
    """)
    result = project.pytester.runpytest_subprocess(*project.args())
    result.assert_outcomes(passed=2, failed=1)
    assert (project.path / "modules.txt").read_text() == "openai"


def test_llmeval_runs_lists_and_filters(project: EvalProject) -> None:
    project.qa_suite(4, wrong={"q001"}, extra="thresholds:\n  accuracy: '>=0.5'\n")
    project.run()
    project.run("-k", "q002")
    project.server.configure(error_rate=1.0, error_codes=[500])
    project.run("--llmeval-max-retries", "0", "--llmeval-cache", "off")
    cmd = [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db)]
    out = subprocess.run([*cmd, "runs"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["run", "status", "verdict", "exit", "n", "model", "started"]
    # newest first: a run that crashed on its server does not look like a good one
    assert lines[1].split()[1:6] == ["errored", "not", "evaluated", "6", "4"]
    assert lines[2].split()[1:5] == ["complete*", "-", "0", "1"]  # a selection: not gated
    assert lines[3].split()[1:5] == ["complete", "passed", "0", "4"]
    assert "* partial: not every sample of every suite ran" in out
    assert "errored: 4 of 4 samples errored (error budget: none): HTTP 500" in out
    for args, n in (
        (["--verdict", "not evaluated"], 1),
        (["--verdict", "passed"], 1),
        (["--exit", "6"], 1),
        (["--status", "complete", "--full"], 1),
    ):
        found = subprocess.run([*cmd, "runs", "--ids", *args], capture_output=True, text=True)
        assert len(found.stdout.split()) == n, (args, found.stdout)
    out = subprocess.run(
        [*cmd, "runs", "--model", "nomatch"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "no runs match"
    bad = subprocess.run([*cmd, "runs", "--status", "passed"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'passed'" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.path / "nope.db"), "runs"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no results database" in missing.stderr


def _cli(project: EvalProject, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db), *args],
        capture_output=True,
        text=True,
    )


def test_llmeval_show_compare_and_export(project: EvalProject) -> None:
    from evalkit import answers, qa_records, write_jsonl

    ids = [f"q{i:03d}" for i in range(200)]
    records = qa_records(200)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>=0.5'\n"
    )
    project.server.configure(
        script={
            "models": {
                "good": answers(records, ids[::20]),
                "worse": answers(records, ids[::20] + ids[1::8]),
            }
        }
    )
    project.run(model="openai/good")
    plugin = project.run(f"--llmeval-baseline={project.runs()[0]['id']}", model="openai/worse")
    base, cand = (r["id"] for r in project.runs())

    show = _cli(project, "show", cand[:-1], "--worst", "3")  # a unique prefix
    assert show.returncode == 0, show.stderr
    out = show.stdout
    assert f"run {cand}: complete" in out and "accuracy" in out and "95% interval" in out
    assert "worst samples (3 shown):" in out and "qa_exact_match: expected" in out
    assert "gate: PASSED (1/1 thresholds met)" in out and "REGRESSION" in out
    # what was actually sent (the README promises it)
    assert "sent (model, 200 requests): max_tokens=64, temperature=0.0" in out

    cmp = _cli(project, "compare", base, cand, "--md", str(project.path / "c.md"))
    assert cmp.returncode == plugin.ret == 1  # the same verdict as the plugin's gate
    assert "qa: prompt tokens 8," in cmp.stdout and "completion tokens" in cmp.stdout
    assert "REGRESSION" in cmp.stdout and (project.path / "c.md").read_text().startswith("###")
    assert _cli(project, "compare", base, base).returncode == 0
    assert _cli(project, "compare", base, cand, "--fail", "accuracy:-30%").returncode == 0
    bad = _cli(project, "compare", base, cand, "--fail", "accuracy")
    assert bad.returncode == 2 and "accuracy" in bad.stderr
    data = json.loads(_cli(project, "compare", base, cand, "--json").stdout)
    assert data["failed"] is True and len(data["tasks"][0]["pass_to_fail"]) == 25

    csv_out = project.path / "samples.csv"
    assert _cli(project, "export", cand, "--format", "csv", "-o", str(csv_out)).returncode == 0
    rows = list(csv.DictReader(csv_out.open()))
    assert len(rows) == 200 and rows[0]["run_id"] == cand and "score.qa_f1" in rows[0]
    metrics = _cli(project, "export", "latest", "--format", "csv-metrics").stdout.splitlines()
    assert metrics[0].startswith("run_id,model,task,slice,metric")
    dumped = json.loads(_cli(project, "export", cand, "--format", "json").stdout)
    assert dumped["run"]["id"] == cand and len(dumped["samples"]) == 200
    assert _cli(project, "show", "nope").returncode == 2
