"""A tiny causal LM built offline: a byte-level BPE tokenizer trained on the project's own
data, wrapped as a fast tokenizer with a chat template, and a small random Llama.

No hub access exists here; everything is built from a config and saved with
``save_pretrained``, then loaded back through the same ``from_pretrained`` path users take.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_llmeval.finetune import scratch

SPECIALS = scratch.SPECIALS
CHAT_TEMPLATE = scratch.CHAT_TEMPLATE
REPO = Path(__file__).resolve().parents[1]


def corpus(limit: int = 4000) -> list[str]:
    lines: list[str] = []
    for path in ("data/qa/train.jsonl", "data/json_extraction/train.jsonl"):
        for raw in (REPO / path).read_text().splitlines()[: limit // 2]:
            record = json.loads(raw)
            lines += [
                str(v) if not isinstance(v, dict | list) else json.dumps(v) for v in record.values()
            ]
    return lines


def build_tokenizer(vocab_size: int = 512) -> Any:
    return scratch.build_tokenizer(corpus(), vocab_size)


def build(directory: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a random tiny Llama and its tokenizer to ``directory``; returns it."""
    settings = scratch.ScratchSettings(hidden=hidden, layers=layers, seed=seed)
    return scratch.build(directory, corpus(), settings)


def build_adapter(base: Path, directory: Path, seed: int = 1) -> Path:
    """A LoRA adapter with non-zero weights, so it visibly changes the base's answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # peft starts B at zero: an adapter that does nothing
    peft_model.save_pretrained(directory)
    return directory


if __name__ == "__main__":
    # python tests/tinymodel.py [DIR]: a tiny local base model, e.g. for finetune/tiny-cpu.yaml
    import sys

    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else ".llmeval/tiny-model")))
