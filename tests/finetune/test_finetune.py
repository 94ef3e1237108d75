"""The finetune module: config and overrides, dry runs of the presets, contamination, and a
real LoRA run on a tiny model whose adapter the plugin then loads.

Training and the plugin runs happen in subprocesses: torch and transformers cannot be
re-imported after pytester's in-process runs restore ``sys.modules``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tinymodel
from evalkit import write_jsonl

from pytest_llmeval import contamination
from pytest_llmeval.dataset import Sample, load_jsonl
from pytest_llmeval.finetune import cli, estimate
from pytest_llmeval.finetune.config import ConfigError, load_config, split_path
from pytest_llmeval.finetune.data import load_tasks, plain_prompt, row, target_text
from pytest_llmeval.suite import build_suite

REPO = Path(__file__).resolve().parents[2]
PRESET_4090 = REPO / "finetune" / "llama-3.2-3b-4090.yaml"
PRESET_TINY = REPO / "finetune" / "tiny-cpu.yaml"
# 64 made-up values: the model must copy them, it cannot have memorized them
WORDS = [a + b for a in ("bl", "gr", "ta", "mo", "ve", "pi", "su", "ka") for b in "aeiouyrn"]
SCHEMA = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with the byte-level BPE tokenizer, saved like a checkpoint."""
    pytest.importorskip("trl")
    import torch

    torch.set_num_threads(1)
    return tinymodel.build(tmp_path_factory.mktemp("ft") / "base")


