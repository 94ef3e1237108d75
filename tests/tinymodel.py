"""A tiny causal LM built offline: a byte-level BPE tokenizer trained on the project's own
data, wrapped as a fast tokenizer with a chat template, and a small random Llama.

No hub access exists here; everything is built from a config and saved with
``save_pretrained``, then loaded back through the same ``from_pretrained`` path users take.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<pad>", "<unk>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>"
    "{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}{% else %}"
    "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
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


def build_tokenizer(vocab_size: int = 512) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(corpus(), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build(directory: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a random tiny Llama and its tokenizer to ``directory``; returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 4,  # type: ignore[arg-type]
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,  # type: ignore[attr-defined]
        # untied: a random tied model just repeats its last prompt token
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(directory)  # type: ignore[attr-defined]
    model.save_pretrained(directory)
    return directory


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
