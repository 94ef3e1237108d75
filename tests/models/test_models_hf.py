"""Local models through the plugin: a tiny Llama built offline, fp32, 4-bit, 8-bit, LoRA.

Runs go through ``runpytest_subprocess``: torch and transformers cannot be re-imported
after pytester's in-process runs restore ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import tinymodel
from evalkit import EvalProject, qa_records, write_jsonl
from servers import Served

from pytest_llmeval.models import ModelSettings, create_model
from pytest_llmeval.models.base import Completion, GenerateParams

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
    return result, json.loads(report.read_text()).get("llmeval", {}) if report.exists() else {}


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
    # loading is announced under pytest's capture: what, where, how long, how much memory
    result.stderr.fnmatch_lines(
        [
            f"llmeval: loading hf/{tiny['model']} (float32, cpu) ...",
            f"llmeval: loaded hf/{tiny['model']} in * s, 0.* MB",
        ]
    )
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
    result, llm = _run(project, tiny["model"], f"--adapter={tiny['adapter']}")
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
    assert result.stderr.str().count("llmeval: loading hf/") == 1
    assert result.stderr.str().count("llmeval: loaded hf/") == 1
    for worker in ("gw0", "gw1"):
        assert (project.path / f"torch-{worker}.txt").read_text() == "False"


def test_the_model_fixture_works_with_local_models(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    project.qa_suite(2)
    project.pytester.makepyfile(
        test_direct="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", name="direct",
                             thresholds={"answered": ">=1"})
        def test_direct(sample, model, llmeval_record):
            reply = model.generate(sample["question"], max_tokens=5)
            assert reply.completion_tokens <= 5 and reply.prompt_tokens > 0
            llmeval_record("answered", 1.0, passed=True)
    """
    )
    result, _ = _run(project, tiny["model"], "test_direct.py")
    # the test body's answer is the sample's, scored by the suite (a random model misses)
    assert result.parseoutcomes() == {"missed": 2} and result.ret == 0
    assert all(r["output"] for r in project.results())


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
    assert "load_in_4bit only apply to hf/ models (not openai/)" in result.stderr.str()


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


# -- generation: end tokens and stop strings ---------------------------------------------------
MESSAGES = [{"role": "user", "content": "What is the code of item 7? Item 7 has code c7x."}]


def _complete(model_dir: Path, **params: Any) -> Completion:
    model = create_model(ModelSettings(f"hf/{model_dir}"))
    reply = asyncio.run(model.agenerate(MESSAGES, GenerateParams(max_tokens=16, **params)))
    assert isinstance(reply, Completion)
    return reply


