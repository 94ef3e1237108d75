"""Train/eval contamination: does an evaluated sample's prompt also appear in training data?

Two measures, both on normalized text (case-folded, punctuation turned into spaces,
whitespace collapsed):

- **exact**: the eval prompt's normalized text equals a training prompt's;
- **n-gram**: the share of the eval prompt's word n-grams (8 by default) that also occur
  in the training prompts; a sample above ``threshold`` (0.5) counts as contaminated.

Prompts built from one template share their template text, and prompts of one kind often
share more (a JSON schema, form labels, stock phrases). Such n-grams say nothing about
leakage, so an n-gram found in more than ``max(3, boilerplate x N)`` of all N prompts
(training and evaluated together) is treated as boilerplate and left out of both sides of
the share. On the shipped JSON-extraction data, counting boilerplate flags 181 of 200 test
prompts at 0.5; leaving it out, none, for the whole train split and for seeded subsets of
20 to 800 samples, while a test set copied into training is flagged 200 of 200.

The texts compared are the prompts as a model sees them: the user message of the suite's
prompt (:func:`prompt_texts`), since training and evaluation use the same template.
Pure: no torch, no pytest. Shingles are hashed into a set: 2,400 x 200 prompts take a
fraction of a second.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.dataset import Sample
from pytest_llmeval.tasks import Prompt

_WORD = re.compile(r"\w+")
SPLIT_NAMES = ("train", "validation", "valid", "val", "dev", "eval", "test")
_EXAMPLES = 5
_MIN_COMMON = 3  # an n-gram in more prompts than this may be boilerplate


def normalize(text: str) -> str:
    """Case-folded, punctuation replaced by spaces, whitespace collapsed."""
    return " ".join(_words(text))


def shingles(text: str, n: int = 8) -> set[int]:
    """Hashes of the word n-grams of ``text`` after :func:`normalize` (empty if shorter)."""
    return _grams(_words(text), n)


def _words(text: str) -> list[str]:
    # runs of word characters: the same words as splitting on punctuation and whitespace
    return _WORD.findall(text.casefold())


def _grams(words: list[str], n: int) -> set[int]:
    return set(map(hash, zip(*(words[i:] for i in range(n)), strict=False)))


def prompt_text(prompt: Prompt, sample: Sample) -> str:
    """The user message ``prompt`` renders for ``sample``: what the model is asked."""
    return prompt.render(sample)[-1]["content"]


def prompt_texts(prompt: Prompt, samples: Iterable[Sample]) -> dict[str, str]:
    """Sample id -> :func:`prompt_text`, the input :func:`check` takes."""
    return {s.id: prompt_text(prompt, s) for s in samples}


@dataclass(frozen=True)
class Report:
    """How much of an evaluated split also appears in the training data."""

    n_train: int
    n_eval: int
    n: int
    threshold: float
    exact: int
    ngram: int
    contaminated: int
    exact_ids: tuple[str, ...]
    ngram_ids: tuple[str, ...]
    max_overlap: float
    mean_overlap: float

    @property
    def exact_rate(self) -> float:
        return self.exact / self.n_eval if self.n_eval else 0.0

    @property
    def ngram_rate(self) -> float:
        return self.ngram / self.n_eval if self.n_eval else 0.0

    @property
    def rate(self) -> float:
        """Share of eval samples contaminated either way."""
        return self.contaminated / self.n_eval if self.n_eval else 0.0

    @property
    def clean(self) -> bool:
        return self.contaminated == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "ngram_n": self.n,
            "threshold": self.threshold,
            "exact": self.exact,
            "exact_rate": round(self.exact_rate, 4),
            "ngram": self.ngram,
            "ngram_rate": round(self.ngram_rate, 4),
            "contaminated": self.contaminated,
            "rate": round(self.rate, 4),
            "exact_ids": list(self.exact_ids),
            "ngram_ids": list(self.ngram_ids),
            "max_overlap": round(self.max_overlap, 4),
            "mean_overlap": round(self.mean_overlap, 4),
        }

    def summary(self) -> str:
        """One line: ``exact 2/200 (1.0%), 8-gram>0.5 3/200 (1.5%), max overlap 0.62``."""
        line = (
            f"exact {self.exact}/{self.n_eval} ({self.exact_rate:.1%}), "
            f"{self.n}-gram>{self.threshold:g} {self.ngram}/{self.n_eval} "
            f"({self.ngram_rate:.1%}), max overlap {self.max_overlap:.2f}"
        )
        ids = list(dict.fromkeys((*self.exact_ids, *self.ngram_ids)))[:_EXAMPLES]
        return f"{line}; e.g. {', '.join(ids)}" if ids else line


def check(
    train_texts: Mapping[str, str] | Iterable[str],
    eval_texts: Mapping[str, str] | Iterable[str],
    n: int = 8,
    threshold: float = 0.5,
    boilerplate: float | None = 0.002,
) -> Report:
    """Compare training prompts with evaluated ones; see the module docstring.

    Texts are ``{id: text}`` (ids name the examples in the report) or plain strings (their
    position is the id). ``boilerplate=None`` counts every n-gram. An eval prompt shorter
    than ``n`` words has no n-grams: only the exact test applies to it.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    train = _items(train_texts)
    evals = _items(eval_texts)
    eval_words = [_words(text) for _, text in evals]
    eval_grams = [_grams(words, n) for words in eval_words]
    exact_train: set[str] = set()
    # document frequencies, only of the n-grams some eval prompt has (C-speed intersections)
    in_train: Counter[int] = Counter()
    wanted = set().union(*eval_grams)
    for _, text in train:
        words = _words(text)
        exact_train.add(" ".join(words))
        in_train.update(_grams(words, n) & wanted)
    common: set[int] = set()
    if boilerplate is not None:
        pooled = in_train.copy()
        for grams in eval_grams:
            pooled.update(grams)
        limit = max(_MIN_COMMON, boilerplate * (len(train) + len(evals)))
        common = {h for h, count in pooled.items() if count > limit}

    exact_ids: list[str] = []
    ngram_ids: list[str] = []
    contaminated = 0
    overlaps: list[float] = []
    for (sid, _), words, all_grams in zip(evals, eval_words, eval_grams, strict=True):
        is_exact = " ".join(words) in exact_train
        grams = all_grams - common
        share = sum(1 for h in grams if h in in_train) / len(grams) if grams else 0.0
        overlaps.append(share)
        if is_exact:
            exact_ids.append(sid)
        if share > threshold:
            ngram_ids.append(sid)
        contaminated += is_exact or share > threshold
    return Report(
        n_train=len(train),
        n_eval=len(evals),
        n=n,
        threshold=threshold,
        exact=len(exact_ids),
        ngram=len(ngram_ids),
        contaminated=contaminated,
        exact_ids=tuple(exact_ids[:_EXAMPLES]),
        ngram_ids=tuple(ngram_ids[:_EXAMPLES]),
        max_overlap=max(overlaps, default=0.0),
        mean_overlap=sum(overlaps) / len(overlaps) if overlaps else 0.0,
    )


