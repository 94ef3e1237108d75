"""GPU check: a Llama-3.2-3B-shaped model through the plugin in bf16, 8-bit and 4-bit,
and 30 QLoRA steps on it with the 24 GB-card preset under a 22 GiB memory cap.

Called by ``scripts/gpu_check.sh`` on a lent GPU machine (one H100); ``--cpu-smoke`` runs
the same code path on the CPU with a tiny config and 8 samples, so the logic is tested
where there is no GPU.

1. Builds a model with the real Llama-3.2-3B dimensions and random weights (in a
   subprocess, on the GPU when there is one), saved in bf16 with the tiny byte-level BPE
   tokenizer of ``tests/tinymodel.py``. The embedding keeps the real vocabulary of 128256
   rows (tied with the output layer, as in the real model), so the lm_head costs what it
   costs in the real model; the tokenizer only knows its first 512 ids, and generated ids
   beyond those decode to nothing (outputs are short or empty text; the token counts and
   timings are the real ones).
2. Writes a temporary project: the shipped QA test set (``data/qa/test.jsonl``, the
   dataset of ``evals/test_qa.py``, same task prompt) as a YAML suite, and a probe
   ``conftest.py`` that writes, from inside the pytest process, every result row as it
   arrives (with the peak GPU memory so far), then the engine summary and the process's
   ``torch.cuda.max_memory_allocated()`` at ``pytest_unconfigure``.
3. Runs ``python -m pytest`` on it per precision (bf16, 4-bit, 8-bit), batched
   (``--llmeval-batch-size 32`` on 128 samples) and at ``--llmeval-batch-size 1`` (32
   samples), ``--max-tokens 32``, ``--llmeval-cache off``, and prints samples/s, the
   batched/batch-1 throughput ratio and peak GPU memory per precision.
4. QLoRA (run right after the model is built, before the evaluations, under its own time
   limit ``--qlora-timeout``): 30 steps of ``python -m pytest_llmeval.finetune`` with the
   preset ``finetune/llama-3.2-3b-4090.yaml`` (4-bit NF4, LoRA r=16 on all linear layers,
   batch 4 x grad accum 4, paged 8-bit AdamW, gradient checkpointing) on this model at
   ``training.max_length=1024``, with ``LLMEVAL_CUDA_MEMORY_GIB=22`` so the training
   process caps its CUDA memory at 22 GiB before loading the model, as a 24 GB card
   would (an overrun is an out-of-memory error). The preset's data (the JSON-extraction
   train split) averages ~610 tokens a row with this tokenizer, so every row is forced
   to 1024: a helper process writes a train file of exactly steps x 16 rows whose input
   is lengthened with other rows' text to a ~900-token prompt and whose answer gets a
   long ``notes`` field, keeps the rows whose prompt is at most 992 tokens and whose
   prompt + answer is at least 1024, and counts them with the finetune module's own token
   count (as trl tokenizes): trl truncates each row to exactly 1024 tokens, the loss stays
   on the answer's (~130) tokens. Prints the peak GPU memory read in the training process
   (``manifest.json``'s ``cuda_memory``), tokens/s (steps x batch x grad accum x 1024 /
   train time), the loss trend, and PASS/MISS against peak reserved <= 22 GiB.
5. Prints a summary block of every figure, and exits 1 if a run failed its checks.

Plugin loading is the same everywhere: ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and
``-p pytest_llmeval.plugin`` with the repository on ``PYTHONPATH``, so nothing needs to be
installed (the GPU machine has no network) and no other installed pytest plugin runs.

Every step runs under one deadline (``--budget-s``): a run gets at most the time left,
and one that cannot start in time is reported as skipped, so the summary always prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QA_DATA = REPO / "data" / "qa" / "test.jsonl"
QLORA_PRESET = REPO / "finetune" / "llama-3.2-3b-4090.yaml"
QLORA_CAP_GIB = 22.0  # a 24 GB card (RTX 4090: 23.99 GiB) less the CUDA context and slack

# meta-llama/Llama-3.2-3B's config.json, less the token ids (the tokenizer's own are used).
LLAMA_3B: dict[str, Any] = {
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 28,
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
    },
}
# The smoke model: the same architecture and vocabulary, tiny stack.
TINY: dict[str, Any] = {
    **LLAMA_3B,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
SHAPES = {"3b": LLAMA_3B, "tiny": TINY}
PRECISIONS: dict[str, list[str]] = {
    "bf16": ["--llmeval-dtype", "bfloat16"],
    "4bit": ["--load-in-4bit", "--llmeval-dtype", "bfloat16"],
    "8bit": ["--load-in-8bit", "--llmeval-dtype", "bfloat16"],
}
# What the GPU machine's image holds (/work/.library/device/KINDS.md, "Python packages
# already there", read 2026-11-17; only the names this check can meet) and what
# gpu_check.sh carries there as wheels (see its header). The probe lists the distributions
# a run imported; the check names the project's requirements found in neither.
GPU_IMAGE = {
    "accelerate",
    "aiohttp",
    "attrs",
    "filelock",
    "fsspec",
    "huggingface-hub",
    "jinja2",
    "numpy",
    "packaging",
    "pandas",
    "peft",
    "pluggy",
    "psutil",
    "pyarrow",
    "pytest",
    "pytest-xdist",
    "pyyaml",
    "safetensors",
    "tokenizers",
    "torch",
    "tqdm",
    "transformers",
    "typing-extensions",
    "xxhash",
}
CARRIED = {
    "bitsandbytes",
    "jsonschema",
    "jsonschema-specifications",
    "referencing",
    "rpds-py",
    # the QLoRA step: trl and datasets, and datasets' dill and multiprocess
    "trl",
    "datasets",
    "dill",
    "multiprocess",
}
# What the carried wheels need (their Requires-Dist): all in the image.
CARRIED_NEEDS = {
    "torch",
    "numpy",
    "packaging",
    "attrs",
    "typing-extensions",
    "accelerate",
    "filelock",
    "fsspec",
    "huggingface-hub",
    "jinja2",
    "pandas",
    "psutil",
    "pyarrow",
    "pyyaml",
    "tqdm",
    "transformers",
    "xxhash",
}


def dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


PROBE = '''\
"""gpu_check probe: rows as they arrive, then the engine summary and peak GPU memory."""

import json
import os
import sys
import time

_OUT = os.environ["GPU_CHECK_PROBE"]
_T0 = [0.0]
_SUMMARY = {}


def _cuda():
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def pytest_sessionstart(session):
    _T0[0] = time.perf_counter()


def pytest_llmeval_result(config, result):
    cuda = _cuda()
    row = result.columns()  # a SampleResult's flat row, as stored
    keep = ("sample_id", "output", "latency_ms", "prompt_tokens", "completion_tokens", "error")
    line = {k: row.get(k) for k in keep}
    line["max_memory_allocated"] = cuda.max_memory_allocated() if cuda else None
    with open(_OUT + ".rows.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\\n")


def pytest_llmeval_summary(config, summary):
    _SUMMARY.update(engine=summary.get("engine"), status=summary.get("status"))


def _distributions():
    """The installed distributions this process imported modules from."""
    import importlib.metadata as md

    owners = md.packages_distributions()
    tops = {name.partition(".")[0] for name in list(sys.modules)}
    return sorted({d for top in tops for d in owners.get(top, ())})


def pytest_unconfigure(config):
    cuda = _cuda()
    info = {
        "session_s": time.perf_counter() - _T0[0] if _T0[0] else None,
        "summary": _SUMMARY,
        "cuda": cuda is not None,
        "distributions": _distributions(),
    }
    if cuda is not None:
        info.update(
            device=cuda.get_device_name(),
            max_memory_allocated=cuda.max_memory_allocated(),
            max_memory_reserved=cuda.max_memory_reserved(),
        )
    with open(_OUT + ".json", "w", encoding="utf-8") as f:
        json.dump(info, f)
'''


@dataclass
class Run:
    precision: str
    batch_size: int
    n: int
    status: str = "not run"  # ok, failed, timed out, skipped (budget)
    returncode: int | None = None
    wall_s: float | None = None
    session_s: float | None = None
    generation_s: float | None = None
    generate_calls: int | None = None
    rows: int = 0
    errors: int = 0
    completion_tokens: int = 0
    peak_allocated: int | None = None
    peak_reserved: int | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    distributions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    identical: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.precision} bs={self.batch_size}"

    @property
    def samples_per_s(self) -> float | None:
        return self.rows / self.generation_s if self.generation_s else None

    @property
    def tokens_per_s(self) -> float | None:
        return self.completion_tokens / self.generation_s if self.generation_s else None


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def gib(n: int | None) -> str:
    return "" if n is None else f"{n / 2**30:.2f}"


# ---- the model -------------------------------------------------------------------------------


def llama_config(shape: dict[str, Any], tok: Any) -> Any:
    import inspect

    from transformers import LlamaConfig

    kw = {k: v for k, v in shape.items() if k not in ("rope_theta", "rope_scaling")}
    kw.update(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:  # transformers 5
        kw["rope_parameters"] = {**shape["rope_scaling"], "rope_theta": shape["rope_theta"]}
    else:
        kw.update(rope_theta=shape["rope_theta"], rope_scaling=shape["rope_scaling"])
    return LlamaConfig(**kw)


def build_model(directory: Path, shape_name: str) -> dict[str, Any]:
    """Random bf16 weights with the shape's dimensions, saved with a tokenizer (runs in a
    subprocess: the parent process never touches the GPU)."""
    import torch
    from transformers import LlamaForCausalLM

    sys.path.insert(0, str(REPO / "tests"))
    import tinymodel

    t0 = time.perf_counter()
    tok = tinymodel.build_tokenizer()
    config = llama_config(SHAPES[shape_name], tok)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # initialize in bf16: half the memory and time
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model = model.to(torch.bfloat16)
    built = time.perf_counter() - t0
    directory.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    tok.save_pretrained(directory)
    model.save_pretrained(directory)
    saved = time.perf_counter() - t1
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    return {
        "shape": shape_name,
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": config.vocab_size,
        "tokenizer_size": len(tok),
        "hidden": config.hidden_size,
        "layers": config.num_hidden_layers,
        "tied": bool(config.tie_word_embeddings),
        "device": device,
        "build_s": built,
        "save_s": saved,
        "bytes": size,
    }


# ---- the project and the runs ----------------------------------------------------------------


def build_project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(QA_DATA, root / "data" / "qa.jsonl")
    (root / "evals").mkdir(exist_ok=True)
    # The shipped suite's dataset and task prompt; no thresholds (random weights miss all).
    (root / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\n", encoding="utf-8"
    )
    (root / "conftest.py").write_text(PROBE, encoding="utf-8")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = [str(REPO), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env.update(
        PYTHONPATH=os.pathsep.join(dict.fromkeys(path)),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
        TQDM_DISABLE="1",
    )
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    return env


def run_eval(
    root: Path, model_dir: Path, run: Run, args: argparse.Namespace, deadline: Deadline
) -> None:
    timeout = min(args.run_timeout, deadline.left() - args.reserve_s)
    if timeout < args.min_run_s:
        run.status = "skipped (budget)"
        return
    probe = root / f"probe_{run.precision}_bs{run.batch_size}_{run.n}"
    for suffix in (".json", ".rows.jsonl"):
        Path(str(probe) + suffix).unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pytest_llmeval.plugin",
        "-p",
        "no:cacheprovider",
        "evals",
        "--model",
        f"hf/{model_dir}",
        "--llmeval-cache",
        "off",
        "--llmeval-db",
        str(probe) + ".db",
        "--llmeval-limit",
        str(run.n),
        "--max-tokens",
        str(args.max_tokens),
        "--llmeval-batch-size",
        str(run.batch_size),
        *PRECISIONS[run.precision],
    ]
    env = {**child_env(), "GPU_CHECK_PROBE": str(probe)}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, run.returncode = proc.stdout, proc.returncode
        run.status = "ok"
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or ""
        output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        run.status = f"timed out ({timeout:.0f} s)"
    run.wall_s = time.perf_counter() - start
    collect(run, probe, output)


def collect(run: Run, probe: Path, output: str) -> None:
    rows_file, info_file = Path(str(probe) + ".rows.jsonl"), Path(str(probe) + ".json")
    rows = []
    if rows_file.exists():
        for line in rows_file.read_text(encoding="utf-8").splitlines():
            # the last line of a run killed at its timeout can be cut short
            with contextlib.suppress(json.JSONDecodeError):
                rows.append(json.loads(line))
    run.rows = len(rows)
    run.errors = sum(1 for r in rows if r.get("error"))
    run.outputs = {str(r["sample_id"]): str(r.get("output") or "") for r in rows}
    run.completion_tokens = sum(int(r.get("completion_tokens") or 0) for r in rows)
    latencies = [float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None]
    if latencies:
        # Each row carries its generate call's wall time: at batch size 1 every row is one
        # call; batched, the rows of one call share one value.
        calls = latencies if run.batch_size == 1 else sorted(set(latencies))
        run.generation_s, run.generate_calls = sum(calls) / 1000.0, len(calls)
    peaks = [r["max_memory_allocated"] for r in rows if r.get("max_memory_allocated")]
    run.peak_allocated = max(peaks) if peaks else None
    if info_file.exists():
        info = json.loads(info_file.read_text(encoding="utf-8"))
        run.session_s = info.get("session_s")
        run.engine = dict((info.get("summary") or {}).get("engine") or {})
        run.distributions = list(info.get("distributions") or [])
        if info.get("max_memory_allocated") is not None:
            run.peak_allocated = info["max_memory_allocated"]
            run.peak_reserved = info.get("max_memory_reserved")
    check(run, info_file.exists(), output)


def project_requirements() -> set[str]:
    """pytest-llmeval's own requirements on this path: core, ``local`` and ``quant``."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    reqs = [*project["dependencies"], *extras.get("local", []), *extras.get("quant", [])]
    return {dist_key(m.group()) for r in reqs if (m := re.match(r"[A-Za-z0-9_.-]+", r))}


