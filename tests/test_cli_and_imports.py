from __future__ import annotations

import subprocess
import sys

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
    project.qa_suite(3)
    project.pytester.makeconftest("""
        import sys
        def pytest_unconfigure(config):
            open("modules.txt", "w").write(" ".join(
                m for m in ("torch", "transformers", "openai") if m in sys.modules))
    """)
    result = project.pytester.runpytest_subprocess(*project.args())
    result.assert_outcomes(passed=3)
    assert (project.path / "modules.txt").read_text() == "openai"


def test_llmeval_runs_lists_and_filters(project: EvalProject) -> None:
    project.qa_suite(4, wrong={"q001"})
    project.run()
    project.run("-k", "q002")
    cmd = [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db)]
    out = subprocess.run([*cmd, "runs"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["run", "status", "n", "model", "started"]
    assert "complete*" in lines[1] and " 1 " in lines[1]  # newest first, partial
    assert "complete " in lines[2] and " 4 " in lines[2]
    assert "* partial" in lines[-1]
    out = subprocess.run(
        [*cmd, "runs", "--model", "nomatch"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "no runs"
    missing = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.path / "nope.db"), "runs"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no results database" in missing.stderr
