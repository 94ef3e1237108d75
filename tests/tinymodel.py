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


# A chat template that renders tools (each as JSON in a system turn) and an assistant's calls
# as <tool_call>{"name": ..., "arguments": {...}}</tool_call>, Hermes and Qwen 2.5 style, and
# the response template (transformers >= 5's response parsing) that reads such calls back.
TOOL_CHAT_TEMPLATE = (
    "{%- if tools %}<|system|>Tools:{% for t in tools %}\n{{ t | tojson }}{% endfor %}<|end|>"
    "{% endif %}"
    "{%- for m in messages %}"
    "{%- if m['role'] == 'assistant' %}<|assistant|>{% generation %}{{ m['content'] }}"
    "{%- if m['tool_calls'] is defined %}{% for c in m['tool_calls'] %}<tool_call>"
    "{{ {'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson }}"
    "</tool_call>{% endfor %}{% endif %}<|end|>{% endgeneration %}"
    "{%- else %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}"
    "{%- endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TOOL_RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>",
    "fields": {
        "tool_calls": {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"\s*<\|end\|>", "content": "text"},
    },
}


def build_tool_caller(
    base: Path, directory: Path, conversations: list[tuple[list[Any], list[Any], Any]]
) -> Path:
    """A copy of ``base`` that calls tools: TOOL_CHAT_TEMPLATE and TOOL_RESPONSE_TEMPLATE on
    its tokenizer, and weights trained until greedy decoding replays each conversation's
    answer. ``conversations`` are ``(messages, tools, answer message)``; the answers are
    known, so a test can tell a call read back from one made up."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shutil.copytree(base, directory)
    tok = AutoTokenizer.from_pretrained(directory)
    tok.chat_template = TOOL_CHAT_TEMPLATE
    tok.response_template = TOOL_RESPONSE_TEMPLATE
    sequences = []
    for messages, tools, answer in conversations:
        prompt = tok.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=False
        )
        whole = tok.apply_chat_template([*messages, answer], tools=tools, tokenize=False)
        ids = tok(whole, add_special_tokens=False, return_tensors="pt")["input_ids"]
        labels = ids.clone()
        labels[:, : len(tok(prompt, add_special_tokens=False)["input_ids"])] = -100
        sequences.append((ids, labels))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(directory)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):  # about 90 steps: memorizing a few answers is all it takes
        total = 0.0
        for ids, labels in sequences:
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            total += loss.item()
        optimizer.step()
        optimizer.zero_grad()
        if total < 0.01:
            break
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


if __name__ == "__main__":
    # python tests/tinymodel.py [DIR]: a tiny local base model, e.g. for finetune/tiny-cpu.yaml
    import sys

    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else ".llmeval/tiny-model")))