def unavailable(distributions: Sequence[str]) -> list[str]:
    """Imported distributions the GPU machine would lack: the project's requirements and
    the carried wheels' needs. Transitive imports of packages the image has (other versions
    there) are the image's own business and are not counted."""
    ours = project_requirements() | CARRIED | CARRIED_NEEDS
    have = GPU_IMAGE | CARRIED
    return sorted(d for d in distributions if dist_key(d) in ours and dist_key(d) not in have)


def check(run: Run, finished: bool, output: str) -> None:
    p = run.problems
    if not finished and run.status == "ok":
        p.append(f"pytest exited {run.returncode} without the probe's summary")
    if run.rows != run.n:
        p.append(f"{run.rows}/{run.n} rows")
    if run.errors:
        p.append(f"{run.errors} model errors")
    # A random model misses every sample, so pytest exits 1; anything else is a crash.
    if run.returncode not in (None, 0, 1):
        p.append(f"exit status {run.returncode}")
    missing = unavailable(run.distributions)
    if missing:
        p.append(f"imported {', '.join(missing)}: neither in the GPU image nor carried")
    e = run.engine
    if e:
        if e.get("batch_size") != run.batch_size:
            p.append(f"engine batch_size {e.get('batch_size')}")
        if run.batch_size > 1 and run.generate_calls != e.get("batches"):
            p.append(f"{run.generate_calls} distinct batch latencies, engine {e.get('batches')}")
        if run.batch_size == 1 and e.get("batches"):
            p.append(f"batch size 1 ran {e.get('batches')} batches")
    if p and run.status == "ok":
        run.status = "failed"
    if p:
        print(output[-4000:], flush=True)


