"""Training rows tokenized once, up front, and served as length-grouped batches.

What ``training.trainer: plain`` trains on (see ``plain.py``). For a model of a few million
parameters the per-row work of a generic pipeline (a chat template rendered per row, a
``datasets.map`` in one process, padding to the longest row of a random batch) costs more
than the model does; here:

- rows are rendered with the scratch chat template as plain string formatting (checked
  against ``apply_chat_template`` on the first rows; any other template is rendered by the
  tokenizer), and tokenized in batches by the fast tokenizer's thread pool;
- tokens live in one flat ``int32`` array with offsets, so hundreds of thousands of rows
  take a few hundred MB, not Python lists of ints;
- rows longer than ``max_length`` are left out and counted, never cut: a truncated answer
  would teach the model to stop mid-object;
- each batch holds rows of similar length: the rows are shuffled, cut into pools, each
  pool is sorted by length and cut into batches of at most ``batch_tokens`` tokens
  (padded: rows x longest row) and ``batch_size`` rows. ``passes`` shuffles of the data are
  laid out ahead, so a long run sees new row groupings on each pass.

An item of :class:`Batches` is a whole batch (``input_ids``, ``attention_mask``, ``labels``;
right-padded, ``-100`` where no loss is taken); the Trainer loads it with a batch size of 1
and :func:`unwrap` as the collator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHECKED_ROWS = 32  # rows whose formatting is compared with apply_chat_template
POOL_BATCHES = 64  # a pool of rows sorted by length spans about this many batches


@dataclass
class Encoded:
    """Tokenized rows: row ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``, its first
    ``prompt_lens[i]`` tokens the prompt."""

    tokens: Any  # numpy int32, all rows end to end
    offsets: Any  # numpy int64, n_rows + 1
    prompt_lens: Any  # numpy int32
    dropped: int  # rows longer than max_length, left out
    pad_id: int

    @property
    def lengths(self) -> Any:
        return self.offsets[1:] - self.offsets[:-1]

    def __len__(self) -> int:
        return int(len(self.offsets) - 1)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])


def chat_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The scratch chat template (``scratch.CHAT_TEMPLATE``) as string formatting."""
    parts = []
    for m in messages:
        if m["role"] == "assistant":
            parts.append(f"<|assistant|>{m['content']}<|end|>")
        else:
            parts.append(f"<|{m['role']}|>{m['content']}<|end|>")
    return "".join(parts)


def render(tokenizer: Any, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Prompt texts (ending with the generation prompt) and completion texts (ending with
    the end token) of conversational prompt/completion rows."""
    from pytest_llmeval.finetune.scratch import CHAT_TEMPLATE

    eos = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) == CHAT_TEMPLATE:
        prompts = [chat_text(r["prompt"]) + "<|assistant|>" for r in rows]
        completions = [r["completion"][0]["content"] + eos for r in rows]
        for r, p, c in zip(rows[:CHECKED_ROWS], prompts, completions, strict=False):
            full = tokenizer.apply_chat_template([*r["prompt"], *r["completion"]], tokenize=False)
            head = tokenizer.apply_chat_template(
                list(r["prompt"]), tokenize=False, add_generation_prompt=True
            )
            if (head, full) != (p, p + c):
                raise RuntimeError("the scratch chat template no longer matches chat_text()")
        return prompts, completions
    prompts, completions = [], []
    for r in rows:  # any other template: the tokenizer renders it, a row at a time
        head = tokenizer.apply_chat_template(
            list(r["prompt"]), tokenize=False, add_generation_prompt=True
        )
        full = tokenizer.apply_chat_template([*r["prompt"], *r["completion"]], tokenize=False)
        if not full.startswith(head):
            raise RuntimeError("the chat template renders the prompt differently with an answer")
        prompts.append(head)
        completions.append(full[len(head) :])
    return prompts, completions


def encode(tokenizer: Any, rows: Sequence[Mapping[str, Any]], max_length: int) -> Encoded:
    """Tokenize conversational rows (``chat=True`` rows of ``data.rows``)."""
    from itertools import chain

    import numpy as np

    prompts, completions = render(tokenizer, rows)
    # special tokens are matched before the BPE runs, so no token spans the prompt/answer
    # boundary (after <|assistant|>): encoding the halves apart gives the joint encoding
    backend = tokenizer.backend_tokenizer  # the Rust tokenizer: batches on all cores
    p_ids = [e.ids for e in backend.encode_batch(prompts, add_special_tokens=False)]
    c_ids = [e.ids for e in backend.encode_batch(completions, add_special_tokens=False)]
    keep = [i for i in range(len(rows)) if len(p_ids[i]) + len(c_ids[i]) <= max_length]
    lengths = np.array([len(p_ids[i]) + len(c_ids[i]) for i in keep], dtype=np.int64)
    offsets = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.fromiter(
        chain.from_iterable(chain(p_ids[i], c_ids[i]) for i in keep),
        dtype=np.int32,
        count=int(offsets[-1]),
    )
    prompt_lens = np.array([len(p_ids[i]) for i in keep], dtype=np.int32)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return Encoded(tokens, offsets, prompt_lens, len(rows) - len(keep), int(pad))


def plan(
    lengths: Any, batch_tokens: int | None, batch_size: int, passes: int, seed: int
) -> list[Any]:
    """Row indices (numpy arrays) of each batch, for ``passes`` shuffles of the rows (see
    the module doc)."""
    import numpy as np

    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    per_batch = batch_size
    if batch_tokens is not None:
        per_batch = max(1, min(batch_size, int(batch_tokens // max(1.0, float(lengths.mean())))))
    pool = per_batch * POOL_BATCHES
    out: list[Any] = []
    for _ in range(passes):
        order = rng.permutation(n)
        batches: list[Any] = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            sizes = lengths[chunk]
            j = 0
            while j < len(chunk):  # ascending: a batch's last row is its longest
                k = min(len(chunk), j + batch_size)
                if batch_tokens is not None:
                    # the most rows from j whose padded size fits (at least one)
                    lo, hi = j + 1, k
                    while lo < hi:
                        mid = (lo + hi + 1) // 2
                        if sizes[mid - 1] * (mid - j) <= batch_tokens:
                            lo = mid
                        else:
                            hi = mid - 1
                    k = lo
                batches.append(chunk[j:k])
                j = k
        out += [batches[i] for i in rng.permutation(len(batches))]
    return out


class Batches:
    """Map-style dataset of padded batches (torch tensors), with token counters."""

    def __init__(self, data: Encoded, batches: list[Any], completion_only: bool) -> None:
        self.data = data
        self.batches = batches
        self.completion_only = completion_only
        self.tokens_served = 0  # real tokens in the batches handed out so far
        self.padded_served = 0  # rows x longest row, padding included

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import numpy as np
        import torch

        rows = [int(i) for i in self.batches[index]]
        d = self.data
        lengths = [int(d.offsets[i + 1] - d.offsets[i]) for i in rows]
        width = max(lengths)
        ids = np.full((len(rows), width), d.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        labels = np.full((len(rows), width), -100, dtype=np.int64)
        for r, (i, n) in enumerate(zip(rows, lengths, strict=True)):
            seq = d.tokens[d.offsets[i] : d.offsets[i + 1]]
            ids[r, :n] = seq
            mask[r, :n] = 1
            first = int(d.prompt_lens[i]) if self.completion_only else 0
            labels[r, first:n] = seq[first:]
        self.tokens_served += sum(lengths)
        self.padded_served += width * len(rows)
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels),
        }


def unwrap(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The collator for a DataLoader of batch size 1 over :class:`Batches`."""
    (batch,) = items
    return batch
