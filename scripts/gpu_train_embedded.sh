#!/usr/bin/env bash
# Train the bundled default model on a lent GPU machine (one H200): fresh training data from
# data/generate.py, then finetune/embedded-gpu.yaml (a 14.2M-parameter Llama built from
# scratch, transformers' Trainer under bf16 autocast) for a wall-clock budget, and the
# result packed into $OUT. About 5.5 minutes in all: wheels ~10 s, data ~15 s, loading,
# contamination check and tokenizing ~60 s, training BUDGET (240 s), saving and packing a
# few seconds. Everything has a deadline: training ends by HARD_LIMIT_S - 75 s after the
# start (LLMEVAL_TRAIN_END_BY cuts the budget if loading ran long), the trainer gets
# SIGTERM at HARD_LIMIT_S - 30 s (it stops after the step in flight and saves), and the
# model is packed whatever happened, so the command ends well inside its timeout.
#
# What the machine lacks travels as wheels in .whl/ (see scripts/gpu_check.sh for the
# `pip download` command; the same folder serves both). This script installs only jsonschema
# and its needs (jsonschema-specifications, referencing, rpds-py), from $WHEELS (default
# .whl): the plain trainer needs neither trl nor datasets nor bitsandbytes.
# .whl/ must be git-ignored: echo /.whl/ >> .git/info/exclude
#
# One device call (timeout_s leaves ~60 s over the script's own 480 s hard limit):
#   run(command="bash scripts/gpu_train_embedded.sh", carry=[".whl"], timeout_s=560)
# Shorter or longer training: BUDGET=200 bash scripts/gpu_train_embedded.sh
#
# What comes back in $OUT (at most 8 files, each under 16 MiB, names [A-Za-z0-9._-]):
#   train.log              this script's whole output
#   manifest.json          the training manifest (config, data, contamination, loss, tokens/s)
#   model.tar.00, .01 ...  the model directory as one tar, split into 15 MiB parts
#                          (config.json, generation_config.json, model.safetensors in
#                          float16, tokenizer.json, tokenizer_config.json,
#                          chat_template.jinja, manifest.json)
#   SHA256SUMS             of the parts
# Install it as the bundled model (here, FILES = the folder the files came back to):
#   mkdir -p /tmp/embedded-new && cat FILES/model.tar.* | tar -x -C /tmp/embedded-new
#   python scripts/install_embedded.py /tmp/embedded-new
#
# On a CPU: bash scripts/gpu_train_embedded.sh --cpu-smoke runs the same steps at a tiny
# size (600 rows, a 64-wide 2-layer model, a 15 s budget) into out/gpu-train-smoke, then
# unpacks the parts, checks the limits above and runs `pytest evals/ --llmeval-limit 4`
# with the unpacked model. Extra arguments go to the finetune module (--set KEY=VALUE).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
PY=${PYTHON:-python3}
SMOKE=0
if [ "${1:-}" = "--cpu-smoke" ]; then
    SMOKE=1
    shift
fi

if [ "$SMOKE" = 1 ]; then
    OUTDIR=${OUT:-$ROOT/out/gpu-train-smoke}
    WORK=$(mktemp -d /tmp/llmeval-train-smoke.XXXXXX)
    BUDGET=${BUDGET:-15}
    HARD_LIMIT_S=${HARD_LIMIT_S:-300}
    COUNTS=${COUNTS:-json_extraction=300,qa=300}
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    SIZE=(--set scratch.hidden=64 --set scratch.layers=2 --set scratch.heads=2
          --set scratch.kv_heads=2 --set scratch.intermediate=128 --set scratch.vocab_size=1024
          --set training.batch_tokens=8192 --set training.warmup=5 --set training.logging_steps=5)
else
    OUTDIR=${OUT:?set OUT (the device machine does) or use --cpu-smoke}
    WORK=/tmp/llmeval-train
    BUDGET=${BUDGET:-240}
    HARD_LIMIT_S=${HARD_LIMIT_S:-480}
    COUNTS=${COUNTS:-json_extraction=150000,qa=150000}
    SIZE=()
fi
SEED=${SEED:-1}  # seed 1 at these counts was checked clean against the shipped splits
mkdir -p "$OUTDIR" "$WORK"
rm -rf "$WORK/data" "$WORK/model"
exec > >(tee -a "$OUTDIR/train.log") 2>&1
TEE=$!
elapsed() { echo "[$(( $(date +%s) - START )) s]"; }