# ---- QLoRA -----------------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> list[float]:
    """[min, mean, max]."""
    return [min(values), round(sum(values) / len(values), 1), max(values)] if values else []


def qlora_data(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the QLoRA step's train file: steps x batch x grad accum rows of the preset's
    train split (one epoch of exactly ``spec["steps"]``), each at least ``spec["length"]`` tokens long as trl tokenizes it (so truncated to
    exactly that), with a prompt of at most length - 32 tokens (so the answer keeps its
    loss tokens). Runs in a subprocess: it imports transformers and the finetune module."""
    import dataclasses
    import importlib
    import importlib.metadata as md

    from transformers import AutoConfig, AutoTokenizer

    from pytest_llmeval.finetune import estimate
    from pytest_llmeval.finetune.config import load_config, optimizer_for
    from pytest_llmeval.finetune.data import load_tasks, rows

    versions: dict[str, str | None] = {}
    for name in ("trl", "datasets", "peft", "accelerate", "bitsandbytes", "transformers"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    for module in ("trl", "datasets", "peft"):  # fail here, in seconds, not after loading
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure ends the step
            return {"error": f"import {module}: {type(exc).__name__}: {exc}", "versions": versions}
    model, length = spec["model"], int(spec["length"])
    cfg = load_config(
        QLORA_PRESET,
        [
            f"base_model={model}",
            f"training.max_length={length}",
            f"output_dir={spec['out']}",
            *spec["overrides"],
        ],
        rootdir=REPO,
    )
    (task,) = load_tasks(cfg, REPO)
    t = cfg.training
    needed = int(spec["steps"]) * t.batch_size * t.grad_accum  # one epoch of exactly the steps
    tok = AutoTokenizer.from_pretrained(model)
    chat = bool(getattr(tok, "chat_template", None))
    field_name = task.target_field

    def count(samples: Sequence[Any]) -> Any:
        return estimate.count_tokens(
            tok, rows([dataclasses.replace(task, train=tuple(samples))], chat), length
        )

    train = list(task.train)
    preset = count(train)  # what the preset's own data gives
    preset_total = [p + c for p, c in zip(preset.prompt, preset.completion, strict=True)]
    pool = "\n\n".join(str(s["input"]) for s in train)
    chars_per_token = len(pool[:20000]) / len(
        tok(pool[:20000], add_special_tokens=False)["input_ids"]
    )
    target, top = length - 128, length - 32  # prompt tokens: aimed at, at most

    def text(offset: int, tokens: float) -> str:
        n = max(int(tokens * chars_per_token), 0)
        start = offset % max(len(pool) - n, 1)
        return pool[start : start + n]

    candidates = train[: min(len(train), 2 * needed + 32)]
    fillers = [max(target - p, 0) for p in preset.prompt[: len(candidates)]]
    kept: list[Any] = []
    for _ in range(3):  # aim, then correct twice with the measured counts
        made = [
            dataclasses.replace(
                s,
                fields={
                    **s.fields,
                    "input": f"{s['input']}\n\n{text(7919 * i, fillers[i])}",
                    field_name: {**s[field_name], "notes": text(104729 * i, 256)},
                },
            )
            for i, s in enumerate(candidates)
        ]
        got = count(made)
        kept = [
            m
            for m, p, c in zip(made, got.prompt, got.completion, strict=True)
            if p <= top and p + c >= length
        ]
        if len(kept) >= needed:
            break
        fillers = [max(f + target - p, 0) for f, p in zip(fillers, got.prompt, strict=True)]
    if len(kept) < needed:
        return {
            "error": f"only {len(kept)}/{needed} rows reach {length} tokens",
            "versions": versions,
        }
    kept = kept[:needed]
    final = count(kept)
    out = Path(spec["data"])
    with out.open("w", encoding="utf-8") as f:
        for s in kept:
            f.write(json.dumps(dict(s.fields), ensure_ascii=False) + "\n")
    totals = [p + c for p, c in zip(final.prompt, final.completion, strict=True)]
    arch = estimate.arch_from_config(AutoConfig.from_pretrained(model))
    mem = estimate.memory(cfg, arch, optimizer_for(t.optimizer, True)[0])
    return {
        "data": str(out),
        "rows": len(kept),
        "at_length": sum(1 for n in totals if n >= length),
        "prompt_tokens": _stats(final.prompt),
        "loss_tokens": _stats([length - p for p in final.prompt]),
        "preset_tokens": _stats(preset_total),
        "preset_over_length": sum(1 for n in preset_total if n > length),
        "preset_rows": len(preset_total),
        "batch_size": t.batch_size,
        "grad_accum": t.grad_accum,
        "estimate_gib": round(mem.total / 2**30, 2),
        "versions": versions,
    }


def qlora_check(
    model_dir: Path, root: Path, args: argparse.Namespace, deadline: Deadline
) -> dict[str, Any]:
    """The QLoRA step (see the module docstring); returns its figures and a ``status``."""
    res: dict[str, Any] = {"steps_wanted": args.qlora_steps, "seq_len": args.qlora_length}
    timeout = min(args.qlora_timeout, deadline.left() - args.reserve_s)
    if args.qlora_timeout <= 0:
        res["status"] = "skipped (--qlora-timeout 0)"
        return res
    if timeout < args.min_run_s:
        res["status"] = "skipped (budget)"
        return res
    start = time.perf_counter()
    work = root / "qlora"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out_dir, data = work / "out", work / "train.jsonl"
    spec = {
        "model": str(model_dir),
        "length": args.qlora_length,
        "steps": args.qlora_steps,
        "overrides": args.qlora_set,
        "out": str(out_dir),
        "data": str(data),
    }
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--qlora-data", json.dumps(spec)],
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        res["status"] = "failed: preparing the data timed out"
        return res
    try:
        prep = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(proc.stdout[-4000:], flush=True)
        res["status"] = f"failed: preparing the data exited {proc.returncode}"
        return res
    res["data"] = prep
    if "error" in prep:
        res["status"] = f"failed: {prep['error']}"
        return res
    log(
        f"qlora data: {prep['rows']} rows, {prep['at_length']} at >= {args.qlora_length} tokens "
        f"(prompt {prep['prompt_tokens']}, loss tokens {prep['loss_tokens']}); the preset's own "
        f"rows: {prep['preset_tokens']} tokens (min/mean/max), {prep['preset_over_length']}/"
        f"{prep['preset_rows']} over {args.qlora_length}; versions {json.dumps(prep['versions'])}"
    )
    if prep["at_length"] != prep["rows"]:
        res["status"] = f"failed: {prep['rows'] - prep['at_length']} rows are short"
        return res
    cmd = [
        sys.executable,
        "-m",
        "pytest_llmeval.finetune",
        "--config",
        str(QLORA_PRESET),
        *("--set", f"base_model={model_dir}"),
        *("--set", f"training.max_steps={args.qlora_steps}"),
        *("--set", f"training.max_length={args.qlora_length}"),
        *("--set", f"output_dir={out_dir}"),
        *("--set", f"tasks.0.dataset={data}"),  # the rows made above, all >= max_length
        *("--set", "training.logging_steps=1"),  # every step's loss in manifest.json
        *(x for item in args.qlora_set for x in ("--set", item)),
    ]
    env = {**child_env(), "LLMEVAL_CUDA_MEMORY_GIB": f"{args.qlora_cap_gib:g}"}
    timeout = min(
        args.qlora_timeout - (time.perf_counter() - start), deadline.left() - args.reserve_s
    )
    log(f"qlora: training {args.qlora_steps} steps ({timeout:.0f} s at most): {shlex.join(cmd)}")
    t0 = time.perf_counter()
    try:
        train = subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=max(timeout, 1.0),
        )
        output, res["returncode"] = train.stdout, train.returncode
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or ""
        output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        res["status"] = f"timed out ({timeout:.0f} s)"
    res["process_s"] = round(time.perf_counter() - t0, 1)
    lines = [ln for ln in output.splitlines() if ln.strip()]
    print("\n".join(f"  | {ln}" for ln in lines[-60:]), flush=True)
    oom = "OutOfMemoryError" in output or "CUDA out of memory" in output
    manifest_file = out_dir / "manifest.json"
    if manifest_file.exists():
        m = json.loads(manifest_file.read_text(encoding="utf-8"))
        losses = [float(h["loss"]) for h in m.get("loss_history", [])]
        tokens = m["steps"] * prep["batch_size"] * prep["grad_accum"] * args.qlora_length
        res.update(
            steps=m["steps"],
            train_time_s=m["train_time_s"],
            tokens_per_s=round(tokens / m["train_time_s"], 1) if m["train_time_s"] else None,
            steps_per_s=round(m["steps"] / m["train_time_s"], 3) if m["train_time_s"] else None,
            losses=losses,
            method=m.get("method"),
            optimizer=m.get("optimizer"),
            device=m.get("device"),
            trainable_params=m.get("trainable_params"),
            cuda_memory=m.get("cuda_memory"),
        )
    res["wall_s"] = round(time.perf_counter() - start, 1)
    if "status" in res:  # timed out
        return res
    memory = res.get("cuda_memory")
    target = args.qlora_cap_gib * 2**30
    if oom:
        res["status"] = f"MISS: out of memory under the {args.qlora_cap_gib:g} GiB cap"
    elif res["returncode"] != 0 or "steps" not in res:
        res["status"] = f"failed: exit status {res['returncode']}"
    elif res["steps"] != args.qlora_steps:
        res["status"] = f"failed: {res['steps']}/{args.qlora_steps} steps"
    elif not all(math.isfinite(x) for x in res["losses"]) or not res["losses"]:
        res["status"] = "failed: loss not finite"
    elif not memory:
        res["status"] = "ok (no CUDA: no memory figure)"
    elif max(memory["max_memory_reserved"], memory["max_memory_allocated"]) <= target:
        res["status"] = "PASS"
    else:
        res["status"] = "MISS"
    return res


def qlora_lines(q: dict[str, Any], cap_gib: float) -> list[str]:
    """The summary's QLoRA lines."""
    out = [f"qlora: {q['status']}"]
    d = q.get("data") or {}
    if d.get("rows"):
        out.append(
            f"  {q.get('method') or 'QLoRA'}, preset {QLORA_PRESET.relative_to(REPO)}: "
            f"{q.get('steps', 0)}/{q['steps_wanted']} steps x batch {d['batch_size']} x grad "
            f"accum {d['grad_accum']} x {q['seq_len']} tokens; {d['at_length']}/{d['rows']} rows "
            f"at >= {q['seq_len']} tokens, truncated to it (prompt {d['prompt_tokens']}, loss on "
            f"{d['loss_tokens']} answer tokens, min/mean/max); the preset's own rows are "
            f"{d['preset_tokens']} tokens"
        )
    if q.get("train_time_s") is not None:
        out.append(
            f"  train {q['train_time_s']:.1f} s = {q['steps_per_s']} steps/s, "
            f"{q['tokens_per_s']:.0f} tokens/s; training process {q['process_s']:.1f} s, "
            f"step {q['wall_s']:.1f} s in all; optimizer {q.get('optimizer')}, "
            f"{q.get('trainable_params')} trainable params, device {q.get('device')}"
        )
    memory = q.get("cuda_memory")
    if memory:
        out.append(
            f"  peak GPU memory (training process): {gib(memory['max_memory_allocated'])} GiB "
            f"allocated, {gib(memory['max_memory_reserved'])} GiB reserved; cap "
            f"{memory['cap_gib']} GiB of {gib(memory['device_total'])}; target <= {cap_gib:g} "
            f"GiB; dry-run estimate {d.get('estimate_gib')} GiB"
        )
    losses = q.get("losses") or []
    if losses:
        first, last = losses[:3], losses[-3:]
        out.append(
            f"  loss: first {' '.join(f'{x:.4f}' for x in first)} ... last "
            f"{' '.join(f'{x:.4f}' for x in last)} "
            f"({'down' if sum(last) / len(last) < sum(first) / len(first) else 'NOT down'})"
        )
    return out


# ---- reporting ---------------------------------------------------------------------------------


def compare(runs: list[Run]) -> None:
    """Batched outputs against batch size 1's on the samples both ran (the --llmeval-limit
    subsets are nested). In bf16 or quantized, batching can change numerics: this is
    information, not a check."""
    for r in runs:
        base = next(
            (b for b in runs if b.precision == r.precision and b.batch_size == 1 and b.rows), None
        )
        if r.batch_size > 1 and base is not None and r.rows:
            common = base.outputs.keys() & r.outputs.keys()
            same = sum(1 for k in common if base.outputs[k] == r.outputs[k])
            r.identical = f"{same}/{len(common)}"


def table(runs: list[Run]) -> str:
    head = (
        "precision",
        "batch",
        "N",
        "rows",
        "wall s",
        "session s",
        "gen s",
        "calls",
        "tok/sample",
        "samples/s",
        "tokens/s",
        "batched/b1",
        "peak alloc GiB",
        "peak reserved GiB",
        "same as b1",
        "status",
    )
    lines: list[tuple[str, ...]] = []
    for r in runs:
        base = next((b for b in runs if b.precision == r.precision and b.batch_size == 1), None)
        ratio = (
            r.samples_per_s / base.samples_per_s
            if r.batch_size > 1 and base and base.samples_per_s and r.samples_per_s
            else None
        )
        status = r.status + (f": {'; '.join(r.problems)}" if r.problems else "")
        lines.append(
            (
                r.precision,
                str(r.batch_size),
                str(r.n),
                str(r.rows),
                "" if r.wall_s is None else f"{r.wall_s:.1f}",
                "" if r.session_s is None else f"{r.session_s:.1f}",
                "" if r.generation_s is None else f"{r.generation_s:.2f}",
                "" if r.generate_calls is None else str(r.generate_calls),
                f"{r.completion_tokens / r.rows:.1f}" if r.rows else "",
                "" if r.samples_per_s is None else f"{r.samples_per_s:.2f}",
                "" if r.tokens_per_s is None else f"{r.tokens_per_s:.0f}",
                "" if ratio is None else f"{ratio:.2f}x",
                gib(r.peak_allocated),
                gib(r.peak_reserved),
                r.identical,
                status,
            )
        )
    widths = [max([len(h), *(len(x[i]) for x in lines)]) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if 0 < i < len(head) - 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, lines)])