def copy_records(split: str, n: int, words: list[str], seed: int) -> list[dict[str, Any]]:
    """The 1-field copy task of ml-stack.md as JSON-extraction samples."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        value = rng.choice(words)
        out.append(
            {
                "id": f"cp-{split}-{i:04d}",
                "input": f'record: {{"code": "{value}"}}',
                "expected_output": {"code": value},
                "schema": SCHEMA,
            }
        )
    return out


def make_project(root: Path, n_train: int = 160, n_test: int = 5) -> Path:
    """A copy-task suite (train/test splits) and a finetune config in ``root``."""
    write_jsonl(root / "data/copy/train.jsonl", copy_records("train", n_train, WORDS[:48], 0))
    write_jsonl(root / "data/copy/test.jsonl", copy_records("test", n_test, WORDS[48:], 1))
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals/eval_copy.yaml").write_text(
        "task: json_extraction\n"
        "name: copy\n"
        "dataset: data/copy/test.jsonl\n"
        'prompt:\n  user: "{input}\\ngive code as json"\n'
    )
    config = root / "ft.yaml"
    config.write_text(
        "base_model: ${TINY_BASE:-./base}\n"
        "output_dir: out/adapter\n"
        "tasks:\n"
        "  - suite: evals/eval_copy.yaml\n"
        "lora: {r: 16, alpha: 32, dropout: 0.0}\n"
        "training:\n"
        "  optimizer: adamw_torch\n"
        "  learning_rate: 3e-3\n"
        "  lr_scheduler: constant\n"
        "  warmup: 0\n"
        "  batch_size: 8\n"
        "  max_length: 64\n"
        "  max_steps: 20\n"
        "  gradient_checkpointing: false\n"
        "  logging_steps: 1\n"
    )
    return config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- config -------------------------------------------------------------------------------------
def test_the_4090_preset_resolves_the_train_split_of_the_suite() -> None:
    cfg = load_config(PRESET_4090, rootdir=REPO)
    assert cfg.base_model == "meta-llama/Llama-3.2-3B-Instruct"
    (task,) = cfg.tasks
    assert task.suite.name == "json_extraction"
    assert task.suite.dataset == REPO / "data/json_extraction/test.jsonl"
    assert task.train == REPO / "data/json_extraction/train.jsonl"
    q, lo, t = cfg.quantization, cfg.lora, cfg.training
    assert (q.mode, q.quant_type, q.double_quant, q.compute_dtype) == (
        "4bit",
        "nf4",
        True,
        "bfloat16",
    )
    assert (lo.r, lo.alpha, lo.target_modules) == (16, 32, "all-linear")
    assert (t.optimizer, t.learning_rate, t.lr_scheduler) == ("paged_adamw_8bit", 2e-4, "cosine")
    assert (t.batch_size, t.grad_accum, t.max_length, t.epochs) == (4, 4, 1024, 1)
    assert t.gradient_checkpointing and t.completion_only_loss


def test_overrides_use_dotted_paths_and_yaml_values(project: Path) -> None:
    cfg = load_config(
        project / "ft.yaml",
        [
            "lora.r=8",
            "lora.target_modules=[q_proj, v_proj]",
            "training.learning_rate=1e-4",
            "tasks.0.limit=10",
            "quantization.mode=4bit",
            "contamination.threshold=0.3",
        ],
        rootdir=project,
        environ={"TINY_BASE": "meta-llama/Llama-3.2-1B"},
    )
    assert cfg.lora.r == 8 and cfg.lora.target_modules == ("q_proj", "v_proj")
    assert cfg.training.learning_rate == 1e-4 and cfg.tasks[0].limit == 10
    assert cfg.quantization.mode == "4bit" and cfg.contamination.threshold == 0.3
    assert cfg.base_model == "meta-llama/Llama-3.2-1B"  # from the environment
    assert cfg.data["lora"]["r"] == 8  # the manifest records the merged config


def test_split_path() -> None:
    assert split_path(Path("data/qa/test.jsonl"), "train") == Path("data/qa/train.jsonl")
    assert split_path(Path("d/qa_validation.jsonl"), "train") == Path("d/qa_train.jsonl")
    assert split_path(Path("d/test/x.jsonl"), "train") == Path("d/train/x.jsonl")
    assert split_path(Path("d/latest.jsonl"), "train") is None  # "test" inside a word
    assert split_path(Path("d/x.jsonl"), "train") is None


ERRORS = [
    ("lora:\n  rank: 8\n", [], "ft.yaml:6: field 'lora.rank': unknown setting (known: alpha, "),
    ("lora:\n  r: 0\n", [], "ft.yaml:6: field 'lora.r': 0 is less than the minimum of 1"),
    (
        "quantization:\n  mode: 3bit\n",
        [],
        "ft.yaml:6: field 'quantization.mode': '3bit' is not one of ['none', '4bit', '8bit']",
    ),
    ("training:\n  warmup: 2.5\n", [], "ft.yaml:6: field 'training.warmup': a share below 1"),
    ("tasks: []\n", [], "ft.yaml:5: field 'tasks': [] should be non-empty"),
    (
        "",
        ["lora.r=abc"],
        "--set lora.r=abc: field 'lora.r': 'abc' is not of type 'integer'",
    ),
    ("", ["training.lr=1"], "--set training.lr=1: field 'training.lr': unknown setting"),
    ("", ["tasks.3.split=x"], "--set tasks.3.split=x: field 'tasks.3': no such item (1 in all)"),
    ("", ["lora.r"], "--set lora.r: expected KEY=VALUE"),
    ("", ["tasks.0.split=dev"], "field 'tasks.0.split': no dev split at data/copy/dev.jsonl"),
    (
        "",
        ["tasks.0.suite=evals/nope.yaml"],
        "--set tasks.0.suite=evals/nope.yaml: field 'tasks.0.suite': file not found",
    ),
    ("lora: [1\n", [], "ft.yaml:6: invalid YAML: expected ',' or ']'"),
    (
        "training:\n  trainer: plain\n",
        [],
        "ft.yaml:6: field 'training.trainer': plain trains every weight: it needs lora: null",
    ),
    (
        "training:\n  batch_tokens: 4096\n",
        [],
        "ft.yaml:6: field 'training.batch_tokens': only the plain trainer batches by tokens",
    ),
    (
        "training:\n  max_time_s: 60\n  lr_scheduler: polynomial\n",
        [],
        "ft.yaml:7: field 'training.lr_scheduler': a time budget (max_time_s) runs wsd,",
    ),
    ("", ["training.max_time_s=0"], "field 'training.max_time_s': 0 is less than or equal"),
    ("training:\n  save_steps: 0\n", [], "ft.yaml:6: field 'training.save_steps': 0 is less"),
    (
        "training:\n  report_to: tensorbord\n",
        [],
        "ft.yaml:6: field 'training.report_to': must be one of, or a list of: none, tensorboard",
    ),
    (
        "training:\n  args:\n    dataloader_num_workrs: 2\n",
        [],
        "ft.yaml:7: field 'training.args.dataloader_num_workrs': not a field of trl's SFTConfig "
        "(did you mean 'dataloader_num_workers'?)",
    ),
    (
        "training:\n  args: {save_step: 50}\n",
        [],
        "ft.yaml:6: field 'training.args.save_step': not a field of trl's SFTConfig (did you "
        "mean training.save_steps?)",
    ),
    (
        "training:\n  args:\n    learning_rate: 1.0e-4\n",
        [],
        "ft.yaml:7: field 'training.args.learning_rate': set training.learning_rate instead",
    ),
    (
        "lora: null\ntraining:\n  trainer: plain\n  args:\n    packing: true\n",
        [],
        "ft.yaml:9: field 'training.args.packing': not a field of transformers' TrainingArguments",
    ),
    (
        "",
        ["training.args.max_stesp=3"],
        "--set training.args.max_stesp=3: field 'training.args.max_stesp': not a field of "
        "trl's SFTConfig (did you mean training.max_steps?)",
    ),
]


@pytest.mark.parametrize(("extra", "overrides", "message"), ERRORS)
def test_config_errors_are_one_line_with_file_line_and_field(
    project: Path, extra: str, overrides: list[str], message: str
) -> None:
    path = project / "ft.yaml"
    base = "base_model: org/model\noutput_dir: out\ntasks:\n  - suite: evals/eval_copy.yaml\n"
    path.write_text(base + extra)  # `extra` starts on line 5
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, rootdir=project)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
def test_checkpoint_reporting_and_trainer_arguments_reach_both_trainers(project: Path) -> None:
    """Checkpoints, report_to and training.args land in the real SFTConfig and
    TrainingArguments; a value the class refuses is a one-line error."""
    pytest.importorskip("trl")
    from transformers import TrainingArguments
    from trl import SFTConfig

    from pytest_llmeval.finetune.trainer_args import ArgumentsError, arguments

    path = project / "ft.yaml"
    extra = "  save_steps: 50\n  args: {dataloader_num_workers: 1, eval_strategy: 'no'}\n"
    path.write_text(path.read_text() + extra)
    env = {"TINY_BASE": "org/model"}
    cfg = load_config(path, rootdir=project, environ=env)
    assert cfg.training.args == {"dataloader_num_workers": 1, "eval_strategy": "no"}
    for cls in (SFTConfig, TrainingArguments):
        args = arguments(cls, cfg, dataloader_num_workers=0, use_cpu=True, bf16=False)
        assert args.dataloader_num_workers == 1 and str(args.save_strategy.value) == "steps"
        assert (args.save_steps, args.save_total_limit, args.report_to) == (50, 2, [])
    off = load_config(path, ["training.save_steps=null"], rootdir=project, environ=env)
    assert str(arguments(SFTConfig, off, use_cpu=True, bf16=False).save_strategy.value) == "no"
    bad = load_config(path, ["training.args.save_strategy=sometimes"], rootdir=project, environ=env)
    with pytest.raises(ArgumentsError, match=r"^trl\.SFTConfig: sometimes is not a valid"):
        arguments(SFTConfig, bad, use_cpu=True, bf16=False)
    both = load_config(
        path, ["training.report_to=[tensorboard, wandb]"], rootdir=project, environ=env
    )
    assert both.training.report_to == ("tensorboard", "wandb")


def test_a_missing_reporting_package_is_a_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmeval.finetune import trainer_args

    monkeypatch.setattr(trainer_args.importlib.util, "find_spec", lambda name: None)
    assert trainer_args.missing_reporters("none") is None
    assert trainer_args.missing_reporters(("tensorboard",)) == (
        "training.report_to: tensorboard is not installed: pip install tensorboard "
        "(or report_to: none)"
    )
    assert "tensorboard, wandb are not installed: pip install tensorboard wandb" in str(
        trainer_args.missing_reporters(("tensorboard", "wandb"))
    )


def test_missing_settings_environment_and_model_paths(project: Path) -> None:
    path = project / "ft.yaml"
    path.write_text("output_dir: o\ntasks: [{suite: evals/eval_copy.yaml}]\n")
    with pytest.raises(ConfigError, match=r"^ft.yaml:1: field 'base_model': missing$"):
        load_config(path, rootdir=project)
    path.write_text("base_model: ${NOPE}\noutput_dir: o\ntasks: [{suite: evals/eval_copy.yaml}]\n")
    with pytest.raises(ConfigError, match=r"ft.yaml:1: field 'base_model': environment var"):
        load_config(path, rootdir=project, environ={})
    with pytest.raises(ConfigError, match=r"field 'base_model': no model directory at \./gone"):
        load_config(path, rootdir=project, environ={"NOPE": "./gone"})


def test_the_cli_reports_config_errors_with_status_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "--config", "ft.yaml", "--set", "lora.r=-1", "--dry-run")
    assert code == 2
    assert err == "error: --set lora.r=-1: field 'lora.r': -1 is less than the minimum of 1\n"


# -- data -----------------------------------------------------------------------------------------
def test_rows_use_the_suite_prompt_and_the_expected_field() -> None:
    suite = build_suite(
        {"task": "json_extraction", "dataset": "data/json_extraction/test.jsonl"}, "x", REPO, REPO
    )
    sample = suite.samples()[0]
    r = row(suite, sample, "expected_output")
    assert r["prompt"] == suite.prompt.render(sample)  # exactly what the plugin sends
    assert r["prompt"][0]["role"] == "system" and r["prompt"][1]["role"] == "user"
    (answer,) = r["completion"]
    assert answer["role"] == "assistant"
    assert answer["content"] == json.dumps(sample["expected_output"], separators=(",", ":"))
    assert target_text(["Oslo", "oslo"]) == "Oslo" and target_text("yes") == "yes"


def test_the_plain_prompt_is_the_hf_providers_fallback_transcript() -> None:
    from pytest_llmeval.models.hf import HFModel

    model = HFModel.__new__(HFModel)
    model._tokenizer = SimpleNamespace(chat_template=None)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert model._prompt(messages) == (plain_prompt(messages), True)


def test_the_chat_formatted_training_sequence_starts_with_the_plugins_prompt(
    project: Path, tiny_base: Path
) -> None:
    from transformers import AutoTokenizer

    from pytest_llmeval.models.hf import HFModel

    tok = AutoTokenizer.from_pretrained(tiny_base)
    cfg = load_config(project / "ft.yaml", rootdir=project, environ={"TINY_BASE": str(tiny_base)})
    (task,) = load_tasks(cfg, project)
    sample = task.train[0]
    r = row(task.suite, sample, task.target_field)
    plugin = HFModel.__new__(HFModel)
    plugin._tokenizer = tok
    plugin_prompt, _ = plugin._prompt(task.suite.prompt.render(sample))  # what the plugin sends
    full = str(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=False))
    assert full == plugin_prompt + target_text(sample["expected_output"]) + "<|end|>"


# -- contamination --------------------------------------------------------------------------------
def _text(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def test_exact_overlap_is_after_normalization() -> None:
    report = contamination.check(
        {"t1": "What is the  capital of Norway?", "t2": "unrelated"},
        {"e1": "what is the capital of norway", "e2": "WHAT, is the capital of... Sweden?"},
    )
    assert (report.exact, report.exact_ids, report.n_eval) == (1, ("e1",), 2)
    assert report.exact_rate == 0.5 and report.rate == 0.5 and not report.clean
    assert report.ngram == 0  # 6 words: no 8-grams


def test_ngram_overlap_share_and_threshold() -> None:
    rng = random.Random(0)
    base = _text(rng, 47)  # 40 distinct 8-grams
    words = base.split()
    # an eval text that keeps the first 27 words of a training text: 20 of its 40 8-grams
    # are in training (50%), then 20 new words
    half = " ".join(words[:27] + [f"new{i}" for i in range(20)])
    copy = base.replace(words[3], "CHANGED", 1)  # one word changed: most 8-grams survive
    train = {"a": base, **{f"x{i}": _text(rng) for i in range(20)}}
    evals = {"half": half, "copy": copy, "fresh": _text(rng)}
    report = contamination.check(train, evals, threshold=0.5)
    assert report.ngram_ids == ("copy",) and report.exact == 0  # 0.5 is not above 0.5
    assert 0.75 < report.max_overlap < 1.0
    assert contamination.check(train, evals, threshold=0.45).ngram_ids == ("half", "copy")
    assert contamination.check(train, evals, n=13, threshold=0.9).ngram == 0


def test_template_text_shared_by_many_prompts_is_not_contamination() -> None:
    rng = random.Random(1)
    template = "Reply with one JSON object that matches the schema and nothing else at all. "
    train = [template + _text(rng, 6) for _ in range(100)]
    evals = [template + _text(rng, 6) for _ in range(20)]
    assert contamination.check(train, evals).clean
    assert contamination.check(train, evals, boilerplate=None).ngram == 20
    with pytest.raises(ValueError, match="threshold"):
        contamination.check(train, evals, threshold=2)


def test_the_shipped_splits_are_clean() -> None:
    for task in ("json_extraction", "qa"):
        suite = build_suite({"task": task, "dataset": f"data/{task}/test.jsonl"}, "x", REPO, REPO)
        train = dataclasses.replace(suite, dataset=REPO / f"data/{task}/train.jsonl").samples()
        train_texts = contamination.prompt_texts(suite.prompt, train)
        eval_texts = contamination.prompt_texts(suite.prompt, suite.samples())
        report = contamination.check(train_texts, eval_texts)
        assert (report.n_train, report.n_eval) == (2400, 200)
        assert report.clean, report.summary()
        copied = contamination.check(eval_texts, eval_texts)
        assert copied.exact == copied.ngram == 200


def test_prompt_text_is_the_user_message() -> None:
    sample = Sample("s1", "qa", {"question": "Q?", "context": "C."}, "x", 1)
    suite = build_suite({"task": "qa", "dataset": "data/qa/test.jsonl"}, "x", REPO, REPO)
    assert contamination.prompt_text(suite.prompt, sample) == "Context:\nC.\n\nQuestion: Q?"


def test_training_on_the_evaluated_split_is_refused_unless_forced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the suite's "train" split is its test split, copied
    (project / "data/copy/train.jsonl").write_bytes((project / "data/copy/test.jsonl").read_bytes())
    args = ("--config", "ft.yaml", "--set", "base_model=org/model")
    code, out, err = run_cli(capsys, *args)
    assert code == 1
    assert "contamination copy: exact 5/5 (100.0%), 8-gram>0.5 0/5" in out
    assert "error: refusing to train" in err and "--force" in err
    assert not (project / "out").exists()
    code, out, err = run_cli(capsys, *args, "--dry-run")  # a dry run says so too
    assert code == 1 and "refusing to train" in err
    code, out, _ = run_cli(capsys, *args, "--dry-run", "--force")
    assert code == 0 and "warning: training on contaminated data (copy)" in out
    # naming the test split as the training split is caught the same way
    code, _, err = run_cli(capsys, *args, "--set", "tasks.0.split=test", "--dry-run")
    assert code == 1 and "refusing to train" in err


# -- dry runs ------------------------------------------------------------------------------------
def _memory_gib(out: str) -> float:
    match = re.search(r"memory estimate \(rough peak, [^)]*\): ([\d.]+) GiB", out)
    assert match, out
    return float(match.group(1))


def test_dry_run_of_the_4090_preset_without_weights(
    tiny_base: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    preset = str(PRESET_4090.relative_to(REPO))
    code, out, err = run_cli(capsys, "--config", preset, "--dry-run", "--tokenizer", str(tiny_base))
    assert code == 0, err
    assert "architecture of llama-3.2-3b from the built-in table" in out
    assert f"tokenizer: {tiny_base} (override)" in out
    assert re.search(r"tokens json_extraction \(256 of 2400 rows\): prompt mean \d+", out)
    assert "contamination json_extraction: exact 0/200 (0.0%), 8-gram>0.5 0/200" in out
    assert "150 steps" in out  # 2400 rows / (4 x 4)
    assert 4 <= _memory_gib(out) <= 22
    assert "dry run: nothing trained" in out
    # without a tokenizer on disk: a rough count, and it says so
    code, out, _ = run_cli(capsys, "--config", preset, "--dry-run")
    assert code == 0
    assert "not available locally; counting ~4 characters per token" in out
    assert "(256 of 2400 rows, rough: ~4 characters per token)" in out


def test_dry_run_of_the_tiny_preset(
    tiny_base: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LLMEVAL_TINY_MODEL", str(tiny_base))
    code, out, err = run_cli(capsys, "--config", "finetune/tiny-cpu.yaml", "--dry-run")
    assert code == 0, err
    assert f"base model: {tiny_base} (architecture from its config.json)" in out
    assert re.search(r"tokens json_extraction \(256 of 256 rows\): prompt mean \d+", out)
    assert _memory_gib(out) < 1.0
    assert not (REPO / "out/tiny-cpu-json-extraction").exists()


def test_memory_estimate_parts() -> None:
    cfg = load_config(PRESET_4090, rootdir=REPO)
    arch = estimate.KNOWN["llama-3.2-3b"]
    assert 3.1e9 < arch.linear_params + arch.other_params < 3.3e9  # Llama-3.2-3B: 3.21 B
    assert estimate.known_arch("meta-llama/Llama-3.2-3B-Instruct") == ("llama-3.2-3b", arch)
    assert estimate.known_arch("org/unknown-model") is None
    qlora = estimate.memory(cfg, arch, "paged_adamw_8bit").total
    full = dataclasses.replace(cfg, quantization=dataclasses.replace(cfg.quantization, mode="none"))
    assert estimate.memory(full, arch, "paged_adamw_8bit").total > qlora + 3 * 2**30


def test_base_run_is_the_newest_complete_whole_run_of_the_base(tmp_path: Path) -> None:
    from pytest_llmeval.finetune.commands import base_run
    from pytest_llmeval.store.storage import Store, new_run_row

    cfg = SimpleNamespace(base_model="org/base", base_is_local=False)
    db = tmp_path / "llmeval.db"
    assert base_run(cfg, db) is None  # type: ignore[arg-type]
    store = Store(db)
    rows = [
        ("r1", "hf/org/base", "complete", 0, "2026-01-01"),
        ("r2", "hf/org/base", "complete", 0, "2026-01-02"),
        ("r3", "hf/org/base", "complete", 1, "2026-01-03"),  # partial
        ("r4", "hf/org/base", "interrupted", 0, "2026-01-04"),
        ("r5", "hf/org/base-2", "complete", 0, "2026-01-05"),
    ]
    for run_id, model, status, partial, started in rows:
        store.create_run(
            new_run_row(run_id, model=model, status=status, partial=partial, started_at=started)
        )
    store.close()
    assert base_run(cfg, db) == "r2"  # type: ignore[arg-type]


# -- checkpoints and --resume ---------------------------------------------------------------------
def _checkpoint(out: Path, step: int, complete: bool = True) -> Path:
    path = out / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:  # the Trainer writes trainer_state.json last
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_resume_finds_the_newest_complete_checkpoint_and_guards_a_crashed_run(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_llmeval.finetune import checkpoint

    monkeypatch.setenv("TINY_BASE", "org/model")
    cfg = load_config(project / "ft.yaml", rootdir=project)
    code, _, err = run_cli(capsys, "--config", "ft.yaml", "--resume", "--dry-run")
    assert code == 2
    assert err == (
        "error: --resume: no checkpoint in out/adapter to resume from (one is written "
        "every 200 steps)\n"
    )
    out = project / "out/adapter"
    _checkpoint(out, 4)
    _checkpoint(out, 8, complete=False)  # killed while it was being written
    resume, stale = checkpoint.prepare(cfg, resume=True)
    assert resume is not None and (resume.path.name, resume.step, stale) == (
        "checkpoint-4",
        4,
        [],
    )
    code, out_text, err = run_cli(capsys, "--config", "ft.yaml", "--resume", "--dry-run")
    assert code == 0, err
    assert "checkpoints: none, every 200 steps is more than the 20 of this run" in out_text
    assert "resume: from out/adapter/checkpoint-4 (step 4)" in out_text
    every_5 = ("--set", "training.save_steps=5")
    code, out_text, err = run_cli(capsys, "--config", "ft.yaml", "--resume", "--dry-run", *every_5)
    assert "checkpoints: every 5 steps into out/adapter/checkpoint-N, the last 2 kept" in out_text
    assert "report to: none (the terminal only)" in out_text
    # a fresh run does not bury the crashed one
    code, _, err = run_cli(capsys, "--config", "ft.yaml", "--dry-run")
    assert (code, err) == (
        2,
        "error: out/adapter holds checkpoint-4 (step 4) of an unfinished run: pass "
        "--resume to continue it, or remove it to start over\n",
    )
    # once the run finished (its manifest after the checkpoint), they are stale
    (out / "manifest.json").write_text(json.dumps({"stopped": "steps"}))
    resume, stale = checkpoint.prepare(cfg, resume=False)
    assert resume is None and sorted(p.name for p in stale) == [
        "checkpoint-4",
        "checkpoint-8",
    ]
    (out / "manifest.json").write_text(json.dumps({"stopped": "signal"}))  # resumable
    with pytest.raises(checkpoint.CheckpointError, match="of an unfinished run"):
        checkpoint.prepare(cfg, resume=False)


def test_a_resumed_run_names_the_settings_it_changed() -> None:
    from pytest_llmeval.finetune.checkpoint import changed

    old = {"lora": {"r": 16, "alpha": 32}, "training": {"max_steps": 100}}
    new = {"lora": {"r": 16, "alpha": 32}, "training": {"max_steps": 200, "seed": 1}}
    assert changed(old, new) == ["training.max_steps: 100 -> 200", "training.seed: None -> 1"]
    assert changed(None, new) == []


# SIGKILL from inside, at the end of an optimizer step: a checkpoint at step 8, and the
# work of steps 9 and 10 lost with the process, as a crash would lose it
KILL_AT_STEP = (
    "import os, signal, sys\n"
    "from transformers.trainer_callback import CallbackHandler\n"
    "step_end = CallbackHandler.on_step_end\n"
    "def kill(self, args, state, control):\n"
    "    if state.global_step == 10:\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return step_end(self, args, state, control)\n"
    "CallbackHandler.on_step_end = kill\n"
    "from pytest_llmeval.finetune.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
RUN_AND_LIST = (
    "import sys\n"
    "from pytest_llmeval.finetune.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('pytest imported:', 'pytest' in sys.modules)\n"
    "sys.exit(code)\n"
)


def _greedy(out: Path, base: Path, lora: bool, prompts: list[str]) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base if lora else out, dtype=torch.float32)
    if lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, out)
    tok = AutoTokenizer.from_pretrained(out)
    texts = []
    for prompt in prompts:
        enc = tok.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            ids = model.generate(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                max_new_tokens=12,
                do_sample=False,
            )
        texts.append(tok.decode(ids[0, enc["input_ids"].shape[1] :]))
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["sft", "plain"])
def test_a_killed_run_resumes_to_the_same_loss_and_model(
    tmp_path: Path, tiny_base: Path, trainer: str
) -> None:
    """An uninterrupted run and one SIGKILLed at step 10 (its last checkpoint at 8), then
    resumed with --resume: the same seed, the same final loss, the same greedy outputs."""
    make_project(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TINY_BASE": str(tiny_base)}
    sets = ["training.max_steps=16", "training.save_steps=4", "training.seed=3"]
    if trainer == "plain":  # a full finetune, transformers' Trainer on pre-tokenized rows
        sets += ["lora=null", "training.trainer=plain", "training.learning_rate=1e-3"]
    argv = ["--config", "ft.yaml", *(a for s in sets for a in ("--set", s))]

    def start(script: str, out: str, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", script, *argv, "--set", f"output_dir={out}", *extra],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    whole, killed = start(RUN_AND_LIST, "out/whole"), start(KILL_AT_STEP, "out/resumed")
    whole_out, whole_err = whole.communicate(timeout=300)
    killed_out, killed_err = killed.communicate(timeout=300)
    assert whole.returncode == 0, whole_err[-3000:]
    assert killed.returncode == -9, killed_err[-3000:]  # SIGKILL: nothing ran after it
    resumed_dir = tmp_path / "out/resumed"
    left = sorted(p.name for p in resumed_dir.iterdir() if p.name.startswith("checkpoint-"))
    assert left == ["checkpoint-4", "checkpoint-8"] and not (resumed_dir / "manifest.json").exists()
    assert "step 9/16" in killed_out
    resumed = start(RUN_AND_LIST, "out/resumed", "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "resuming from out/resumed/checkpoint-8 (step 8," in out
    assert "trained 16 steps (resumed at step 8)" in out
    assert "pytest imported: False" in out and "pytest imported: False" in whole_out

    a = json.loads((tmp_path / "out/whole/manifest.json").read_text())
    b = json.loads((resumed_dir / "manifest.json").read_text())
    assert a["resumed_from"] is None
    assert b["resumed_from"]["checkpoint"] == "out/resumed/checkpoint-8"
    assert b["resumed_from"]["step"] == 8 and b["resumed_from"]["trained_s"] > 0
    assert a["steps"] == b["steps"] == 16
    assert a["checkpoints"] == b["checkpoints"] == ["checkpoint-12", "checkpoint-16"]
    assert [h["step"] for h in b["loss_history"]] == list(range(1, 17))  # kept from step 8
    assert b["final_loss"] == pytest.approx(a["final_loss"], abs=1e-4)
    assert [h["loss"] for h in b["loss_history"]] == pytest.approx(
        [h["loss"] for h in a["loss_history"]], abs=1e-4
    )
    print(
        f"\n{trainer}, seed 3, 16 steps: uninterrupted final loss {a['final_loss']!r}; "
        f"killed at step 10, resumed from step 8: {b['final_loss']!r}"
    )
    prompts = [r["input"] + "\ngive code as json" for r in copy_records("test", 4, WORDS[48:], 1)]
    lora = trainer == "sft"
    first = _greedy(tmp_path / "out/whole", tiny_base, lora, prompts)
    assert _greedy(resumed_dir, tiny_base, lora, prompts) == first
    assert first != _greedy(tiny_base, tiny_base, False, prompts)  # training changed them
    print(f"greedy outputs, identical: {first[:2]}")


# -- no pytest in the finetune module ---------------------------------------------------------
def test_the_finetune_entry_points_never_import_pytest(tmp_path: Path) -> None:
    """The module, its CLI and trainer, and the two things it reads from the rest of the
    package (stored runs through ``Results``, the git commit) import no pytest."""
    from pytest_llmeval.store.storage import Store, new_run_row

    db = tmp_path / "llmeval.db"
    store = Store(db)
    store.create_run(new_run_row("r1", model="hf/org/base", status="complete", partial=0))
    store.close()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from types import SimpleNamespace\n"
        "import pytest_llmeval.finetune, pytest_llmeval.finetune.cli\n"
        "from pytest_llmeval.finetune import budget, checkpoint, commands, config, data\n"
        "from pytest_llmeval.finetune import estimate, plain, pretok, scratch, sft, train\n"
        "from pytest_llmeval.finetune import trainer_args\n"
        "cfg = SimpleNamespace(base_model='org/base', base_is_local=False)\n"
        f"assert commands.base_run(cfg, Path({str(db)!r})) == 'r1'\n"
        "assert 'git_commit' in train._git(Path('.'))\n"
        "print('pytest' in sys.modules, sorted(m for m in sys.modules if m.startswith('_pytest')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False []"


def test_a_dry_run_never_imports_pytest(tiny_base: Path, tmp_path: Path) -> None:
    """``python -m pytest_llmeval.finetune --dry-run`` as users run it; ``-X importtime``
    lists every module the process imported."""
    make_project(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TINY_BASE": str(tiny_base)}
    argv = ["-m", "pytest_llmeval.finetune", "--config", "ft.yaml", "--dry-run"]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dry run: nothing trained" in proc.stdout
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "transformers" in imported  # the tokenizer was read: the list is complete
    assert [m for m in imported if m.split(".")[0] in ("pytest", "_pytest")] == []


# -- a real run ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_lora_training_writes_an_adapter_the_plugin_loads(
    pytester: pytest.Pytester, tiny_base: Path
) -> None:
    root = pytester.path
    make_project(root)
    pytester.makeini("[pytest]\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TINY_BASE": str(tiny_base)}
    plugin_args = ["-p", "no:cacheprovider", "--max-tokens", "8"]
    # the base model first: its run is the baseline the printed command names
    base = pytester.runpytest_subprocess("evals/", "--model", f"hf/{tiny_base}", *plugin_args)
    assert base.parseoutcomes().get("passed", 0) + base.parseoutcomes().get("failed", 0) == 5
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.finetune", "--config", "ft.yaml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    out_dir = root / "out/adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "manifest.json"):
        assert (out_dir / name).is_file(), name
    manifest = json.loads((out_dir / "manifest.json").read_text())
    history = [h["loss"] for h in manifest["loss_history"]]
    assert manifest["steps"] == 20 and len(history) == 20
    assert sum(history[-3:]) / 3 < sum(history[:3]) / 3 * 0.9, history  # loss went down
    assert manifest["first_loss"] == history[0] and manifest["final_loss"] == history[-1]
    train_file = root / "data/copy/train.jsonl"
    assert (
        manifest["data"]["copy"]["train_sha256"]
        == hashlib.sha256(train_file.read_bytes()).hexdigest()
    )
    assert manifest["data"]["copy"]["rows"] == 160
    assert manifest["contamination"]["copy"]["contaminated"] == 0
    assert manifest["config"]["training"]["max_steps"] == 20
    assert set(manifest["versions"]) >= {"torch", "transformers", "peft", "trl"}
    assert manifest["train_time_s"] > 0 and manifest["method"] == "LoRA"
    print(f"\ntiny LoRA: 20 steps, train {manifest['train_time_s']} s, process {elapsed:.1f} s, ")
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f}")

    # the printed command evaluates the adapter against the base model's run
    run_id = _latest_run(root)
    (command,) = manifest["eval_commands"]
    assert command == (
        f"pytest evals/ --model hf/{tiny_base} --adapter out/adapter --llmeval-baseline={run_id}"
    )
    assert command in proc.stdout
    args = command.split()[1:]
    result = pytester.runpytest_subprocess(*args, *plugin_args)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 5, result.stdout.str()
    assert result.ret in (0, 1) and "error" not in outcomes


def _latest_run(root: Path) -> str:
    import sqlite3

    with sqlite3.connect(root / ".llmeval/llmeval.db") as conn:
        (run_id,) = conn.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    return str(run_id)


KEYS = ["code", "tool", "size", "mode", "tag", "zone", "kind", "unit"]


def _loop_records(
    split: str, combos: list[tuple[str, str]], n: int, seed: int, plain: bool
) -> list[dict[str, Any]]:
    """ml-stack.md's 1-field copy task: ``record: {"code": "blue"} -> give "code"`` answered
    ``blue`` (plain) or ``{"code": "blue"}`` (json), drawn from (key, value) ``combos``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key, value = combos[i] if n == len(combos) else rng.choice(combos)
        text = f'record: {{"{key}": "{value}"}} -> give "{key}"'
        if plain:
            out.append(
                {
                    "id": f"p-{split}-{i:04d}",
                    "question": text,
                    "context": "",
                    "expected_answer": value,
                }
            )
        else:
            out.append(
                {
                    "id": f"j-{split}-{i:04d}",
                    "input": text + " as json",
                    "expected_output": {key: value},
                    "schema": {"type": "object", "properties": {key: {"type": "string"}}},
                }
            )
    return out


