"""The pieces a ``json_extraction`` domain builds a record from.

A ``Field`` is one value to extract (or a distractor) with the ways to write it; a ``Shell``
is the document around the fields; a ``Spec`` is what a domain builder returns. Also here:
choosing the fields for a difficulty, the expected object and the JSON Schema they give, and
the context (sender, shop, town) every domain's openings and closings fill in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.draw import Rng, code, invented_town, invented_word, person
from generator.words import FIRST_NAMES, SHOP_SUFFIXES, WEEKDAYS

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


# A template set: "labels" for key/value layouts, and sentence templates with ``{v}`` per voice:
# "n" neutral/third person, "c" the company or service speaking, "u" the customer/user speaking.
Templates = dict[str, tuple[str, ...]]


@dataclass
class Field:
    """One extracted value (or, with ``output=False``, a distractor) and how it is written."""

    key: str
    jtype: str
    value: Any
    surface: str
    t: Templates
    desc: str = ""
    group: str = ""
    nullable: bool = False
    core: bool = False
    enum: tuple[str, ...] = ()
    ksurface: str = ""  # the value as written in key/value layouts (default: surface)
    output: bool = True
    render: bool = True  # False when another item writes this value (a combined line)


@dataclass(frozen=True)
class Shell:
    """The document around the fields: its voice, layouts, openings and closings."""

    voice: str  # "n", "c", "u" or "chat"
    modes: tuple[str, ...]
    opens: tuple[str, ...]
    closes: tuple[str, ...] = ("",)
    speakers: tuple[str, str] = ("Agent", "Customer")


@dataclass
class Spec:
    title: str
    fields: list[Field]
    distractors: list[Field]
    shells: tuple[Shell, ...]
    ctx: dict[str, str] = field(default_factory=dict)
    extras: list[Field] = field(default_factory=list)  # always rendered, not output


def bool_field(
    rng: Rng, key: str, value: bool, spec: dict[str, Any], desc: str, **kw: Any
) -> Field:
    """``spec``: {"kv": ("Label|yes text|no text", ...), "true": Templates, "false": Templates}."""
    label, yes, no = rng.choice(spec["kv"]).split("|")
    says = dict(spec["true" if value else "false"])
    says["labels"] = (label,)
    text = yes if value else no
    return Field(key, "boolean", value, text, says, desc, **kw)


def plain_item(surface: str, t: Templates, ksurface: str = "") -> Field:
    return Field("", "string", None, surface, t, output=False, ksurface=ksurface)


def select_fields(rng: Rng, fields: list[Field], difficulty: str) -> list[Field]:
    lo, hi = {"easy": (3, 4), "medium": (5, 6), "hard": (6, 8)}[difficulty]
    core = [f for f in fields if f.core]
    optional = [f for f in fields if not f.core]
    want = max(len(core), rng.randint(lo, hi))
    chosen = {id(f) for f in core}
    chosen.update(id(f) for f in rng.sample(optional, min(len(optional), want - len(core))))
    return [f for f in fields if id(f) in chosen]


def build_expected(fields: Sequence[Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.group:
            out.setdefault(f.group, {})[f.key] = f.value
        else:
            out[f.key] = f.value
    return out


def property_schema(f: Field) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": [f.jtype, "null"] if f.nullable else f.jtype}
    if f.enum:
        prop["enum"] = [*f.enum, None] if f.nullable else list(f.enum)
    desc = f.desc
    if f.nullable:
        desc = f"{desc}; null if not stated" if desc else "null if not stated"
    if desc:
        prop["description"] = desc
    return prop


def build_schema(title: str, fields: Sequence[Field]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in fields:
        if f.group:
            group = props.setdefault(
                f.group,
                {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
            )
            group["properties"][f.key] = property_schema(f)
            group["required"].append(f.key)
        else:
            props[f.key] = property_schema(f)
    return {
        "$schema": SCHEMA_URI,
        "title": title,
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def base_ctx(rng: Rng) -> dict[str, str]:
    first, last = person(rng)
    shop = f"{invented_word(rng)} {rng.choice(SHOP_SUFFIXES)}"
    town = invented_town(rng)
    return {
        "rcpt": rng.choice(FIRST_NAMES),
        "sender": f"{first} {last}",
        "sender_first": first,
        "agent": rng.choice(FIRST_NAMES),
        "cfirst": rng.choice(FIRST_NAMES),
        "shop": shop,
        "SHOP": shop.upper(),
        "town": town,
        "event": f"{town} {rng.choice(('expo', 'trade fair', 'meetup', 'summit', 'conference'))}",
        "lnum": code(rng, "99999"),
        "weekday": rng.choice(WEEKDAYS),
    }