def environment() -> dict[str, Any]:
    code = (
        "import json, sys, importlib.metadata as md\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for name in ('torch', 'transformers', 'accelerate', 'bitsandbytes', 'pytest'):\n"
        "    try:\n"
        "        out[name] = md.version(name)\n"
        "    except md.PackageNotFoundError:\n"
        "        out[name] = None\n"
        "import torch\n"
        "out['cuda'] = torch.cuda.is_available()\n"
        "out['device'] = torch.cuda.get_device_name() if out['cuda'] else 'cpu'\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:] or proc.returncode}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--cpu-smoke", action="store_true", help="tiny config, 8 samples, on the CPU")
    p.add_argument("--shape", choices=sorted(SHAPES), help="model shape (3b; smoke: tiny)")
    p.add_argument("--limit", type=int, help="samples of the batched runs (128; smoke 8)")
    p.add_argument("--b1-limit", type=int, help="samples of the batch-1 runs (32; smoke 8)")
    p.add_argument("--batch-size", type=int, help="the batched runs' batch size (32; smoke 4)")
    p.add_argument("--max-tokens", type=int, default=32, help="--max-tokens (32)")
    p.add_argument(
        "--precisions",
        default="bf16,4bit,8bit",
        help="comma-separated, run in this order (bf16,4bit,8bit)",
    )
    p.add_argument("--budget-s", type=float, default=440.0, help="whole-script deadline (440)")
    p.add_argument("--run-timeout", type=float, default=240.0, help="one pytest run's limit (240)")
    p.add_argument(
        "--min-run-s", type=float, help="skip a run with less time left than this (45; smoke 10)"
    )
    p.add_argument("--reserve-s", type=float, default=10.0, help="kept for the summary (10)")
    p.add_argument(
        "--qlora-timeout",
        type=float,
        default=240.0,
        help="the QLoRA step's limit, data and training (240; 0 skips it)",
    )
    p.add_argument("--qlora-steps", type=int, help="QLoRA optimizer steps (30; smoke 2)")
    p.add_argument("--qlora-length", type=int, default=1024, help="QLoRA tokens a row (1024)")
    p.add_argument(
        "--qlora-set",
        action="append",
        metavar="KEY=VALUE",
        help="another --set for the preset (none; smoke: batch_size=1, grad_accum=2)",
    )
    p.add_argument(
        "--qlora-cap-gib",
        type=float,
        default=QLORA_CAP_GIB,
        help="LLMEVAL_CUDA_MEMORY_GIB of the training process, and the target peak (22)",
    )
    p.add_argument("--workdir", help="where the model and project go (default: a temp dir)")
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    p.add_argument("--keep", action="store_true", help="keep the model and the project")
    p.add_argument("--build", metavar="DIR", help=argparse.SUPPRESS)  # the build subprocess
    p.add_argument("--qlora-data", metavar="JSON", help=argparse.SUPPRESS)  # the data subprocess
    args = p.parse_args(argv)
    smoke = args.cpu_smoke
    args.shape = args.shape or ("tiny" if smoke else "3b")
    args.limit = args.limit or (8 if smoke else 128)
    args.b1_limit = args.b1_limit or (8 if smoke else 32)
    args.batch_size = args.batch_size or (4 if smoke else 32)
    args.min_run_s = args.min_run_s or (10.0 if smoke else 45.0)
    args.qlora_steps = args.qlora_steps or (2 if smoke else 30)
    if args.qlora_set is None:  # smoke: 1024-token rows cost ~6 s each on one CPU thread
        args.qlora_set = ["training.batch_size=1", "training.grad_accum=2"] if smoke else []
    args.precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    unknown = set(args.precisions) - set(PRECISIONS)
    if unknown:
        p.error(f"unknown precisions {sorted(unknown)}; known: {', '.join(PRECISIONS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.build:
        print(json.dumps(build_model(Path(args.build), args.shape)), flush=True)
        return 0
    if args.qlora_data:
        print(json.dumps(qlora_data(json.loads(args.qlora_data))), flush=True)
        return 0
    started = time.perf_counter()
    deadline = Deadline(args.budget_s)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="llmeval_gpu_check_"))
    root.mkdir(parents=True, exist_ok=True)
    model_dir, project = root / "model", root / "project"
    env = environment()
    log(f"environment: {json.dumps(env)}")
    if args.cpu_smoke:
        log("--cpu-smoke: tiny config on the CPU; the figures test the logic, not a GPU")
    elif not env.get("cuda"):
        log("WARNING: no CUDA device: this is not the GPU check (use --cpu-smoke on a CPU)")

    # 1. the model
    log(f"building the {args.shape} model in {model_dir}")
    model: dict[str, Any] = {}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--build", str(model_dir)]
    cmd += ["--shape", args.shape]
    try:
        proc = subprocess.run(
            cmd,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
            check=False,
            timeout=max(deadline.left() - args.reserve_s, 1.0),
        )
        if proc.returncode == 0:
            model = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            model = {"error": f"build exited {proc.returncode}"}
    except subprocess.TimeoutExpired:
        model = {"error": "build timed out"}
    log(f"model: {json.dumps(model)}")

    # 4. QLoRA, first: a fixed amount of work under its own limit; the runs get the rest
    qlora: dict[str, Any] = {"status": "not run: no model"}
    if "error" not in model:
        log(f"qlora: {args.qlora_steps} steps ({deadline.left():.0f} s left)")
        qlora = qlora_check(model_dir, root, args, deadline)
        log(f"qlora: {qlora['status']}")

    # 2./3. the project and the runs
    runs = [
        Run(precision, bs, n)
        for precision in args.precisions
        for bs, n in ((args.batch_size, args.limit), (1, args.b1_limit))
    ]
    if "error" not in model:
        build_project(project)
        for run in runs:
            log(f"{run.label}, {run.n} samples: running ({deadline.left():.0f} s left)")
            run_eval(project, model_dir, run, args, deadline)
            log(
                f"{run.label}: {run.status}, {run.rows}/{run.n} rows, generation "
                f"{run.generation_s or 0:.2f} s, session {run.session_s or 0:.1f} s, "
                f"peak {gib(run.peak_allocated) or '-'} GiB"
                + (f"; {'; '.join(run.problems)}" if run.problems else "")
            )
    compare(runs)

    # 5. summary
    total = time.perf_counter() - started
    print("\n" + "=" * 30 + " gpu_check summary " + "=" * 30)
    print(
        f"device: {env.get('device')}; python {env.get('python')}, torch {env.get('torch')}, "
        f"transformers {env.get('transformers')}, bitsandbytes {env.get('bitsandbytes')}, "
        f"pytest {env.get('pytest')}"
    )
    if "error" in model:
        print(f"model: FAILED: {model['error']}")
    else:
        print(
            f"model: Llama-3.2-3B-shaped ({args.shape}): {model['params'] / 1e9:.3f} B params, "
            f"hidden {model['hidden']}, {model['layers']} layers, vocab {model['vocab_size']} "
            f"(tokenizer {model['tokenizer_size']}), tied {model['tied']}; random weights built "
            f"on {model['device']} in {model['build_s']:.1f} s, saved in bf16 in "
            f"{model['save_s']:.1f} s ({model['bytes'] / 1e9:.2f} GB)"
        )
    print(
        f"runs: --llmeval-cache off, --max-tokens {args.max_tokens}, shipped QA test set; "
        f"samples/s and tokens/s over generation time (the sum of generate calls' wall time); "
        f"session s: pytest session (imports, load, quantization, generation, scoring); "
        f"peak: torch.cuda.max_memory_allocated/reserved in the pytest process"
    )
    print(table(runs))
    for precision in args.precisions:
        mine = [r for r in runs if r.precision == precision]
        b, one = mine[0], mine[1]
        if b.samples_per_s and one.samples_per_s:
            print(
                f"  {precision}: batched {b.samples_per_s:.2f} samples/s vs batch-1 "
                f"{one.samples_per_s:.2f} = {b.samples_per_s / one.samples_per_s:.2f}x; "
                f"peak GPU memory {gib(b.peak_allocated) or 'n/a'} GiB (bs={b.batch_size}), "
                f"{gib(one.peak_allocated) or 'n/a'} GiB (bs=1)"
            )
        else:
            print(f"  {precision}: incomplete ({b.status}; {one.status})")
    print("\n".join(qlora_lines(qlora, args.qlora_cap_gib)))
    failed = [r for r in runs if r.status != "ok"]
    qlora_ok = qlora["status"] == "PASS" or qlora["status"].startswith(("ok", "skipped (--"))
    verdict = "OK" if not failed and qlora_ok and "error" not in model else "FAILED"
    print(
        f"gpu_check {verdict}: {len(runs) - len(failed)}/{len(runs)} runs ok, "
        f"qlora {qlora['status'].split(':')[0].split(' (')[0]}, "
        f"total {total:.0f} s (budget {args.budget_s:.0f} s)"
    )

    if args.json:
        payload = {
            "environment": env,
            "model": model,
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "build")},
            "runs": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "outputs"},
                    "samples_per_s": r.samples_per_s,
                    "tokens_per_s": r.tokens_per_s,
                }
                for r in runs
            ],
            "qlora": qlora,
            "total_s": total,
            "verdict": verdict,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if not args.keep and not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