@pytest.mark.slow
def test_finetune_eval_gate_loop(pytester: pytest.Pytester, tiny_loop_base: Path) -> None:
    """Train a base, evaluate it, train an adapter, evaluate it against the base's run: the
    adapter's run is better and the baseline gate says so with a significant improvement."""
    root = pytester.path
    pytester.makeini("[pytest]\n")
    # every key and value is seen in training, but the 100 tested (key, value) pairs never
    # are: the model must copy, and the contamination check has nothing to refuse
    combos = [(k, w) for k in KEYS for w in WORDS]
    random.Random(0).shuffle(combos)
    held_out, seen = combos[:100], combos[100:]
    write_jsonl(root / "data/plain/train.jsonl", _loop_records("train", seen, 4000, 0, True))
    write_jsonl(root / "data/plain/test.jsonl", _loop_records("test", held_out, 100, 0, True))
    write_jsonl(root / "data/copy/train.jsonl", _loop_records("train", seen, 2000, 1, False))
    write_jsonl(root / "data/copy/test.jsonl", _loop_records("test", held_out, 100, 0, False))
    (root / "suites").mkdir()
    (root / "suites/plain.yaml").write_text(
        "task: qa\nname: plain\ndataset: data/plain/test.jsonl\nprompt:\n  user: '{question}'\n"
    )
    (root / "evals").mkdir()
    (root / "evals/eval_copy.yaml").write_text(
        "task: json_extraction\nname: copy\ndataset: data/copy/test.jsonl\n"
        "prompt:\n  user: '{input}'\nparams:\n  max_tokens: 16\nthresholds:\n  accuracy: '>=0.5'\n"
    )
    common = (
        "optimizer: adamw_torch\n  learning_rate: 3e-3\n  lr_scheduler: cosine\n"
        "  warmup: 0\n  batch_size: 32\n  max_length: 96\n  seed: 0\n"
        "  gradient_checkpointing: false\n  logging_steps: 25\n"
    )
    (root / "base.yaml").write_text(
        f"base_model: {tiny_loop_base}\noutput_dir: out/base\ntasks:\n  - suite: suites/plain.yaml\n"
        "lora: null\ntraining:\n  max_steps: 200\n  completion_only_loss: false\n  " + common
    )
    (root / "adapter.yaml").write_text(
        "base_model: out/base\noutput_dir: out/adapter\ntasks:\n  - suite: evals/eval_copy.yaml\n"
        "lora: {r: 16, alpha: 32, dropout: 0.0}\ntraining:\n  max_steps: 250\n  " + common
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

    def finetune(config: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_llmeval.finetune", "--config", config],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return dict(
            json.loads((root / "out" / config.removesuffix(".yaml") / "manifest.json").read_text())
        )

    plugin = ["-p", "no:cacheprovider", "--llmeval-db", str(root / "r.db")]
    base_manifest = finetune("base.yaml")
    assert base_manifest["method"] == "full"
    base = pytester.runpytest_subprocess("evals/", "--model", "hf/out/base", *plugin)
    base_run = _run_ids(root)[-1]
    adapter_manifest = finetune("adapter.yaml")
    assert adapter_manifest["method"] == "LoRA"
    tuned = pytester.runpytest_subprocess(
        "evals/",
        "--model",
        "hf/out/base",
        "--adapter",
        "out/adapter",
        f"--llmeval-baseline={base_run}",
        "--json-report",
        "--json-report-file=r.json",
        *plugin,
    )
    llm = json.loads((root / "r.json").read_text())["llmeval"]
    before = _accuracy(root, base_run)
    after = llm["metrics"]["copy"][""]["accuracy"]["value"]
    print(
        f"\nfinetune loop: base {base_manifest['train_time_s']} s, adapter "
        f"{adapter_manifest['train_time_s']} s; accuracy {before:.2f} -> {after:.2f}"
    )
    assert before < 0.2 < 0.8 < after, (base.stdout.str()[-2000:], tuned.stdout.str()[-3000:])
    (accuracy,) = [
        m for t in llm["baseline"]["tasks"] for m in t["metrics"] if m["metric"] == "accuracy"
    ]
    assert accuracy["verdict"] == "improvement" and accuracy["p_better"] < 0.001
    assert tuned.ret == 0
    tuned.stdout.fnmatch_lines(["*accuracy*IMPROVEMENT*"])


@pytest.fixture(scope="session")
def tiny_loop_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The research recipe's base: a random 128-wide, 2-layer Llama."""
    pytest.importorskip("trl")
    return tinymodel.build(tmp_path_factory.mktemp("loop") / "random", hidden=128, layers=2)


def _run_ids(root: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(root / "r.db") as conn:
        return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at")]


def _accuracy(root: Path, run_id: str) -> float:
    import sqlite3

    with sqlite3.connect(root / "r.db") as conn:
        (value,) = conn.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND task = 'copy' "
            "AND slice = '' AND metric = 'accuracy'",
            (run_id,),
        ).fetchone()
    return float(value)


# -- the bundled model's GPU preset: fresh data, a time budget, the plain trainer ---------------
PRESET_GPU = REPO / "finetune" / "embedded-gpu.yaml"
# the GPU preset's shape, shrunk to a CPU smoke size
TINY_SHAPE = [
    "scratch.hidden=32",
    "scratch.layers=1",
    "scratch.heads=2",
    "scratch.kv_heads=2",
    "scratch.intermediate=64",
    "scratch.vocab_size=600",
    "training.batch_tokens=4096",
    "training.warmup=2",
    "training.logging_steps=2",
]


@cache
def generator() -> Any:
    """data/generate.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("llmeval_gen_ft", REPO / "data/generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fresh_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 fresh training records a task, kept apart from the shipped test/validation."""
    out = tmp_path_factory.mktemp("fresh")
    generator().extra_train(out, {"json_extraction": 150, "qa": 150}, 7, REPO / "data", 1, log=str)
    return out


def test_fresh_training_data_is_clean_by_the_contamination_check(fresh_data: Path) -> None:
    cfg = load_config(PRESET_GPU, rootdir=REPO, environ={"LLMEVAL_TRAIN_DATA": str(fresh_data)})
    tasks = load_tasks(cfg, REPO)
    # small draws lose more to the n-gram filter (its floor of 3 prompts); 2% at 200,000
    assert all(120 <= len(t.train) <= 150 for t in tasks), [len(t.train) for t in tasks]
    for task in tasks:
        ids = [s.id for s in task.train]
        assert len(set(ids)) == len(ids)
        train = contamination.prompt_texts(task.suite.prompt, task.train)
        for split in ("test", "validation"):
            path = REPO / f"data/{task.name}/{split}.jsonl"
            evaluated = load_jsonl(path, task.suite.name)
            report = contamination.check(
                train, contamination.prompt_texts(task.suite.prompt, evaluated)
            )
            assert report.clean and report.max_overlap <= 0.3, (task.name, split, report.summary())


def test_fresh_training_data_depends_on_the_seed_not_on_the_jobs(tmp_path: Path) -> None:
    gen = generator()
    counts = {"qa": gen.EXTRA_CHUNK + 40}  # two chunks
    one = gen.extra_train(tmp_path / "a", counts, 3, REPO / "data", 1, log=str)
    two = gen.extra_train(tmp_path / "b", counts, 3, REPO / "data", 2, log=str)
    other = gen.extra_train(tmp_path / "c", {"qa": 40}, 4, REPO / "data", 1, log=str)
    assert one[0].read_bytes() == two[0].read_bytes()
    assert one[0].read_bytes()[:2000] != other[0].read_bytes()[:2000]
    shipped = {
        json.loads(line)["question"] + json.loads(line)["context"]
        for split in ("test", "validation")
        for line in (REPO / f"data/qa/{split}.jsonl").read_text().splitlines()
    }
    fresh = [json.loads(line) for line in one[0].read_text().splitlines()]
    assert not shipped & {r["question"] + r["context"] for r in fresh}


def test_budget_schedules_follow_the_clock() -> None:
    from pytest_llmeval.finetune import budget

    now = [0.0]
    clock = budget.Clock(100.0, now=lambda: now[0])
    wsd = budget.lr_lambda("wsd", warmup=10, cooldown=0.25, clock=clock)
    assert wsd(0) == pytest.approx(0.1) and wsd(9) == 1.0  # warmup in steps
    clock.start()
    for t, want in [(10, 1.0), (74, 1.0), (87.5, 0.5), (99, 0.04), (150, 0.0)]:
        now[0] = t
        assert wsd(1000) == pytest.approx(want), t
    assert clock.spent
    now[0] = 50.0
    assert budget.lr_lambda("cosine", 0, 0, clock)(1000) == pytest.approx(0.5)
    assert budget.lr_lambda("linear", 0.1, 0, clock)(1000) == pytest.approx(0.5)
    # warmup below 1: a share of the budget
    now[0] = 5.0
    assert budget.lr_lambda("constant_with_warmup", 0.1, 0, clock)(3) == pytest.approx(0.5)
    # no budget: progress in steps, as Hugging Face's schedulers count
    steps = budget.lr_lambda("wsd", warmup=0.1, cooldown=0.5, max_steps=100)
    assert [steps(s) for s in (4, 40, 75, 100)] == pytest.approx([0.5, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="max_steps or a time budget"):
        budget.lr_lambda("wsd", 0, 0.2)


def test_batches_group_rows_by_length_within_the_token_budget() -> None:
    from pytest_llmeval.finetune import pretok

    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(80, 140), rng.randint(250, 600)]) for _ in range(3000)]
    batches = pretok.plan(lengths, 8192, 64, 2, seed=0)
    rows = [int(i) for b in batches for i in b]
    assert sorted(rows) == sorted(list(range(3000)) * 2)  # every row once a pass
    padded = real = 0
    for b in batches:
        sizes = [lengths[int(i)] for i in b]
        assert len(b) <= 64
        assert len(b) == 1 or max(sizes) * len(b) <= 8192
        padded += max(sizes) * len(b)
        real += sum(sizes)
    assert real / padded > 0.9  # a batch holds rows of about one length
    sizes = sorted(len(b) for b in pretok.plan(lengths, None, 64, 1, seed=0))
    assert sizes == [56] + [64] * 46  # no token budget: batch_size rows
    assert pretok.plan([], 8192, 64, 1, seed=0) == []