# only what this run imports: transformers would import an installed datasets or
# bitsandbytes on its own, and neither is needed (nor tested against the image's pyarrow)
WHEELS=${WHEELS:-.whl}
if [ "$SMOKE" = 0 ] && compgen -G "$WHEELS/jsonschema-*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/jsonschema-*.whl "$WHEELS"/jsonschema_specifications-*.whl \
        "$WHEELS"/referencing-*.whl "$WHEELS"/rpds_py-*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
unset TOKENIZERS_PARALLELISM  # the Rust tokenizer encodes the rows on every core

echo "$(elapsed) $(date -u +%FT%TZ) $(uname -m), $(nproc --all) cores, budget ${BUDGET} s, hard limit ${HARD_LIMIT_S} s"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PY" - <<'EOF' || exit 1
import sys, torch, transformers, tokenizers, jsonschema, yaml
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (cuda {torch.cuda.is_available()}),"
      f" transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
EOF

echo "$(elapsed) generating $COUNTS training rows (seed $SEED)"
"$PY" data/generate.py --extra-train "$COUNTS" --seed "$SEED" --out "$WORK/data" \
    --jobs "$(nproc --all)" || exit 1

echo "$(elapsed) training"
export LLMEVAL_TRAIN_DATA=$WORK/data
export LLMEVAL_TRAIN_END_BY=$(( START + HARD_LIMIT_S - 75 ))
left=$(( START + HARD_LIMIT_S - 30 - $(date +%s) ))
[ "$left" -lt 10 ] && left=10  # (0 would mean no limit at all)
timeout -s TERM -k 20 "$left" \
    "$PY" -m pytest_llmeval.finetune --config finetune/embedded-gpu.yaml \
    --set output_dir="$WORK/model" --set training.max_time_s="$BUDGET" "${SIZE[@]}" "$@"
rc=$?
echo "$(elapsed) finetune exit status $rc"

# pack whatever was saved, even after a failure: the weights are written first
if [ -f "$WORK/model/config.json" ]; then
    rm -rf "$WORK/model/scratch-base"
    [ -f "$WORK/model/manifest.json" ] && cp "$WORK/model/manifest.json" "$OUTDIR/"
    tar -C "$WORK/model" -cf - . | split -b 15m -d -a 2 - "$OUTDIR/model.tar." || rc=1
    (cd "$OUTDIR" && sha256sum model.tar.* > SHA256SUMS)
    ls -l "$WORK/model"
else
    echo "no model was saved"
    rc=1
fi
files=$(find "$OUTDIR" -type f | wc -l)
big=$(find "$OUTDIR" -type f -size +16383k | wc -l)
echo "$(elapsed) $OUTDIR: $files files ($big over 16 MiB), $(du -sh "$OUTDIR" | cut -f1)"
ls -l "$OUTDIR"
if [ "$files" -gt 8 ] || [ "$big" -gt 0 ]; then
    echo "error: more than 8 files or a file over 16 MiB would not come back"
    rc=1
fi

if [ "$SMOKE" = 1 ] && [ "$rc" = 0 ]; then
    echo "$(elapsed) smoke: unpack the parts and evaluate through the plugin"
    unpacked=$WORK/unpacked
    mkdir -p "$unpacked"
    (cd "$OUTDIR" && sha256sum -c --quiet SHA256SUMS) || rc=1
    cat "$OUTDIR"/model.tar.* | tar -x -C "$unpacked" || rc=1
    "$PY" -m pytest evals/ --model "hf/$unpacked" --llmeval-limit 4 -q -p no:cacheprovider \
        --llmeval-cache off --llmeval-db "$WORK/runs.db" -W ignore::DeprecationWarning \
        > "$WORK/pytest.log" 2>&1
    prc=$?
    tail -3 "$WORK/pytest.log"
    # a random little model fails the gates (1); anything else (errors, no items) is a bug
    summary=$(tail -1 "$WORK/pytest.log")
    if [ "$prc" -gt 1 ] || ! grep -Eq "(passed|failed)" <<<"$summary" \
        || grep -Eq "error" <<<"$summary"; then
        echo "error: the unpacked model did not evaluate cleanly (pytest exit $prc)"
        rc=1
    fi
    rm -rf "$WORK"
fi
echo "$(elapsed) done, exit status $rc"
exec 1>&- 2>&-
wait "$TEE" 2>/dev/null  # the log is complete before the command returns
exit "$rc"
