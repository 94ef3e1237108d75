#!/usr/bin/env bash
# GPU check for a lent GPU machine (one H100): a Llama-3.2-3B-shaped model with random
# weights through the plugin in bf16, 4-bit and 8-bit, batched and at batch size 1, with
# samples/s, the batched/batch-1 ratio and peak GPU memory; and first, 30 QLoRA steps on that
# model with finetune/llama-3.2-3b-4090.yaml at 1024 tokens a row, its training process capped
# at 22 GiB of CUDA memory (LLMEVAL_CUDA_MEMORY_GIB=22, read by pytest_llmeval/finetune/train.py
# before it loads the model: a 24 GB card), with peak memory, tokens/s, the loss trend and
# PASS/MISS against peak <= 22 GiB. Under 8 minutes in all (the Python part has a 440 s
# deadline, and is killed at 470 s; QLoRA gets at most 240 s of it, --qlora-timeout, the
# evaluations the rest). See scripts/gpu_check.py.
#
# What the machine lacks (/work/.library/device/KINDS.md: Python 3.12, torch 2.11 cu130,
# transformers 5.17, accelerate, peft, pytest, pyyaml, numpy, attrs, typing-extensions and
# packaging are there; nothing can be fetched there) travels as wheels in .whl/:
#   bitsandbytes (4/8-bit; its wheel has libbitsandbytes_cuda130.so), and jsonschema, which
#   the plugin uses to validate every suite, with its needs jsonschema-specifications,
#   referencing and rpds-py (compiled: cp312); and for the QLoRA step trl and datasets, with
#   datasets' dill and multiprocess (their other needs are in the image; the image's
#   transformers, peft and accelerate are used). openai is not needed: the hf provider never
#   imports it, and the cpu-smoke run checks that. About 46 MB together.
#
# Beforehand, on the workstation, in the repository root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#     --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
#     bitsandbytes==0.50.2 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
#     referencing==0.37.0 rpds-py==2026.9.1 trl==1.16.0 datasets==5.2.0 dill==0.4.1 \
#     multiprocess==0.70.19
# (manylinux_2_24 is the tag of the bitsandbytes wheel; the device README's list lacks it.)
#
# Then one device call, with .whl carried (timeout_s 540 leaves the machine's start aside):
#   run(command="bash scripts/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log",
#       carry=[".whl"], timeout_s=540)
# The figures also go to $OUT/gpu_check.json when $OUT is set.
#
# Arguments are passed to gpu_check.py: e.g. --precisions bf16,4bit, --limit 64,
# --b1-limit 16, --budget-s 300; --qlora-timeout 0 skips QLoRA, --precisions '' runs QLoRA
# alone. On a CPU: bash scripts/gpu_check.sh --cpu-smoke (QLoRA: 2 steps of batch 1 x grad
# accum 2, as one CPU thread takes ~6 s a 1024-token row)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# The plugin from this checkout, nothing installed: gpu_check.py runs pytest with
# PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p pytest_llmeval.plugin, on this PYTHONPATH.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
json=()
if [ -n "${OUT:-}" ]; then
    json=(--json "$OUT/gpu_check.json")
fi
exec timeout -k 10 470 "$PY" scripts/gpu_check.py "${json[@]}" "$@"
