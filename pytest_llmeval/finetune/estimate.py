"""What ``--dry-run`` reports: token counts of the formatted rows and a memory estimate.

No model weights are loaded. The architecture comes from the base model's ``config.json``
(a local directory, or the hub cache) or, when that is not available offline, from a table
of known architectures. The estimate is rough and errs high: it assumes every sequence is
``max_length`` tokens long.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmeval.finetune.config import FinetuneConfig

GiB = 1024**3
LORA_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Arch:
    """The shape of a Llama-style decoder (Llama, Mistral, Qwen2)."""

    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    head_dim: int | None = None

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * (self.head_dim or self.hidden // self.heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each per-layer linear, by module name."""
        h, q_dim = self.hidden, self.heads * (self.head_dim or self.hidden // self.heads)
        i = self.intermediate
        return {
            "q_proj": (h, q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder's linear layers (what 4/8-bit quantizes)."""
        return self.layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def other_params(self) -> int:
        """Embeddings, output layer (unless tied), norms: kept in higher precision."""
        embed = self.vocab * self.hidden
        return embed * (1 if self.tied else 2) + self.hidden * (2 * self.layers + 1)

    def lora_params(self, r: int, targets: str | Sequence[str]) -> int:
        names = LORA_NAMES if targets == "all-linear" else tuple(targets)
        shapes = self.linear_shapes()
        return self.layers * sum(r * (a + b) for n, (a, b) in shapes.items() if n in names)


# Known architectures, for hub ids whose config.json is not available offline.
KNOWN: dict[str, Arch] = {
    "llama-3.2-1b": Arch(2048, 16, 8192, 32, 8, 128256, True, 64),
    "llama-3.2-3b": Arch(3072, 28, 8192, 24, 8, 128256, True, 128),
    "llama-3.1-8b": Arch(4096, 32, 14336, 32, 8, 128256, False, 128),
    "mistral-7b": Arch(4096, 32, 14336, 32, 8, 32768, False, 128),
    "qwen2.5-0.5b": Arch(896, 24, 4864, 14, 2, 151936, True, 64),
    "qwen2.5-1.5b": Arch(1536, 28, 8960, 12, 2, 151936, True, 128),
    "qwen2.5-3b": Arch(2048, 36, 11008, 16, 2, 151936, True, 128),
    "qwen2.5-7b": Arch(3584, 28, 18944, 28, 4, 152064, False, 128),
}


def known_arch(name: str) -> tuple[str, Arch] | None:
    """The table entry whose key the model name contains (``meta-llama/Llama-3.2-3B-Instruct``
    -> ``llama-3.2-3b``); None if none does."""
    low = name.lower().rsplit("/", 1)[-1]
    for key in sorted(KNOWN, key=len, reverse=True):
        if low.startswith(key) or f"-{key}" in low or low == key:
            return key, KNOWN[key]
    return None


def arch_from_config(config: Any) -> Arch:
    """An Arch from a transformers config (fields missing on exotic models get guesses)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(text.hidden_size)
    heads = int(getattr(text, "num_attention_heads", 1) or 1)
    return Arch(
        hidden=hidden,
        layers=int(text.num_hidden_layers),
        intermediate=int(getattr(text, "intermediate_size", None) or 4 * hidden),
        heads=heads,
        kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        vocab=int(text.vocab_size),
        tied=bool(getattr(config, "tie_word_embeddings", False)),
        head_dim=getattr(text, "head_dim", None),
    )


_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
_OPTIM_BYTES = {  # optimizer state per trainable parameter
    "paged_adamw_8bit": 2,
    "adamw_8bit": 2,
    "paged_adamw_32bit": 8,
    "adamw_torch": 8,
    "adamw_torch_fused": 8,
    "adafactor": 4,
    "sgd": 0,
}


@dataclass(frozen=True)
class Memory:
    """A rough peak-memory estimate, in bytes, by part, each with a note."""

    parts: tuple[tuple[str, float, str], ...]

    @property
    def total(self) -> float:
        return sum(b for _, b, _ in self.parts)

    def lines(self) -> list[str]:
        out = [f"  {name:<16}{b / GiB:>7.2f} GiB   {note}" for name, b, note in self.parts]
        return [*out, f"  {'total':<16}{self.total / GiB:>7.2f} GiB"]


def memory(cfg: FinetuneConfig, arch: Arch, optimizer: str) -> Memory:
    """Weights by quantization, LoRA weights and grads (fp32), optimizer state,
    activations (checkpointed or not; logits dominate with large vocabularies), overhead."""
    q, t = cfg.quantization, cfg.training
    compute = q.compute_dtype if q.compute_dtype != "auto" else "bfloat16"
    act = _DTYPE_BYTES[compute]
    linear, other = arch.linear_params, arch.other_params
    if q.mode == "4bit":
        # 4 bits, plus one absmax per 64 weights (8-bit and re-quantized with double quant)
        per = 0.5 + (1 / 64 + 4 / (64 * 256) if q.double_quant else 4 / 64)
        # prepare_model_for_kbit_training upcasts the unquantized rest to float32
        weights = linear * per + other * 4
        wnote = f"{q.quant_type.upper()} {'double quant ' if q.double_quant else ''}4-bit"
    elif q.mode == "8bit":
        weights = linear * (1 + 4 / 4096) + other * 4
        wnote = "int8"
    else:
        weights = (linear + other) * act
        wnote = compute
    total_params = linear + other
    if cfg.lora is None:  # a full finetune trains (and keeps gradients for) every weight
        lora, lora_bytes, lnote = total_params, 4, "full finetune: a gradient per weight"
    else:
        lora = arch.lora_params(cfg.lora.r, cfg.lora.target_modules)
        # trl keeps a quantized base's adapter in bf16 (the QLoRA paper's choice), else fp32
        lora_bytes, lnote = (
            (4, "bf16 weights+grads") if q.mode != "none" else (8, "fp32 weights+grads")
        )
    b, s = t.batch_size, t.max_length
    if t.batch_tokens:  # the plain trainer's batches hold at most batch_tokens tokens
        b = max(1, min(b, t.batch_tokens // s))
    h, i, layers = arch.hidden, arch.intermediate, arch.layers
    layer_set = b * s * (6 * h + 3 * i) * act  # one layer's working set
    if t.gradient_checkpointing:
        acts = b * s * h * layers * act + layer_set  # each layer's input, plus one layer
        anote = "gradient checkpointing"
    else:
        acts = layer_set * layers
        anote = "no checkpointing"
    logits = b * s * arch.vocab * (act + 4 + 4)  # logits, fp32 copy for the loss, its grad
    return Memory(
        (
            (
                "base weights",
                weights,
                f"{count(total_params)} params: {count(linear)} linear in {wnote}, "
                f"{count(other)} embeddings/norms in "
                f"{'float32' if q.mode != 'none' else compute}",
            ),
            ("LoRA adapter", lora * lora_bytes, f"{count(lora)} trainable params, {lnote}"),
            (
                "optimizer",
                lora * _OPTIM_BYTES.get(optimizer, 8),
                f"{optimizer}: {_OPTIM_BYTES.get(optimizer, 8)} bytes per trainable param",
            ),
            (
                "activations",
                acts + logits,
                f"batch {b} x {s} tokens in {compute}, {anote}; logits+loss {logits / GiB:.2f} GiB",
            ),
            ("overhead", 0.5 * GiB, "CUDA context, allocator slack (rough)"),
        )
    )


@dataclass(frozen=True)
class TokenStats:
    rows: int
    prompt: tuple[int, ...]
    completion: tuple[int, ...]
    max_length: int
    exact: bool  # counted with the real tokenizer (else about 4 characters per token)

    def line(self) -> str:
        total = [p + c for p, c in zip(self.prompt, self.completion, strict=True)]
        over = sum(1 for n in total if n > self.max_length)
        return (
            f"prompt mean {_mean(self.prompt):.0f} max {max(self.prompt)}, "
            f"completion mean {_mean(self.completion):.0f} max {max(self.completion)}, "
            f"total max {max(total)}; over max_length {self.max_length}: {over}"
        )


def count_tokens(tokenizer: Any, rows: Sequence[Mapping[str, Any]], max_length: int) -> TokenStats:
    """Prompt and completion lengths as trl tokenizes them (prompt with the generation
    prompt; completion = the rest of prompt + completion). Without a tokenizer: characters/4
    plus a few tokens per message."""
    if tokenizer is None:
        rough_prompt = [
            sum(math.ceil(len(m["content"]) / 4) + 4 for m in r["prompt"])
            if isinstance(r["prompt"], list)
            else math.ceil(len(r["prompt"]) / 4)
            for r in rows
        ]
        rough_completion = [math.ceil(len(_completion_text(r)) / 4) + 1 for r in rows]
        return TokenStats(
            len(rows), tuple(rough_prompt), tuple(rough_completion), max_length, False
        )
    if isinstance(rows[0]["prompt"], list):
        p_text = tokenizer.apply_chat_template(
            [r["prompt"] for r in rows], add_generation_prompt=True, tokenize=False
        )
        pc_text = tokenizer.apply_chat_template(
            [r["prompt"] + r["completion"] for r in rows], tokenize=False
        )
        special = False
    else:
        p_text = [r["prompt"] for r in rows]
        pc_text = [r["prompt"] + r["completion"] + (tokenizer.eos_token or "") for r in rows]
        special = True
    p_ids = tokenizer(list(p_text), add_special_tokens=special)["input_ids"]
    pc_ids = tokenizer(list(pc_text), add_special_tokens=special)["input_ids"]
    prompt = tuple(len(x) for x in p_ids)
    completion = tuple(len(y) - len(x) for x, y in zip(p_ids, pc_ids, strict=True))
    return TokenStats(len(rows), prompt, completion, max_length, True)


def steps(rows: int, cfg: FinetuneConfig, world: int = 1) -> int:
    """Optimizer steps the Trainer will take (max_steps, else epochs over the rows)."""
    t = cfg.training
    if t.max_steps:
        return t.max_steps
    per_epoch = max(math.ceil(rows / (t.batch_size * world)) // t.grad_accum, 1)
    return math.ceil(per_epoch * t.epochs)


def count(n: float) -> str:
    """3.21 B, 24.31 M, 187 k."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    return f"{n / 1e3:.0f} k"


def _completion_text(row: Mapping[str, Any]) -> str:
    c = row["completion"]
    return c if isinstance(c, str) else "".join(m["content"] for m in c)


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else 0.0
