"""A tiny fictional world per ``qa`` record, and the question asked about it.

``World`` invents people, companies, towns, products and pets, and states facts about them
(``FACTS`` holds the sentence templates per relation) without contradicting itself; it also
writes the distractor sentences that fill a context. ``Target`` is what a question builder
returns: the question, its answer, the facts needed and the confusers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from generator.draw import Rng, article, cap, invented_company, invented_town, invented_word, person
from generator.words import DOG_NAMES, PRODUCT_KINDS, ROLES, THINGS

# Sentence templates per relation: {a} is the subject, {b} the object as written.
FACTS: dict[str, tuple[str, ...]] = {
    "born": (
        "{a} was born in {b}.",
        "{a} was born in the year {b}.",
        "{a}'s birth year is {b}.",
        "Records show that {a} was born in {b}.",
        "{a} came into the world in {b}.",
        "Born in {b}, {a} grew up near the river.",
    ),
    "works_at": (
        "{a} works at {b}.",
        "{a} is employed by {b}.",
        "{a} has a job at {b}.",
        "{b} employs {a}.",
        "{a} works for {b}.",
        "{a} earns a living at {b}.",
    ),
    "lives_in": (
        "{a} lives in {b}.",
        "{a} resides in {b}.",
        "{a} makes a home in {b}.",
        "{a} has lived in {b} for years.",
        "{b} is where {a} lives.",
        "{a} rents a flat in {b}.",
    ),
    "reports_to": (
        "{a} reports to {b}.",
        "{a}'s manager is {b}.",
        "{b} is {a}'s manager.",
        "{b} manages {a}.",
        "{a} is managed by {b}.",
        "{b} supervises {a}.",
    ),
    "hq": (
        "{a} is headquartered in {b}.",
        "{a} has its headquarters in {b}.",
        "The head office of {a} is in {b}.",
        "{a} is based in {b}.",
        "{b} is home to the headquarters of {a}.",
    ),
    "founded": (
        "{a} was founded in {b}.",
        "{a} was established in {b}.",
        "{a} opened its doors in {b}.",
        "{a} dates back to {b}.",
        "{a} got its start in {b}.",
    ),
    "founder": (
        "{a} was founded by {b}.",
        "{b} founded {a}.",
        "{b} started {a}.",
        "{a} was started by {b}.",
        "{b} is the founder of {a}.",
    ),
    "employees": (
        "{a} has {b} employees.",
        "{a} employs {b} people.",
        "{b} people work at {a}.",
        "The staff of {a} numbers {b}.",
        "{a} has a workforce of {b}.",
    ),
    "maker": (
        "The {a} is made by {b}.",
        "{b} makes the {a}.",
        "{b} manufactures the {a}.",
        "The {a} is produced by {b}.",
        "The {a} comes from {b}.",
    ),
    "price": (
        "The {a} costs {b} dollars.",
        "The {a} sells for {b} dollars.",
        "The {a} is priced at {b} dollars.",
        "You can buy the {a} for {b} dollars.",
        "The {a} costs ${b}.",
    ),
    "population": (
        "{a} has a population of {b}.",
        "{b} people live in {a}.",
        "{a} is home to {b} residents.",
        "The population of {a} is {b}.",
    ),
    "mayor": (
        "{b} is the mayor of {a}.",
        "The mayor of {a} is {b}.",
        "{a} is led by Mayor {b}.",
        "{b} serves as mayor of {a}.",
    ),
    "pet": (
        "{a} has a dog named {b}.",
        "{a}'s dog is called {b}.",
        "{a} walks a dog named {b} every morning.",
        "{b} is the name of {a}'s dog.",
        "{a} adopted a dog and named it {b}.",
    ),
    "role": (
        "{a} works as {b}.",
        "{a} is {b} by trade.",
        "By profession, {a} is {b}.",
        "{a} earns a living as {b}.",
    ),
    "sibling": ("{a} and {b} are siblings.", "{a} is {b}'s sibling.", "{a} has one sibling, {b}."),
    "owns": ("{a} owns {b}.", "{a} keeps {b}.", "{a} has {b}.", "{a} looks after {b}."),
}
SUBJECT_KIND = {
    "born": "person", "works_at": "person", "lives_in": "person", "reports_to": "person",
    "pet": "person", "role": "person", "sibling": "person", "owns": "person",
    "hq": "company", "founded": "company", "founder": "company", "employees": "company",
    "maker": "product", "price": "product", "population": "town", "mayor": "town",
}  # fmt: skip


class World:
    """Fresh invented entities and the facts stated about them, without contradictions."""

    def __init__(self, rng: Rng, want_yes: bool = True) -> None:
        self.rng = rng
        self.want_yes = want_yes  # which answer a yes/no question should have
        self.used: set[str] = set()
        self.firsts: set[str] = set()
        self.known: set[tuple[str, str]] = set()
        self.ents: dict[str, list[str]] = {"person": [], "company": [], "town": [], "product": []}

    def new(self, kind: str) -> str:
        rng = self.rng
        for _ in range(500):
            if kind == "person":
                first, last = person(rng)
                if first in self.firsts:
                    continue
                name = f"{first} {last}"
            elif kind == "company":
                name = invented_company(rng)
            elif kind == "town":
                name = invented_town(rng)
            elif kind == "product":
                name = f"{invented_word(rng)} {rng.choice(PRODUCT_KINDS)}"
            elif kind == "dog":
                name = rng.choice(DOG_NAMES)
            else:
                raise ValueError(kind)
            head = name.split()[0]
            if name in self.used or (kind != "person" and head in self.used):
                continue
            self.used.update((name, head))
            if kind == "person":
                self.firsts.add(name.split()[0])
            if kind in self.ents:
                self.ents[kind].append(name)
            return name
        raise RuntimeError(f"could not invent a fresh {kind}")

    def value(self, rel: str) -> tuple[str, str]:
        """A fresh object for ``rel``: (as written in the context, as the answer)."""
        rng = self.rng
        if rel == "born":
            y = rng.randint(1941, 2004)
            return str(y), str(y)
        if rel == "founded":
            y = rng.randint(1890, 2021)
            return str(y), str(y)
        if rel in ("works_at",):
            c = self.new("company")
            return c, c
        if rel in ("lives_in", "hq"):
            t = self.new("town")
            return t, t
        if rel in ("reports_to", "founder", "mayor"):
            p = self.new("person")
            return p, p
        if rel == "maker":
            c = self.new("company")
            return c, c
        if rel == "employees":
            n = rng.randint(12, 4800)
            return f"{n:,}", str(n)
        if rel == "price":
            n = rng.randint(5, 900)
            return str(n), str(n)
        if rel == "population":
            n = rng.randint(80, 25000) * 10
            return f"{n:,}", str(n)
        if rel == "pet":
            d = self.new("dog")
            return d, d
        if rel == "role":
            r = rng.choice(ROLES)
            return article(r), r
        raise ValueError(rel)

    def can(self, subject: str, rel: str) -> bool:
        return (subject, rel) not in self.known

    def say(
        self, rel: str, a: str, b: str, templates: Sequence[str] | None = None, **kw: str
    ) -> str:
        self.known.add((a, rel))
        if rel == "sibling":
            self.known.add((b, rel))
        tpl = self.rng.choice(templates or FACTS[rel])
        return cap(tpl.format(a=a, b=b, **kw))

    def filler(self, focus: Sequence[str], prefer: str | None, blocked: set[str]) -> str | None:
        """One distractor fact: a new relation on a focus entity, or a fact about a new entity."""
        rng = self.rng
        for _ in range(40):
            if focus and rng.random() < 0.45:
                subject = rng.choice(focus)
                kind = next(k for k, v in self.ents.items() if subject in v)
                rels = [r for r, k in SUBJECT_KIND.items() if k == kind and r not in blocked]
                rel = rng.choice(rels)
            else:
                if prefer and prefer not in blocked and rng.random() < 0.5:
                    rel = prefer
                else:
                    rel = rng.choice([r for r in SUBJECT_KIND if r not in blocked])
                subject = self.new(SUBJECT_KIND[rel])
            if not self.can(subject, rel) or rel == "sibling":
                continue
            if rel == "owns":
                thing = rng.choice(THINGS)
                if not self.can(subject, "owns:" + thing):
                    continue
                self.known.add((subject, "owns:" + thing))
                n = rng.randint(2, 9)
                return self.say(rel, subject, f"{n} {thing}")
            if rel == "reports_to" and rng.random() < 0.4 and self.ents["person"]:
                boss = rng.choice(self.ents["person"])
                if boss != subject:
                    return self.say(rel, subject, boss)
            shown, _ = self.value(rel)
            return self.say(rel, subject, shown)
        return None


@dataclass
class Target:
    question: str
    answer: str
    facts: list[str]
    focus: list[str]
    prefer: str | None = None
    blocked: set[str] = field(default_factory=set)
    confusers: list[str] = field(default_factory=list)  # context only, not reference facts
