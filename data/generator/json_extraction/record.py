"""One ``json_extraction`` record, and one split of them.

``json_record`` asks the domain's builder for a ``Spec``, picks the fields, nulls and
distractors the difficulty calls for, renders them in one of the domain's shells and returns
the text with its expected object and schema. ``json_split`` draws a split with exact
difficulty quotas and balanced domains, every prompt new to the splits drawn before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from generator.draw import Rng, balanced_plan, difficulty_plan, norm_prompt, unique_draw
from generator.json_extraction.contact import dom_contact
from generator.json_extraction.event import dom_event
from generator.json_extraction.fields import (
    Field,
    Spec,
    build_expected,
    build_schema,
    select_fields,
)
from generator.json_extraction.medical import dom_medical
from generator.json_extraction.order import dom_order
from generator.json_extraction.product import dom_product
from generator.json_extraction.render import pad, render_body
from generator.json_extraction.shipping import dom_shipping
from generator.json_extraction.support import dom_support
from generator.json_extraction.travel import dom_travel

DOMAIN_BUILDERS: dict[str, Callable[[Rng, str], Spec]] = {
    "contact": dom_contact,
    "order": dom_order,
    "event": dom_event,
    "product": dom_product,
    "medical": dom_medical,
    "travel": dom_travel,
    "support": dom_support,
    "shipping": dom_shipping,
}
# The split plan cycles through these in this order: reordering them changes the data.
JSON_DOMAINS = tuple(DOMAIN_BUILDERS)


def leaf_values(value: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for v in value.values():
        out.extend(leaf_values(v) if isinstance(v, dict) else [v])
    return out


def needs_normalizing(text: str, expected: dict[str, Any]) -> bool:
    """True if some non-boolean value is not written verbatim (a date, an amount, a word...)."""
    for v in leaf_values(expected):
        if v is None or isinstance(v, bool):
            continue
        if (f"{v:g}" if isinstance(v, float) else str(v)) not in text:
            return True
    return False


def json_record(
    rng: Rng, domain: str, difficulty: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """One record; a medium one always has at least one value to normalize."""
    for _ in range(100):
        text, expected, schema = json_record_once(rng, domain, difficulty)
        if difficulty != "medium" or needs_normalizing(text, expected):
            return text, expected, schema
    raise RuntimeError(f"no medium {domain} record needing normalization")


def json_record_once(
    rng: Rng, domain: str, difficulty: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    spec = DOMAIN_BUILDERS[domain](rng, difficulty)
    fields = select_fields(rng, spec.fields, difficulty)
    nullable = [f for f in fields if f.nullable]
    if difficulty == "hard" and nullable:
        for f in rng.sample(nullable, rng.randint(1, min(2, len(nullable)))):
            f.value = None
    distractors: list[Field] = []
    if difficulty == "hard" and spec.distractors:
        distractors = rng.sample(spec.distractors, rng.randint(1, min(3, len(spec.distractors))))
    shell = rng.choice(spec.shells)
    mode = rng.choice(shell.modes)
    items = [f for f in fields if f.value is not None and f.render]
    items += spec.extras
    items += distractors
    rng.shuffle(items)
    pad(rng, items, mode, shell.voice, domain, difficulty)
    ctx = spec.ctx
    speakers = (shell.speakers[0].format(**ctx), shell.speakers[1].format(**ctx))
    body = render_body(rng, items, mode, shell, speakers)
    opening = rng.choice(shell.opens).format(**ctx)
    closing = rng.choice(shell.closes).format(**ctx)
    gap = "\n\n" if "\n" in opening or mode in ("prose", "mixed") else "\n"
    text = (opening + gap if opening else "") + body + ("\n" + closing if closing else "")
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, build_expected(fields), build_schema(spec.title, fields)


def json_split(rng: Rng, split: str, n: int, seen: set[str]) -> list[dict[str, Any]]:
    difficulties = difficulty_plan(rng, n)
    domains = balanced_plan(rng, n, JSON_DOMAINS)
    records = []
    for i, (difficulty, domain) in enumerate(zip(difficulties, domains, strict=True), start=1):

        def draw(domain: str = domain, difficulty: str = difficulty) -> tuple[str, Any]:
            text, expected, schema = json_record(rng, domain, difficulty)
            return norm_prompt(text), (text, expected, schema)

        text, expected, schema = unique_draw(seen, draw, "json_extraction")
        records.append(
            {
                "id": f"je-{split}-{i:04d}",
                "input": text,
                "expected_output": expected,
                "schema": schema,
                "slice": [domain, difficulty],
                "difficulty": difficulty,
            }
        )
    return records