def _greedy_ids(model_dir: Path) -> list[int]:
    """The tiny model's own greedy continuation, by transformers directly."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False, return_token_type_ids=False)
    out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    return [int(t) for t in out[0, enc["input_ids"].shape[1] :]]


def test_generation_ends_on_every_end_token_of_the_generation_config(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    """A chat model's generation_config often lists several end tokens (<|eot_id|> and
    <|end_of_text|>); the tokenizer knows one. Generation stops on any of them."""
    ids = _greedy_ids(tiny["model"])
    assert tiny["model"].joinpath("generation_config.json").is_file()
    reference = _complete(tiny["model"])
    assert reference.completion_tokens == 16 and reference.finish_reason == "length"
    # an end token the greedy reply reaches at its 4th token or later, seen there first
    k = next(i for i in range(3, 16) if ids[i] not in ids[:i])
    chat = tmp_path / "chat-model"
    shutil.copytree(tiny["model"], chat)
    config = json.loads((chat / "generation_config.json").read_text())
    config["eos_token_id"] = [config["eos_token_id"], ids[k]]
    (chat / "generation_config.json").write_text(json.dumps(config))
    reply = _complete(chat)
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens == k + 1


def test_stop_strings_stop_generation(tiny: dict[str, Path]) -> None:
    """Generation stops at a stop string (transformers' stop_strings), rather than running
    to max_tokens and cutting the text afterwards; the text ends before it."""
    full = _complete(tiny["model"])
    assert full.completion_tokens == 16
    text = full.text
    j = next(
        i
        for i in range(3, len(text) - 2)
        if text[i : i + 2].strip() and text.find(text[i : i + 2]) == i
    )
    stop = text[j : j + 2]
    reply = _complete(tiny["model"], stop=(stop,))
    assert reply.text == text[:j]
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens is not None and reply.completion_tokens < 16


def test_loading_is_announced_on_stderr_outside_a_run(
    tiny: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    """Outside pytest (the llmeval command, a script) notices go to stderr."""
    _complete(tiny["model"])
    err = capfd.readouterr().err
    assert f"llmeval: loading hf/{tiny['model']} (float32, cpu) ...\n" in err
    assert f"llmeval: loaded hf/{tiny['model']} in " in err


# -- out of memory: halve the batch, retry; only a request too big alone errors -----------------
OOM_CONFTEST = """
import torch
import transformers

_generate = transformers.GenerationMixin.generate
calls = []


def generate(self, *args, **kwargs):
    # a device that fits 2 prompts at a time, and never one of more than 300 tokens
    rows, width = kwargs["input_ids"].shape
    calls.append(rows)
    if rows > 2 or width > 300:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
    return _generate(self, *args, **kwargs)


transformers.GenerationMixin.generate = generate


def pytest_unconfigure(config):
    with open("generate-calls.txt", "w") as fh:
        fh.write(" ".join(map(str, calls)))
"""


def test_out_of_memory_halves_the_batch_and_retries_before_any_item_errors(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    records = qa_records(8)
    long = dict(qa_records(1, prefix="long")[0])
    long["context"] = " ".join(f"Item {i} has code c{i}x." for i in range(60))
    write_jsonl(project.path / "data" / "qa.jsonl", [*records, long])
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text("task: qa\ndataset: data/qa.jsonl\n")
    project.pytester.makeconftest(OOM_CONFTEST)
    result, llm = _run(
        project, tiny["model"], "--llmeval-batch-size", "8", "--llmeval-max-error-rate", "0.2"
    )
    outcomes = result.parseoutcomes()
    # the 8 short prompts are answered (pass or miss: a random model); the long one alone
    # does not fit, and only it is an error item
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8, result.stdout.str()
    assert outcomes.get("errors") == 1
    rows = {r["sample_id"]: r for r in project.results()}
    assert all(rows[r["id"]]["error"] is None and rows[r["id"]]["output"] for r in records)
    assert "out of memory on this request alone: CUDA out of memory" in rows["long000"]["error"]
    # 8 -> 4 -> 2 on the first batch, then 2 at a time; the long prompt once, alone
    calls = (project.path / "generate-calls.txt").read_text().split()
    assert calls == ["8", "4", "2", "2", "2", "2", "1"]
    # said once, under capture
    notice = (
        f"llmeval: hf/{tiny['model']} ran out of memory on a batch of 8; "
        "batches of at most 2 for the rest of the session"
    )
    assert result.stderr.str().count(notice) == 1, result.stderr.str()
    assert llm["engine"]["errors"] == 1


# -- models that ship their own code ------------------------------------------------------------
REMOTE_CONFIG = """
from transformers import LlamaConfig


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny_remote"
"""
REMOTE_MODELING = """
from pathlib import Path

from transformers import LlamaForCausalLM

from .configuration_tiny_remote import TinyRemoteConfig


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig

    def __init__(self, config):
        super().__init__(config)
        Path("remote-code-ran.txt").write_text("yes")
"""


@pytest.fixture(scope="session")
def remote_code_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model as a checkpoint whose config points at modeling code of its own."""
    path = tmp_path_factory.mktemp("remote") / "tiny-remote"
    shutil.copytree(tiny_model, path)
    (path / "configuration_tiny_remote.py").write_text(REMOTE_CONFIG)
    (path / "modeling_tiny_remote.py").write_text(REMOTE_MODELING)
    config = json.loads((path / "config.json").read_text())
    config.update(
        model_type="tiny_remote",
        architectures=["TinyRemoteForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
            "AutoModelForCausalLM": "modeling_tiny_remote.TinyRemoteForCausalLM",
        },
    )
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_a_model_with_its_own_code_runs_only_when_trusted(
    project: EvalProject,
    remote_code_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    project.qa_suite(3)
    result, _ = _run(project, remote_code_model)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--model 'hf/{remote_code_model}': the model ships its own code (auto_map in "
            f"{remote_code_model}/config.json); pass --llmeval-trust-remote-code to run it*"
        ]
    )
    assert not (project.path / "remote-code-ran.txt").exists()

    result, _ = _run(project, remote_code_model, "--llmeval-trust-remote-code")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3, result.stdout.str()
    assert (project.path / "remote-code-ran.txt").read_text() == "yes"
    assert all(r["output"] and r["error"] is None for r in project.results())

    # the ini key does the same (here every answer is cached: no load needed)
    project.pytester.makeini("[pytest]\nllmeval_trust_remote_code = true\n")
    result, llm = _run(project, remote_code_model)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stderr.str()
    assert llm["engine"]["cache_hits"] == 3


def test_an_adapter_without_peft_hints_at_peft_alone(
    project: EvalProject, tiny: dict[str, Path]
) -> None:
    """peft is all --adapter needs: not the finetune extra, which also pulls trl and datasets."""
    project.qa_suite(2)
    project.pytester.makeconftest("import sys\nsys.modules['peft'] = None  # not installed\n")
    result, _ = _run(project, tiny["model"], f"--adapter={tiny['adapter']}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--model 'hf/{tiny['model']}' needs peft: pip install peft"])
