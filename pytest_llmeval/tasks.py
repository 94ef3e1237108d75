"""Built-in task formats: the fields a sample must have, the default prompt and scorers.

A suite names a task; it may override the prompt, params, scorers and pass rule. A task
name that is not built in is allowed when the suite supplies its own prompt and scorers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_llmeval.dataset import FieldSpec, Sample
from pytest_llmeval.models.base import GenerateParams

# `{field}` placeholders, and `{field:json}` for a list or an object written as JSON text;
# JSON in a template (`{"a": 1}`) never matches because of the quote.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:json)?\}")
SCALARS: tuple[type, ...] = (str, int, float, bool)  # what a bare {field} may meet


@dataclass(frozen=True)
class Prompt:
    """A chat prompt template; ``{field}`` is replaced by the sample's field (a string or a
    number), ``{field:json}`` by any field as JSON text. ``user`` may be None for a suite
    whose samples bring their own chat messages (then ``system`` is prepended to them)."""

    user: str | None
    system: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.placeholders)

    @property
    def placeholders(self) -> frozenset[tuple[str, bool]]:
        """(field, written as JSON) for every placeholder."""
        text = (self.user or "") + (self.system or "")
        return frozenset((name, bool(js)) for name, js in PLACEHOLDER.findall(text))

    def system_message(self, sample: Sample) -> list[dict[str, str]]:
        if not self.system:
            return []
        return [{"role": "system", "content": fill(self.system, sample.fields)}]

    def user_message(self, sample: Sample) -> list[dict[str, str]]:
        if self.user is None:
            return []
        return [{"role": "user", "content": fill(self.user, sample.fields)}]

    def render(self, sample: Sample) -> list[dict[str, str]]:
        return self.system_message(sample) + self.user_message(sample)


def fill(template: str, fields: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        v = fields[match.group(1)]
        if isinstance(v, str) and not match.group(2):
            return v
        return json.dumps(v, ensure_ascii=False)

    return PLACEHOLDER.sub(value, template)


@dataclass(frozen=True)
class Task:
    """A task format: required fields, default prompt, scorers and pass rule."""

    name: str
    fields: tuple[FieldSpec, ...]
    prompt: Prompt
    scorers: tuple[str, ...]
    pass_on: tuple[str, ...]
    expected_field: str | None
    params: GenerateParams


JSON_EXTRACTION = Task(
    name="json_extraction",
    fields=(
        FieldSpec("input", (str,)),
        FieldSpec("expected_output", (dict,)),
        FieldSpec("schema", (dict,)),
    ),
    prompt=Prompt(
        system=(
            "You extract structured data from text. Reply with one JSON object that matches "
            "the JSON Schema, and nothing else. Use null for a field the text does not state."
        ),
        user="JSON Schema:\n{schema:json}\n\nText:\n{input}",
    ),
    scorers=(
        "json_exact_match",
        "json_parse",
        "json_schema",
        "json_field_f1",
        "json_field_precision",
        "json_field_recall",
    ),
    pass_on=("json_exact_match",),
    expected_field="expected_output",
    params=GenerateParams(temperature=0.0, max_tokens=256),
)

QA = Task(
    name="qa",
    fields=(
        FieldSpec("question", (str,)),
        FieldSpec("context", (str,)),
        FieldSpec("expected_answer", (str, list)),
    ),
    prompt=Prompt(
        system=(
            "Answer the question using only the context. Reply with the answer alone "
            "(a name, number, year, place, or yes/no), without explanation."
        ),
        user="Context:\n{context}\n\nQuestion: {question}",
    ),
    scorers=("qa_exact_match", "qa_f1", "qa_contains"),
    pass_on=("qa_exact_match",),
    expected_field="expected_answer",
    params=GenerateParams(temperature=0.0, max_tokens=64),
)

TASKS: dict[str, Task] = {t.name: t for t in (JSON_EXTRACTION, QA)}