def _items(texts: Mapping[str, str] | Iterable[str]) -> list[tuple[str, str]]:
    if isinstance(texts, Mapping):
        return [(str(k), v) for k, v in texts.items()]
    return [(str(i), t) for i, t in enumerate(texts)]


def split_path(dataset: Path, split: str) -> Path | None:
    """``data/qa/test.jsonl`` -> ``data/qa/train.jsonl``; also ``.../test/x.jsonl`` and
    ``qa_test.jsonl``; None when the path names no split."""
    words = "|".join(SPLIT_NAMES)
    match = re.search(rf"(?<![A-Za-z])({words})(?![A-Za-z])", dataset.name)
    if match:
        return dataset.with_name(
            dataset.name[: match.start()] + split + dataset.name[match.end() :]
        )
    if dataset.parent.name in SPLIT_NAMES:
        return dataset.parent.with_name(split) / dataset.name
    return None


def for_suite(
    suite: Any, evaluated: Iterable[Sample], rootdir: Path, adapter: str | None = None
) -> dict[str, Any] | None:
    """The evaluated samples' overlap with what the model was trained on: an adapter's
    training data (its ``manifest.json``) when one is given, else the dataset's own train
    split next to it (``data/qa/test.jsonl`` -> ``data/qa/train.jsonl``); None if neither."""
    import json

    from pytest_llmeval.dataset import DatasetError, load_jsonl

    train, source = None, ""
    manifest = Path(adapter) / "manifest.json" if adapter else None
    if manifest is not None and manifest.is_file():
        entry = json.loads(manifest.read_text(encoding="utf-8")).get("data", {}).get(suite.name)
        if entry and (rootdir / entry["train"]).is_file():
            train, source = (
                rootdir / entry["train"],
                f"the adapter's training data {entry['train']}",
            )
    if train is None:
        sibling = split_path(suite.dataset, "train")
        if sibling is None or sibling == suite.dataset or not sibling.is_file():
            return None
        train = sibling
        try:
            source = sibling.resolve().relative_to(rootdir.resolve()).as_posix()
        except ValueError:
            source = str(sibling)
    try:
        train_samples = load_jsonl(train, suite.name, (), source)
    except DatasetError:
        return None
    report = check(prompt_texts(suite.prompt, train_samples), prompt_texts(suite.prompt, evaluated))
    return {"source": source, **report.as_dict(), "summary": report.summary()}
