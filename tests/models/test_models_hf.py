"""Local models through the plugin: a tiny Llama built offline, fp32, 4-bit, 8-bit, LoRA.

Runs go through ``runpytest_subprocess``: torch and transformers cannot be re-imported
after pytester's in-process runs restore ``sys.modules``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from evalkit import EvalProject
from servers import Served

pytest_plugins = ["servers"]  # tiny_model and transformers_server, shared by the session

pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def tiny(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The session's tiny random Llama (tests/servers.py) and a LoRA adapter for it."""
    adapter = tinymodel.build_adapter(tiny_model, tmp_path_factory.mktemp("tiny") / "adapter")
    return {"model": tiny_model, "adapter": adapter}


def _run(project: EvalProject, model: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = project.pytester.runpytest_subprocess(
        "--model",
        f"hf/{model}",
        "--llmeval-db",
        str(project.db),
        "-p",
        "no:cacheprovider",
        "--max-tokens",
        "12",
        "--json-report",
        "--json-report-file=report.json",
        *args,
    )
    report = project.path / "report.json"
    return result, json.loads(report.read_text())["llmeval"] if report.exists() else {}


def _outputs(project: EvalProject) -> dict[str, str]:
    return {r["sample_id"]: r["output"] for r in project.results()}


def test_local_model_runs_batched_and_matches_batch_size_one(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    project.qa_suite(24)
    result, llm = _run(project, tiny["model"], "--llmeval-batch-size", "8")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 24
    engine = llm["engine"]
    assert engine["batches"] == 3 and engine["model_calls"] == 24
    batched = _outputs(project)
    rows = project.results()
    assert all(r["prompt_tokens"] > 10 and r["completion_tokens"] >= 1 for r in rows)
    assert {r["finish_reason"] for r in rows} <= {"stop", "length"}
    result, llm = _run(
        project, tiny["model"], "--llmeval-batch-size", "1", "--llmeval-cache", "off"
    )
    assert llm["engine"]["batches"] == 0
    assert _outputs(project) == batched  # greedy: batching changes nothing
    assert len(set(batched.values())) > 1  # and the model does answer differently


def test_quantized_and_adapter_models_are_distinct_cache_entries(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    project.qa_suite(6)
    outputs = {}
    for name, args in {
        "fp32": (),
        "nf4": ("--load-in-4bit",),
        "int8": ("--load-in-8bit",),
        "lora": ("--adapter", str(tiny["adapter"])),
    }.items():
        result, llm = _run(project, tiny["model"], *args)
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 6, result.stdout.str()
        assert llm["engine"]["cache_hits"] == 0  # never another configuration's answers
        outputs[name] = _outputs(project)
    assert project.query("SELECT COUNT(*) FROM cache")[0][0] == 24
    assert outputs["lora"] != outputs["fp32"]  # the adapter changes the answers
    # a rerun of one configuration is served from its own entries
    result, llm = _run(project, tiny["model"], "--adapter", str(tiny["adapter"]))
    assert llm["engine"]["cache_hits"] == 6 and _outputs(project) == outputs["lora"]


def test_xdist_loads_the_model_once_in_the_controller(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    project.qa_suite(12)
    project.pytester.makeconftest("""
        import os, sys
        def pytest_unconfigure(config):
            worker = getattr(config, "workerinput", {}).get("workerid", "controller")
            with open(f"torch-{worker}.txt", "w") as fh:
                fh.write(str("torch" in sys.modules))
    """)
    result, llm = _run(project, tiny["model"], "-n", "2")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 12
    assert llm["engine"]["batches"] >= 1
    assert (project.path / "torch-controller.txt").read_text() == "True"
    for worker in ("gw0", "gw1"):
        assert (project.path / f"torch-{worker}.txt").read_text() == "False"


def test_the_model_fixture_works_with_local_models(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    project.qa_suite(2)
    project.pytester.makepyfile(
        test_direct="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", name="direct")
        def test_direct(sample, model, llmeval_record):
            reply = model.generate(sample["question"], max_tokens=5)
            assert reply.completion_tokens <= 5 and reply.prompt_tokens > 0
            llmeval_record("answered", 1.0, passed=True)
    """
    )
    result, _ = _run(project, tiny["model"], "test_direct.py")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--load-in-4bit", "--load-in-8bit"], "exclude each other"),
        (["--adapter", "nowhere"], "no adapter_config.json"),
    ],
)
def test_bad_local_options_are_usage_errors(
    project: EvalProject, tiny: dict[str, Path], args: list[str], message: str
) -> None:
    project.qa_suite(2)
    result = project.pytester.runpytest("--model", f"hf/{tiny['model']}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_local_options_need_a_local_model(project: EvalProject) -> None:
    project.qa_suite(2)
    result = project.run("--load-in-4bit")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "load_in_4bit only apply to hf/ models" in result.stderr.str()


@pytest.mark.slow
def test_a_model_behind_transformers_serve(
    project: EvalProject, tiny: dict[str, Path], transformers_server: Served
) -> None:
    """The OpenAI-compatible path against a real local server (vLLM, llama.cpp and Ollama
    are reached the same way); tests/models/test_conformance.py runs one suite through every path."""
    assert transformers_server.model == str(tiny["model"])
    project.qa_suite(4)
    # the server is pinned to the path it was given: the model name is that path
    result = project.pytester.runpytest(
        "--model",
        f"openai/{transformers_server.model}",
        "--llmeval-base-url",
        transformers_server.base_url,
        "--llmeval-db",
        str(project.db),
        "--max-tokens",
        "8",
        "-p",
        "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 4, result.stdout.str()
    rows = project.results()
    assert all(r["completion_tokens"] and r["error"] is None for r in rows)
    # the server's own reason, from its real error body ({"detail": ...}), and a
    # configuration it rejects on every request ends the run at once (exit 4)
    result = project.pytester.runpytest(
        "--model",
        "openai/not-the-served-model",
        "--llmeval-base-url",
        transformers_server.base_url,
        "--llmeval-db",
        str(project.db),
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*HTTP 400 from http://127.0.0.1:*/v1: Server is pinned to '*'; requested "
            "'not-the-served-model'.*"
        ]
    )
    errors = [r["error"] for r in project.results() if r["error"]]
    assert errors and "Server is pinned to" in errors[0]