def test_encoded_rows_match_the_chat_template_and_mask_the_prompt(tiny_base: Path) -> None:
    import numpy as np
    from transformers import AutoTokenizer

    from pytest_llmeval.finetune import pretok

    tok = AutoTokenizer.from_pretrained(tiny_base)
    suite = build_suite({"task": "qa", "dataset": "data/qa/test.jsonl"}, "x", REPO, REPO)
    samples = suite.samples(3)
    formatted = [row(suite, s, "expected_answer") for s in samples]
    long = {**formatted[0], "completion": [{"role": "assistant", "content": "x " * 400}]}
    data = pretok.encode(tok, [*formatted, long], max_length=300)
    assert len(data) == 3 and data.dropped == 1
    for i, r in enumerate(formatted):
        # the whole conversation rendered and tokenized at once, as the hf/ provider does
        text = tok.apply_chat_template([*r["prompt"], *r["completion"]], tokenize=False)
        seq = data.tokens[data.offsets[i] : data.offsets[i + 1]].tolist()
        assert seq == tok(text, add_special_tokens=False)["input_ids"]
        head = tok.decode(seq[data.prompt_lens[i] :])
        assert head == target_text(samples[i]["expected_answer"]) + "<|end|>"
    batch = pretok.Batches(data, [np.array([0, 1, 2])], completion_only=True)[0]
    width = int(data.lengths.max())
    assert batch["input_ids"].shape == (3, width) and batch["attention_mask"].sum() == data.n_tokens
    kept = batch["labels"] != -100
    assert kept.sum() == sum(
        int(n - p) for n, p in zip(data.lengths, data.prompt_lens, strict=True)
    )
    assert pretok.unwrap([batch]) is batch


