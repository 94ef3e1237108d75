"""Install a trained model directory as the bundled default model (``embedded/default``).

    python scripts/install_embedded.py SRC [--dest pytest_llmeval/embedded/default] [--check]

SRC is what ``python -m pytest_llmeval.finetune --config finetune/embedded-gpu.yaml`` wrote
(or the unpacked parts that ``scripts/gpu_train_embedded.sh`` put in ``$OUT``:
``mkdir -p SRC && cat model.tar.* | tar -x -C SRC``). The script:

1. checks the files: ``config.json``, the tokenizer (``tokenizer.json``,
   ``tokenizer_config.json``, ``chat_template.jinja``), ``manifest.json`` and the weights;
2. writes one ``model.safetensors`` in float16: sharded weights
   (``model.safetensors.index.json`` + ``model-0000x-of-0000y.safetensors``) are merged and
   float32 weights halved (``config.json``'s dtype follows), since one file is what the
   package ships; the ``hf/`` provider loads a sharded checkpoint too, this is for size;
3. loads the result with transformers, as ``--model hf/DIR`` does, and greedily answers
   one prompt, to be sure it is a working model;
4. refuses a directory of 40 MB or more, or a manifest that reports contamination;
5. replaces DEST's files with the new ones (``--check``: stops before this).

Then: ``pytest evals/`` runs the new default (no ``--model``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "pytest_llmeval" / "embedded" / "default"
LIMIT = 40 * 1000 * 1000  # bytes: the package's embedded model stays under 40 MB
NEEDED = ("config.json", "tokenizer.json", "tokenizer_config.json", "manifest.json")
KEEP = (*NEEDED, "generation_config.json", "chat_template.jinja", "special_tokens_map.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("--dest", type=Path, default=DEST)
    p.add_argument("--check", action="store_true", help="check and convert, install nothing")
    args = p.parse_args(argv)
    src: Path = args.src
    missing = [n for n in NEEDED if not (src / n).is_file()]
    if missing:
        return fail(f"{src}: missing {', '.join(missing)}")
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    dirty = {k: v["contaminated"] for k, v in manifest.get("contamination", {}).items()}
    if any(dirty.values()) or manifest.get("contamination_forced"):
        return fail(f"the manifest reports contamination: {dirty}")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model"
        staged.mkdir()
        for name in KEEP:
            if (src / name).is_file():
                shutil.copy2(src / name, staged / name)
        tensors = weights(src)
        write_fp16(tensors, staged)
        size = sum(f.stat().st_size for f in staged.iterdir())
        print(f"{src}: {len(tensors)} tensors, {size / 1e6:.1f} MB as installed")
        if size >= LIMIT:
            return fail(f"{size / 1e6:.1f} MB: the bundled model must stay under 40 MB")
        print(f"answer to a test prompt: {smoke(staged)!r}")
        summary(manifest)
        if args.check:
            print("--check: nothing installed")
            return 0
        args.dest.mkdir(parents=True, exist_ok=True)
        for old in args.dest.iterdir():
            if old.is_file():
                old.unlink()
        for new in staged.iterdir():
            shutil.copy2(new, args.dest / new.name)
    print(f"installed in {args.dest}; now: pytest evals/")
    return 0


def weights(src: Path) -> dict[str, object]:
    """All tensors of a single-file or sharded safetensors checkpoint."""
    from safetensors.torch import load_file

    single = src / "model.safetensors"
    if single.is_file():
        return dict(load_file(single))
    index = src / "model.safetensors.index.json"
    if not index.is_file():
        raise SystemExit(f"error: {src}: no model.safetensors nor model.safetensors.index.json")
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    tensors: dict[str, object] = {}
    for shard in shards:
        tensors.update(load_file(src / shard))
    print(f"merged {len(shards)} shards")
    return tensors


def write_fp16(tensors: dict[str, object], staged: Path) -> None:
    import torch
    from safetensors.torch import save_file

    half = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()  # type: ignore[attr-defined]
        for k, v in tensors.items()
    }
    save_file(half, staged / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((staged / "config.json").read_text())
    config["dtype"] = "float16"
    (staged / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def smoke(directory: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    messages = [
        {
            "role": "system",
            "content": "Answer the question using only the context. Reply with the answer "
            "alone (a name, number, year, place, or yes/no), without explanation.",
        },
        {
            "role": "user",
            "content": "Context:\nAda Brandt lives in Norford. Bram Xu lives in Telvale.\n\n"
            "Question: Where does Bram Xu live?",
        },
    ]
    enc = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    return str(tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))


def summary(m: dict[str, object]) -> None:
    tokens = m.get("tokens") or {}
    print(
        f"trained {m.get('steps')} steps in {m.get('train_time_s')} s on {m.get('device')} "
        f"({m.get('stopped')}); loss {m.get('first_loss')} -> {m.get('final_loss')}; "
        f"{m.get('total_params')} params; tokens {tokens}"
    )


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
