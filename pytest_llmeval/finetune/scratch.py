"""A small causal LM built from nothing: a byte-level BPE tokenizer trained on the training
texts (with a chat template) and a randomly initialized Llama. What the bundled default
model and the test suite start from; no hub access needed.

``split_digits`` gives every digit its own token (``1968`` is four tokens), which costs a
few percent more tokens and makes numbers compositional: a small model can learn to
compare and add them, which it cannot do over arbitrary merged chunks like ``19``+``68``.
``tie_embeddings`` shares the input embedding with the output layer (fewer parameters,
a smaller file); leave it off for a model that is evaluated untrained, since a random tied
model only repeats its last prompt token. ``tokenizer_texts`` trains the tokenizer on a
seeded sample of that many texts instead of all of them (seconds instead of minutes on
hundreds of thousands of rows)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPECIALS = ["<pad>", "<unk>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>"
    "{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}{% else %}"
    "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class ScratchSettings:
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int | None = None  # default 4 x hidden
    vocab_size: int = 512
    max_positions: int = 1024
    seed: int = 0
    split_digits: bool = False
    tie_embeddings: bool = False
    tokenizer_texts: int | None = None  # train the tokenizer on a seeded sample of texts


def build_tokenizer(texts: Iterable[str], vocab_size: int, split_digits: bool = False) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split_digits
        else byte_level
    )
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer)
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


def build(directory: Path, texts: Iterable[str], settings: ScratchSettings) -> Path:
    """Train the tokenizer on ``texts``, initialize the model, save both to ``directory``."""
    import torch

    texts = list(texts)
    if settings.tokenizer_texts is not None and settings.tokenizer_texts < len(texts):
        texts = random.Random(settings.seed).sample(texts, settings.tokenizer_texts)
    tok = build_tokenizer(texts, settings.vocab_size, settings.split_digits)
    torch.manual_seed(settings.seed)
    model = new_model(tok, settings)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def new_model(tok: Any, settings: ScratchSettings) -> Any:
    """A randomly initialized Llama of ``settings``' shape for tokenizer ``tok``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=settings.hidden,
        intermediate_size=settings.intermediate or 4 * settings.hidden,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        num_key_value_heads=settings.kv_heads,
        max_position_embeddings=settings.max_positions,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        # untied by default: a random tied model just repeats its last prompt token
        tie_word_embeddings=settings.tie_embeddings,
    )
    return LlamaForCausalLM(config)