def test_training_arguments_use_the_installed_field_names() -> None:
    from pytest_llmeval.finetune.trainer_args import arguments

    @dataclasses.dataclass
    class Old:  # transformers 5.17: only the old name
        output_dir: str
        save_strategy: str
        report_to: str
        disable_tqdm: bool
        save_steps: int = 500
        save_total_limit: int | None = None
        gradient_checkpointing: bool = False

    @dataclasses.dataclass
    class New(Old):  # 5.24: the new name beside it
        activation_checkpointing: bool = False

    cfg = load_config(PRESET_TINY, rootdir=REPO, environ={"LLMEVAL_TINY_MODEL": str(REPO)})
    assert arguments(Old, cfg, activation_checkpointing=True).gradient_checkpointing is True
    new = arguments(New, cfg, activation_checkpointing=True)
    assert new.activation_checkpointing is True and new.gradient_checkpointing is False
    assert arguments(New, cfg, gradient_checkpointing=True).gradient_checkpointing is True
    with pytest.raises(TypeError):
        arguments(Old, cfg, no_such_field=1)


def test_dry_run_of_the_gpu_preset(
    fresh_data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LLMEVAL_TRAIN_DATA", str(fresh_data))
    code, out, err = run_cli(capsys, "--config", "finetune/embedded-gpu.yaml", "--dry-run")
    assert code == 0, err
    assert "full finetune (every weight trained)" in out
    assert "14.16 M params" in out  # the shape documented in the preset
    assert "training (transformers Trainer): optimizer adamw_torch_fused" in out
    assert "batches of up to 65536 tokens" in out and "a time budget of 240 s" in out
    assert "contamination json_extraction: exact 0/200 (0.0%), 8-gram>0.5 0/200" in out
    assert not (REPO / "out/embedded-gpu").exists()


@pytest.mark.slow
def test_the_gpu_preset_trains_from_scratch_on_a_time_budget(
    tmp_path: Path, fresh_data: Path, tiny_base: Path
) -> None:
    """finetune/embedded-gpu.yaml at a tiny size: a model and tokenizer from nothing, the
    plain trainer for 3 s of wall clock, then a model the hf/ provider loads, its tokenizer
    and a manifest with zero contamination. It runs without trl, datasets, bitsandbytes
    and openai, as on the GPU machine, which has none of them."""
    out = tmp_path / "model"
    overrides = [f"output_dir={out}", "training.max_time_s=3", *TINY_SHAPE]
    argv = ["--config", "finetune/embedded-gpu.yaml", *(a for o in overrides for a in ("--set", o))]
    # as on the GPU machine: these packages are not there (the import system finds none)
    script = (
        "import importlib.machinery as m, sys\n"
        "missing = {'trl', 'datasets', 'bitsandbytes', 'openai'}\n"
        "find = m.PathFinder.find_spec\n"
        "def hide(cls, name, path=None, target=None):\n"
        "    return None if name.split('.')[0] in missing else find(name, path, target)\n"
        "m.PathFinder.find_spec = classmethod(hide)\n"
        "from pytest_llmeval.finetune.cli import main\n"
        f"code = main({argv!r})\n"
        "print('imported:', sorted(n for n in missing if n in sys.modules))\n"
        "sys.exit(code)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "LLMEVAL_TRAIN_DATA": str(fresh_data),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "imported: []" in proc.stdout
    files = {p.name for p in out.iterdir()}
    assert files == {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "manifest.json",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "full, from scratch"
    assert manifest["trainer"] == "transformers.Trainer"
    assert manifest["stopped"] == "time budget" and manifest["time_budget_s"] == 3
    assert 3 <= manifest["train_time_s"] < 30 and manifest["steps"] > 0
    assert {k: v["contaminated"] for k, v in manifest["contamination"].items()} == {
        "json_extraction": 0,
        "qa": 0,
    }
    assert manifest["tokens"]["trained"] > 0 and manifest["tokens"]["rows"] >= 250
    print(f"\nGPU preset, tiny: {manifest['steps']} steps in 3 s, process {elapsed:.1f} s")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((out / "config.json").read_text())
    assert config["dtype"] == "float16" and config["tie_word_embeddings"] is True
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert tok.tokenize("1968") == ["1", "9", "6", "8"]  # digits one by one
    messages = [{"role": "user", "content": "Context:\nA.\n\nQuestion: B?"}]
    enc = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    with torch.inference_mode():
        generated = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            max_new_tokens=4,
            do_sample=False,
        )
    assert generated.shape[1] > enc["input_ids"].shape[1]
