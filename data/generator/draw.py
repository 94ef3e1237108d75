"""Random draws that both tasks share.

Invented names, companies, towns, codes, emails and phone numbers; dates, times, amounts and
counts written in varied ways; and what every split builder needs: the exact difficulty quotas,
balanced slices, the normalized prompt key and the retry-until-fresh draw that deduplicates
prompts across splits. Every function takes the caller's ``random.Random``, so the order of
calls is the order of draws.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
from collections.abc import Callable, Sequence
from typing import Any

from generator.words import (
    COMPANY_SUFFIXES,
    FIRST_NAMES,
    MONTHS,
    NUM_WORDS,
    SURNAMES,
    TOWN_HEADS,
    TOWN_TAILS,
    WEEKDAYS,
    WORD_HEADS,
    WORD_MIDS,
    WORD_TAILS,
)

Rng = random.Random


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


AWKWARD = re.compile(r"([aeiouy])\1|[aeiouy]{3}|([^aeiouy])\2\2")


def invented_word(rng: Rng) -> str:
    """A pronounceable invented name: no doubled vowels, no runs of three vowels."""
    while True:
        word = rng.choice(WORD_HEADS) + rng.choice(WORD_MIDS) + rng.choice(WORD_TAILS)
        if not AWKWARD.search(word.lower()):
            return word


def invented_town(rng: Rng) -> str:
    while True:
        base = rng.choice(WORD_HEADS) + rng.choice(("", "", "a", "e", "en", "ing"))
        base = base + rng.choice(TOWN_TAILS)
        if not AWKWARD.search(base.lower()):
            break
    return rng.choice(TOWN_HEADS) + base if rng.random() < 0.15 else base


def invented_company(rng: Rng) -> str:
    return f"{invented_word(rng)} {rng.choice(COMPANY_SUFFIXES)}"


def person(rng: Rng) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(SURNAMES)


def code(rng: Rng, pattern: str) -> str:
    """``A`` becomes an upper-case letter, ``9`` a digit, anything else is kept."""
    out = []
    for ch in pattern:
        if ch == "A":
            out.append(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ"))
        elif ch == "9":
            out.append(rng.choice(string.digits))
        else:
            out.append(ch)
    return "".join(out)


def email_domain(rng: Rng, word: str) -> str:
    return word.lower() + rng.choice((".com", ".io", ".net", ".co", ".org", ".biz"))


def make_email(rng: Rng, first: str, last: str, domain: str) -> str:
    f, s = first.lower(), last.lower()
    local = rng.choice((f"{f}.{s}", f"{f[0]}{s}", f"{f}_{s}", f, f"{s}.{f[0]}", f"{f}{s[0]}"))
    return f"{local}@{domain}"


def make_phone(rng: Rng) -> str:
    return rng.choice(
        (
            code(rng, "(555) 999-9999"),
            code(rng, "555-999-9999"),
            code(rng, "+44 20 7946 9999"),
            code(rng, "+1 555 999 9999"),
            code(rng, "0999 999 9999"),
            code(rng, "+61 2 5550 9999"),
        )
    )


def rand_date(rng: Rng, start: dt.date, span_days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(span_days))


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def date_text(rng: Rng, d: dt.date, plain: bool) -> str:
    if plain:
        return d.isoformat()
    month = MONTHS[d.month - 1]
    return rng.choice(
        (
            f"{month} {d.day}, {d.year}",
            f"{d.day} {month} {d.year}",
            f"{month[:3]} {d.day}, {d.year}",
            f"{WEEKDAYS[d.weekday()]}, {month} {d.day}, {d.year}",
            f"the {ordinal(d.day)} of {month} {d.year}",
            f"{month} {ordinal(d.day)}, {d.year}",
            f"{WEEKDAYS[d.weekday()]} {d.day} {month} {d.year}",
            f"{d.day} {month[:3]} {d.year}",
        )
    )


def time_text(rng: Rng, hour: int, minute: int, plain: bool) -> str:
    if plain:
        return f"{hour:02d}:{minute:02d}"
    h12 = hour % 12 or 12
    ampm = "AM" if hour < 12 else "PM"
    options = [
        f"{h12}:{minute:02d} {ampm}",
        f"{h12}:{minute:02d}{ampm.lower()}",
        f"{h12}.{minute:02d} {ampm.lower()}",
    ]
    if minute == 0:
        options += [f"{h12}{ampm.lower()}", f"{h12} {ampm}", f"{h12} o'clock"]
        if hour == 12:
            options = ["noon", "12 noon", "midday"]
        elif hour < 12:
            options = [o.replace(" o'clock", " o'clock in the morning") for o in options]
        elif hour < 18:
            options = [o.replace(" o'clock", " o'clock in the afternoon") for o in options]
        else:
            options = [o.replace(" o'clock", " o'clock in the evening") for o in options]
    elif minute == 30:
        period = "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
        options.append(f"half past {h12} in the {period}")
    return rng.choice(options)


def money_text(rng: Rng, cents: int, plain: bool) -> str:
    whole, frac = divmod(cents, 100)
    if plain:
        return rng.choice((f"${whole}.{frac:02d}", f"{whole}.{frac:02d} USD"))
    options = [
        f"${whole:,}.{frac:02d}",
        f"USD {whole:,}.{frac:02d}",
        f"{whole:,}.{frac:02d} dollars",
    ]
    if frac == 0:
        options += [f"${whole:,}", f"{whole:,} dollars", f"US${whole:,}"]
    return rng.choice(options)


def count_text(rng: Rng, n: int, plain: bool) -> str:
    if not plain and n < len(NUM_WORDS) and rng.random() < 0.6:
        return NUM_WORDS[n]
    return str(n)


def norm_prompt(text: str) -> str:
    """Lower-case, punctuation stripped, whitespace collapsed: the dedup key for prompts."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def difficulty_plan(rng: Rng, n: int) -> list[str]:
    """Exact 40/35/25 easy/medium/hard quotas (rounded), shuffled."""
    easy = round(n * 0.40)
    medium = round(n * 0.35)
    plan = ["easy"] * easy + ["medium"] * medium + ["hard"] * (n - easy - medium)
    rng.shuffle(plan)
    return plan


def balanced_plan(rng: Rng, n: int, values: Sequence[str]) -> list[str]:
    plan = [values[i % len(values)] for i in range(n)]
    rng.shuffle(plan)
    return plan


def unique_draw(seen: set[str], keys: Callable[[], tuple[str, Any]], what: str) -> Any:
    for _ in range(200):
        key, payload = keys()
        if key not in seen:
            seen.add(key)
            return payload
    raise RuntimeError(f"could not draw a fresh {what} prompt")
