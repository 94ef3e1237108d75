"""Deterministic generator for the committed eval datasets in ``data/``.

Writes ``json_extraction/{train,validation,test}.jsonl`` and ``qa/{train,validation,test}.jsonl``.
Every record is drawn from ``random.Random`` seeded per task; test and validation are drawn
first, so changing the train size never changes them, and prompts are deduplicated (exact and
normalized) across all splits. Standard library only.

    python data/generate.py [--out DIR] [--seed N]

Extra training data from the same distribution (more than the shipped 2400 a task), none of
it overlapping the shipped test and validation prompts (see ``extra_train``)::

    python data/generate.py --extra-train 200000 --seed 1 --out /tmp/train-data --jobs 16
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import re
import string
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SEED = 20261127
# Generation order: test and validation before train, so their content does not depend on
# the train size. Files are named after the split.
SPLITS: tuple[tuple[str, int], ...] = (("test", 200), ("validation", 50), ("train", 2400))
DIFFICULTIES = ("easy", "medium", "hard")
QA_TYPES = ("factual", "reasoning", "multi-hop")
JSON_DOMAINS = (
    "contact",
    "order",
    "event",
    "product",
    "medical",
    "travel",
    "support",
    "shipping",
)
SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"

Rng = random.Random

# --------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Ada", "Aiko", "Alba", "Amara", "Anders", "Anika", "Arjun", "Astrid", "Bea", "Bilal",
    "Bram", "Bruno", "Camille", "Chen", "Chiara", "Cosima", "Dalia", "Dario", "Desmond",
    "Dmitri", "Elena", "Elif", "Elodie", "Emeka", "Esme", "Farah", "Felix", "Fionn", "Freya",
    "Gideon", "Greta", "Gwen", "Hamid", "Hana", "Hugo", "Idris", "Ilse", "Ines", "Isolde",
    "Ivan", "Jalen", "Jana", "Joaquin", "Jude", "Kai", "Kamala", "Keira", "Kenji", "Lars",
    "Leila", "Lena", "Luca", "Mabel", "Malik", "Marisol", "Mateo", "Mira", "Nadia", "Nikhil",
    "Noor", "Odette", "Omar", "Pablo", "Petra", "Priya", "Quentin", "Rafael", "Rania", "Rohan",
    "Rosa", "Sami", "Sanne", "Selin", "Soren", "Tamsin", "Tariq", "Thea", "Tomas", "Uma",
    "Valentin", "Vera", "Wanjiru", "Wes", "Xavier", "Yara", "Yusuf", "Zainab", "Zoltan",
)  # fmt: skip
SURNAMES = (
    "Abara", "Achterberg", "Albescu", "Arkwright", "Bakshi", "Balogun", "Bellamy", "Brandt",
    "Brennan", "Castellano", "Chowdhury", "Corrigan", "Costa", "Dalca", "Delacroix",
    "Drummond", "Dunmore", "Eklund", "Ekwueme", "Esposito", "Falkner", "Fenwick", "Ferreira",
    "Fitzgerald", "Gallo", "Galloway", "Grieve", "Haddad", "Halvorsen", "Hargreave", "Horvath",
    "Ibarra", "Ilves", "Iyer", "Jablonski", "Jensen", "Jovanovic", "Kagame", "Kaur", "Kessler",
    "Kirby", "Kowalczyk", "Lachance", "Laine", "Lindqvist", "Lombardi", "Maddox", "Marchetti",
    "Mbeki", "Moreau", "Mwangi", "Nakamura", "Nilsen", "Novak", "Oduya", "Okafor", "Olsen",
    "Pardo", "Petrov", "Quigley", "Quist", "Rahman", "Rasmussen", "Reyes", "Sandoval",
    "Santoro", "Sato", "Szabo", "Tanaka", "Thorne", "Torvik", "Uchenna", "Umarov", "Valdez",
    "Varga", "Vasquez", "Wexler", "Whitlock", "Wojcik", "Xu", "Yamada", "Yilmaz", "Zamora",
    "Zielinski",
)  # fmt: skip
WORD_HEADS = (
    "Vel", "Quin", "Mar", "Tor", "Bel", "Cal", "Dra", "Fen", "Gal", "Hol", "Jor", "Kel", "Lun",
    "Mor", "Nor", "Ost", "Pel", "Ryn", "Sel", "Tam", "Ul", "Var", "Wen", "Yar", "Zel", "Bram",
    "Cor", "Dun", "Eld", "Far", "Gor", "Hal", "Isk", "Kas", "Lor", "Mel", "Nev", "Orr", "Pra",
    "Rav", "Sol", "Tir", "Vas", "Wyn", "Zan", "Ash", "Brix", "Cin", "Dov", "Fal",
)  # fmt: skip
WORD_MIDS = ("", "", "", "a", "i", "o", "en", "ar", "el", "is")
WORD_TAILS = (
    "ora", "ex", "ion", "ara", "ent", "ix", "ova", "eth", "ano", "ia", "ys", "orn", "ida",
    "elle", "aro", "uma", "ette", "is", "ona", "ar", "ico", "ask", "une", "oly",
)  # fmt: skip
TOWN_TAILS = (
    "ford", "haven", "wick", "brook", "by", "stead", "mere", "ton", "field", "port", "vale",
    "holm", "bury", "cliff", "dale", "moor", "gate", "well",
)  # fmt: skip
TOWN_HEADS = ("Port ", "Upper ", "Little ", "North ", "East ", "West ", "Old ", "Lower ")
COMPANY_SUFFIXES = (
    "Labs", "Works", "Systems", "Group", "Foods", "Textiles", "Logistics", "Robotics",
    "Analytics", "Outfitters", "Instruments", "Ceramics", "Partners", "Biotech", "Studios",
    "Motors", "Press", "Energy", "Dynamics", "Designs",
)  # fmt: skip
SHOP_SUFFIXES = ("Home", "Outfitters", "Supply Co.", "Goods", "Market", "Store", "Gear")
JOB_TITLES = (
    "Head of Procurement", "Senior Buyer", "Operations Manager", "Marketing Lead",
    "Data Analyst", "Office Manager", "Chief Financial Officer", "Product Designer",
    "Sales Director", "HR Coordinator", "Lab Technician", "Project Manager",
    "Account Executive", "Logistics Planner", "Quality Engineer", "Research Scientist",
    "Customer Success Manager", "Facilities Coordinator", "Brand Strategist", "Legal Counsel",
)  # fmt: skip
PRODUCT_NOUNS = (
    "wireless headphones", "standing desk", "espresso grinder", "trail running shoes",
    "cast iron skillet", "desk lamp", "yoga mat", "rain jacket", "mechanical keyboard",
    "water bottle", "hiking backpack", "electric kettle", "office chair", "bluetooth speaker",
    "air purifier", "wool blanket", "camping stove", "monitor stand", "bike helmet",
    "coffee table", "ceramic vase", "gaming mouse", "sleeping bag", "portable charger",
    "cordless drill", "garden hose", "smart thermostat", "rice cooker", "travel pillow",
    "stand mixer",
)  # fmt: skip
MODEL_WORDS = (
    "Aero", "Nimbus", "Flux", "Terra", "Pulse", "Halo", "Echo", "Strata", "Vento", "Lumo",
    "Orbit", "Drift", "Summit", "Kite", "Ember", "Tide",
)  # fmt: skip
MODEL_SUFFIXES = ("", "", " 2", " Pro", " Mini", " X", " Max", " 3", " Lite", " S")
COLORS = (
    "black", "white", "navy blue", "forest green", "charcoal", "sand", "burgundy", "sky blue",
    "graphite", "olive", "coral", "silver", "matte black", "ivory", "slate grey", "mustard",
)  # fmt: skip
EVENT_HEADS = (
    "Quarterly", "Annual", "Spring", "Autumn", "Team", "Board", "Community", "Volunteer",
    "Product", "Design", "Budget", "Customer", "Safety", "Onboarding", "Partner", "Alumni",
)  # fmt: skip
EVENT_TAILS = (
    "Planning Review", "Kickoff", "Retrospective", "Workshop", "Town Hall", "Offsite",
    "Training", "Fundraiser", "Picnic", "Strategy Session", "Showcase", "Orientation",
    "Dinner", "Hackathon", "Roundtable", "Open Day",
)  # fmt: skip
VISIT_REASONS = (
    "annual checkup", "flu vaccination", "blood test", "follow-up on knee pain",
    "allergy review", "blood pressure check", "skin rash", "ear infection",
    "physiotherapy assessment", "eye exam", "dental cleaning", "prescription renewal",
    "sprained ankle", "migraine review", "travel vaccinations", "asthma review",
)  # fmt: skip
CLINIC_SUFFIXES = (
    "Family Clinic", "Medical Centre", "Health Center", "Dental Practice", "Eye Clinic",
    "Physio Rooms", "Walk-in Clinic", "Community Practice",
)  # fmt: skip
DEVICE_NOUNS = (
    "Router", "Thermostat", "App", "Smartwatch", "Printer", "Scanner", "Robot Vacuum",
    "Doorbell", "Earbuds", "Cloud Drive", "Tablet", "E-reader", "Dashcam", "Soundbar",
)  # fmt: skip
CARRIER_SUFFIXES = ("Express", "Freight", "Post", "Couriers", "Logistics", "Parcel")
AIRLINE_SUFFIXES = ("Air", "Airways", "Wings", "Jet", "Airlines")
DELIVERY_NOTES = (
    "leave at the back door", "ring the side bell", "call on arrival",
    "leave in the parcel locker", "hand to the concierge", "do not leave with neighbours",
    "use the loading bay entrance", "knock loudly, the bell is broken",
)  # fmt: skip
ROLES = (
    "carpenter", "architect", "nurse", "pilot", "baker", "librarian", "engineer",
    "pharmacist", "chemist", "teacher", "electrician", "translator", "surveyor", "florist",
    "accountant", "veterinarian", "geologist", "journalist", "beekeeper", "optician",
)  # fmt: skip
DOG_NAMES = (
    "Biscuit", "Pepper", "Juniper", "Moose", "Clover", "Ziggy", "Mochi", "Rufus", "Olive",
    "Pickles", "Nutmeg", "Bramble", "Tofu", "Waffles", "Indigo", "Maple", "Pretzel", "Bosco",
    "Sprout", "Cinder",
)  # fmt: skip
THINGS = (
    "bicycles", "beehives", "guitars", "houseplants", "chickens", "kayaks", "telescopes",
    "typewriters", "aquariums", "sewing machines", "vintage radios", "apple trees",
)  # fmt: skip
PRODUCT_KINDS = (
    "Kettle", "Lantern", "Backpack", "Blender", "Drone", "Headset", "Scooter", "Tent",
    "Camera", "Heater", "Speaker", "Juicer", "Tablet", "Bicycle", "Toaster", "Watch",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUM_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# JSON extraction: fields, shells and rendering
# --------------------------------------------------------------------------------------------

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


ASKS = (
    "What's the {l}?",
    "Can you give me the {l}?",
    "And the {l}?",
    "Could you confirm the {l}?",
    "What {l} do you have?",
    "{L}?",
    "One more thing: the {l}?",
)
ANSWERS = ("{v}", "It's {v}.", "Sure, it's {v}.", "That would be {v}.", "Let me check... {v}.")
ACKS = ("ok", "Got it.", "Thanks.", "Perfect.", "Noted.", "Great, thank you.", "Understood.")
NOISE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Status", ("confirmed", "open", "pending review", "active", "new")),
    ("Channel", ("web", "email", "phone", "mobile app", "in person")),
    ("Language", ("English", "EN", "en-GB")),
    ("Page", ("1 of 1",)),
    ("Source", ("website form", "referral", "walk-in", "partner portal")),
    ("Format", ("plain text", "auto-generated")),
)
FLUFF: Templates = {
    "c": (
        "Thanks for choosing us.",
        "We appreciate your patience.",
        "Let us know if anything looks wrong.",
        "Have a great day!",
    ),
    "u": (
        "Sorry for the long message.",
        "Thanks in advance for your help.",
        "Hope you're well.",
        "Let me know if you need anything else.",
    ),
    "n": (
        "Details below.",
        "All info double-checked.",
        "See notes.",
        "Updated this morning.",
        "Nothing else pending.",
        "Filed as requested.",
    ),
    "greet": (
        "Hi there!",
        "Hello!",
        "Good morning!",
        "Hey!",
        "Hi, hope you're well.",
    ),
    "chat": (
        "Anything else?",
        "Let me check that for you.",
        "One moment please.",
        "Bear with me.",
        "Just a sec.",
    ),
}


# Value-free sentences per domain and voice: realistic padding that is never a field.
CHATTER: dict[str, Templates] = {
    "contact": {
        "n": (
            "Interested in a demo later this quarter.",
            "Prefers email over calls.",
            "Mentioned they are reviewing suppliers.",
            "Friendly, follow up soon.",
        ),
        "u": (
            "It was a pleasure chatting with you.",
            "I'd love to continue our conversation.",
            "We're reviewing vendors for next year.",
            "Feel free to share this with your team.",
        ),
    },
    "order": {
        "c": (
            "We'll send another email when your parcel ships.",
            "You can track progress in your account.",
            "Returns are free within 30 days.",
            "Our warehouse is packing your items now.",
        ),
        "u": (
            "The box arrived damaged and one corner is crushed.",
            "I haven't received a shipping update.",
            "Could you check what happened?",
            "I'd appreciate a quick reply.",
        ),
        "n": (
            "Customer called twice about this.",
            "Check stock before packing.",
            "Flagged for a quality check.",
            "Payment cleared.",
        ),
    },
    "event": {
        "n": (
            "Please bring a laptop.",
            "Feel free to forward this to anyone interested.",
            "Parking is limited, so consider public transport.",
            "An agenda will follow.",
            "Let me know if you can't make it.",
            "Slides will be shared afterwards.",
        ),
    },
    "product": {
        "n": (
            "Easy to clean and built to last.",
            "Perfect as a gift.",
            "Assembly takes minutes.",
            "Designed for everyday use.",
            "Ships in recyclable packaging.",
            "Loved by thousands of customers.",
        ),
        "u": ("Barely used, selling because I'm moving.", "Smoke-free home."),
    },
    "medical": {
        "c": (
            "Please arrive ten minutes early.",
            "Bring a list of your current medication.",
            "Masks are optional in the waiting room.",
            "Parking is available behind the building.",
        ),
        "u": (
            "Sorry if I've already sent this.",
            "I may be a few minutes late.",
            "Could you confirm you received this?",
        ),
        "n": (
            "Reminder sent by text.",
            "Interpreter not required.",
            "Wheelchair access requested.",
        ),
    },
    "travel": {
        "c": (
            "Online check-in opens 24 hours before departure.",
            "Please have your passport ready.",
            "Liquids must be in containers of 100 ml or less.",
        ),
        "u": (
            "The hotel is already sorted.",
            "I'll submit the receipts when I'm back.",
            "Let me know if anything changes.",
        ),
        "n": ("Visa not required.", "Meals included on board.", "Lounge access not included."),
    },
    "support": {
        "c": (
            "We're sorry for the trouble.",
            "Our engineers are looking into it.",
            "Restarting the device sometimes helps in the meantime.",
        ),
        "u": (
            "I already tried turning it off and on again.",
            "This started after the last update.",
            "It worked fine until yesterday.",
            "I've reinstalled it twice.",
        ),
        "n": ("Customer sounded frustrated.", "Logs attached.", "Could not reproduce yet."),
    },
    "shipping": {
        "c": (
            "You can change the delivery day online.",
            "Our drivers deliver between 8am and 6pm.",
            "Keep your phone nearby on the day.",
        ),
        "u": ("I'm usually home in the afternoons.", "Please don't leave it in the rain."),
        "n": ("Box slightly dented.", "Fragile sticker applied.", "Scanned at sorting."),
    },
}


def pick_sentence(rng: Rng, item: Field, voice: str) -> str:
    pool = list(item.t.get(voice, ()))
    if not pool or (voice != "n" and rng.random() < 0.25):
        pool += item.t.get("n", ())
    if not pool:
        pool = [s for k, v in item.t.items() if k != "labels" for s in v]
    return cap(rng.choice(pool).format(v=item.surface))


def kv_value(item: Field) -> str:
    return item.ksurface or item.surface


def render_prose(rng: Rng, items: Sequence[Field], voice: str) -> str:
    sentences = [pick_sentence(rng, it, voice) for it in items]
    if len(sentences) > 3 and rng.random() < 0.45:
        cut = rng.randint(1, len(sentences) - 1)
        return " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
    return " ".join(sentences)


def render_kv(rng: Rng, items: Sequence[Field], bullets: bool) -> str:
    sep = rng.choice((": ", ": ", ": ", " - ", " | "))
    upper = rng.random() < 0.2
    labels = [rng.choice(it.t["labels"]) for it in items]
    if upper:
        labels = [lab.upper() for lab in labels]
    if not bullets and sep == ": " and rng.random() < 0.3:
        width = max(len(lab) for lab in labels) + 1
        return "\n".join(
            f"{lab + ':':<{width}} {kv_value(it)}" for lab, it in zip(labels, items, strict=True)
        )
    style = rng.choice(("- ", "* ", "num", "num)")) if bullets else ""
    lines = []
    for i, (lab, it) in enumerate(zip(labels, items, strict=True), start=1):
        prefix = f"{i}. " if style == "num" else f"{i}) " if style == "num)" else style
        lines.append(f"{prefix}{lab}{sep}{kv_value(it)}")
    return "\n".join(lines)


def render_sig(rng: Rng, items: Sequence[Field]) -> str:
    lines = []
    for it in items:
        if it.output and it.jtype == "string":
            lines.append(kv_value(it))
        else:
            lines.append(f"{rng.choice(it.t['labels'])}: {kv_value(it)}")
    return "\n".join(lines)


def render_chat(rng: Rng, items: Sequence[Field], speakers: tuple[str, str]) -> str:
    style = rng.choice(("{s}: {t}", "[{ts}] {s}: {t}", "{s} > {t}", "<{s}> {t}", "{s} ({ts}): {t}"))
    hour, minute = rng.randint(8, 19), rng.randint(0, 50)
    turns: list[tuple[int, str]] = []
    for it in items:
        if it.output and it.jtype != "boolean" and rng.random() < 0.5:
            asker = 0 if rng.random() < 0.75 else 1
            label = it.t["labels"][0]
            label = label if label.isupper() else label.lower()
            question = rng.choice(ASKS).format(l=label, L=cap(label))
            turns.append((asker, question))
            turns.append((1 - asker, rng.choice(ANSWERS).format(v=kv_value(it))))
        else:
            voices = [v for v in ("c", "u") if it.t.get(v)]
            if not voices or rng.random() < 0.2:
                voices += [v for v in ("n",) if it.t.get(v)]
            voice = rng.choice(voices)
            who = 0 if voice == "c" else 1 if voice == "u" else rng.randint(0, 1)
            turns.append((who, cap(rng.choice(it.t[voice]).format(v=it.surface))))
            if rng.random() < 0.3:
                turns.append((1 - who, rng.choice(ACKS)))
    lines = []
    for who, text in turns:
        stamp = f"{hour:02d}:{minute:02d}"
        minute += rng.randint(0, 2)
        if minute >= 60:
            hour, minute = hour + 1, minute - 60
        lines.append(style.format(s=speakers[who], t=text, ts=stamp))
    return "\n".join(lines)


def render_body(
    rng: Rng, items: list[Field], mode: str, shell: Shell, speakers: tuple[str, str]
) -> str:
    voice = shell.voice if shell.voice != "chat" else "n"
    if mode == "prose":
        return render_prose(rng, items, voice)
    if mode in ("kv", "bullets"):
        return render_kv(rng, items, bullets=mode == "bullets")
    if mode == "sig":
        return render_sig(rng, items)
    if mode == "chat":
        return render_chat(rng, items, speakers)
    if mode == "mixed":
        cut = rng.randint(1, max(1, len(items) - 2))
        head = render_kv(rng, items[:cut], bullets=False)
        return head + "\n\n" + render_prose(rng, items[cut:], voice)
    raise ValueError(mode)


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


def pad(rng: Rng, items: list[Field], mode: str, voice: str, domain: str, difficulty: str) -> None:
    """Insert value-free chatter (prose, chat) or noise lines (layouts) into ``items``."""
    lo, hi = {"easy": (2, 3), "medium": (1, 3), "hard": (0, 2)}[difficulty]
    chatter = CHATTER[domain]
    for i in range(rng.randint(lo, hi)):
        says: Templates = {"labels": ("Note",)}
        if mode == "chat":
            if i == 0:
                says["c"] = FLUFF["greet"]
                items.insert(0, plain_item("", says))
                continue
            says["c"], says["u"] = FLUFF["chat"], chatter.get("u", FLUFF["u"])
            items.insert(rng.randint(1, len(items)), plain_item("", says))
        elif mode in ("prose", "mixed"):
            pool = chatter.get(voice) or chatter.get("n") or ()
            says[voice] = FLUFF[voice] if not pool or rng.random() < 0.3 else pool
            at = len(items) if mode == "mixed" else rng.randint(0, len(items))
            items.insert(at, plain_item("", says))
        else:
            label, values = rng.choice(NOISE)
            if all(label not in it.t["labels"] for it in items):
                noise = plain_item(rng.choice(values), {"labels": (label,)})
                items.insert(rng.choice((0, len(items))), noise)


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


# --------------------------------------------------------------------------------------------
# JSON extraction: domains
# --------------------------------------------------------------------------------------------

T_CONTACT: dict[str, Templates] = {
    "name": {
        "labels": ("Name", "Full name", "Contact name", "Contact"),
        "n": (
            "The contact person is {v}.",
            "Please get in touch with {v}.",
            "{v} is the right person to talk to.",
            "You should speak with {v}.",
            "Met {v} at the stand.",
        ),
        "u": ("My name is {v}.", "This is {v} writing.", "I'm {v}."),
    },
    "email": {
        "labels": ("Email", "E-mail", "Email address", "Mail"),
        "n": (
            "The email address on file is {v}.",
            "Emails should go to {v}.",
            "The best address is {v}.",
            "Reachable by email at {v}.",
        ),
        "u": ("You can email me at {v}.", "My email is {v}.", "Please write to {v}."),
    },
    "phone": {
        "labels": ("Phone", "Tel", "Mobile", "Direct line"),
        "n": ("The phone number is {v}.", "Phone calls go to {v}.", "Direct line: {v}."),
        "u": ("My number is {v}.", "Call me on {v} any time.", "You can ring me at {v}."),
    },
    "company": {
        "labels": ("Company", "Organization", "Employer", "Firm"),
        "n": ("The company is {v}.", "Currently employed at {v}.", "Works for {v}."),
        "u": ("I work at {v}.", "I'm with {v}.", "I'm writing on behalf of {v}."),
    },
    "title": {
        "labels": ("Title", "Job title", "Role", "Position"),
        "n": ("The role is {v}.", "Position held: {v}.", "Job title is {v}."),
        "u": ("My title is {v}.", "I'm the {v} here.", "I joined recently as {v}."),
    },
    "city": {
        "labels": ("City", "Location", "Based in", "Office"),
        "n": ("The office is in {v}.", "Based in {v}.", "Located in {v}."),
        "u": ("I'm based in {v}.", "Our office is in {v}.", "I work out of {v}."),
    },
    "team": {
        "labels": ("Team size", "Direct reports", "Team"),
        "n": ("Leads a team of {v}.", "The team has {v} people.", "Manages {v} people."),
        "u": ("I lead a team of {v}.", "There are {v} of us on the team.", "I manage {v} people."),
    },
    "colleague": {
        "labels": ("Cc", "Colleague", "Alternate contact"),
        "n": ("Their colleague {v} is copied on this.", "For urgent matters, {v} can also help."),
        "u": ("If I'm away, my colleague {v} can help.", "I've copied my colleague {v}."),
    },
    "old_email": {
        "labels": ("Old email (inactive)", "Previous email"),
        "n": ("The old address {v} is no longer monitored.",),
        "u": (
            "Please stop using my old address, {v}.",
            "My previous email {v} is no longer active.",
        ),
    },
    "switchboard": {
        "labels": ("Switchboard", "Main office line", "Reception"),
        "n": ("The main switchboard is {v}.",),
        "u": ("Our reception desk is on {v}.", "The general office line is {v}."),
    },
    "prev_company": {
        "labels": ("Previous employer",),
        "n": ("Formerly at {v}.", "Previously worked at {v}."),
        "u": ("Until last year I was at {v}.", "Before this I spent five years at {v}."),
    },
}

SHELLS_CONTACT = (
    Shell(
        "n",
        ("prose", "mixed", "bullets"),
        (
            "Subject: Introduction\n\nHi {rcpt},\n\nAs promised, here is someone you should meet.",
            "Subject: Contact you asked for\n\nHello {rcpt},\n\nPassing along a contact from the {event}.",
            "Hey {rcpt},\n\nQuick intro below.",
            "Hi {rcpt} - the details you wanted:",
        ),
        ("\n\nCheers,\n{sender}", "\n\nBest regards,\n{sender}", "\n\nThanks!\n{sender_first}"),
    ),
    Shell(
        "u",
        ("prose", "mixed"),
        (
            "Subject: Following up\n\nHello,",
            "Dear {rcpt},",
            "Hi {rcpt},\n\nGreat meeting you at the {event}.",
            "Good morning,",
        ),
        ("\n\nKind regards", "\n\nLooking forward to hearing from you.", "\n\nTalk soon", ""),
    ),
    Shell(
        "n",
        ("kv", "bullets", "prose"),
        (
            "CRM note - new lead",
            "Lead captured at the {event}:",
            "Contact record (entered by {sender})",
            "NEW CONTACT",
        ),
        ("", "Follow up next week.", "Source: {event}", "Owner: {agent}"),
    ),
    Shell(
        "n",
        ("kv", "sig"),
        ("[Scanned business card]", "Business card text:", "OCR output from card scan #{lnum}:"),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Chat transcript", "Website chat log", "", "Messenger export"),
        ("", "[chat ended]"),
        ("{agent}", "Visitor"),
    ),
    Shell(
        "u",
        ("prose",),
        ("Voicemail transcript:", "Transcribed voicemail ({lnum}):", "[Voicemail, {weekday}]"),
        ("", "[end of message]", "Thanks, bye."),
    ),
)


def dom_contact(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    name = f"{first} {last}"
    cword = invented_word(rng)
    company = f"{cword} {rng.choice(COMPANY_SUFFIXES)}"
    domain = email_domain(rng, cword)
    email = make_email(rng, first, last, domain)
    nest = hard and rng.random() < 0.8
    grp = "company" if nest else ""
    t = T_CONTACT
    name_k = f"{last}, {first}" if med and rng.random() < 0.4 else ""
    email_s = email.upper() if med and rng.random() < 0.25 else email
    team = rng.randint(2, 15)
    fields = [
        Field(
            "name",
            "string",
            name,
            name,
            t["name"],
            "full name, first name first",
            core=True,
            ksurface=name_k,
        ),
        Field(
            "email",
            "string",
            email,
            email_s,
            t["email"],
            "the contact's current email address, lower-case",
            core=True,
        ),
        Field(
            "phone",
            "string",
            make_phone(rng),
            "",
            t["phone"],
            "the contact's own phone number, exactly as written",
            nullable=hard,
        ),
        Field(
            "job_title",
            "string",
            rng.choice(JOB_TITLES),
            "",
            t["title"],
            "job title",
            nullable=hard,
            core=hard,
        ),
        Field(
            "name" if nest else "company",
            "string",
            company,
            company,
            t["company"],
            "current employer",
            group=grp,
            core=hard,
        ),
        Field(
            "city",
            "string",
            invented_town(rng),
            "",
            t["city"],
            "city of the contact's office",
            group=grp,
            nullable=hard,
            core=hard,
        ),
    ]
    if med:
        fields.append(
            Field(
                "team_size",
                "integer",
                team,
                count_text(rng, team, False),
                t["team"],
                "number of people on the contact's team",
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    c2f, c2l = person(rng)
    colleague = f"{c2f} {c2l}"
    c2e = make_email(rng, c2f, c2l, domain)
    old = make_email(rng, first, last, email_domain(rng, invented_word(rng)))
    distractors = [
        plain_item(f"{colleague} ({c2e})", t["colleague"], f"{colleague} <{c2e}>"),
        plain_item(old, t["old_email"]),
        plain_item(make_phone(rng), t["switchboard"]),
        plain_item(invented_company(rng), t["prev_company"]),
    ]
    ctx = base_ctx(rng)
    return Spec("ContactCard", fields, distractors, SHELLS_CONTACT, ctx)


T_ORDER: dict[str, Templates] = {
    "order_id": {
        "labels": ("Order ID", "Order number", "Order no.", "Order ref"),
        "c": (
            "Your order {v} has been confirmed.",
            "We've received order {v}.",
            "Order {v} is now being processed.",
        ),
        "u": (
            "I'm writing about order {v}.",
            "My order number is {v}.",
            "This concerns order {v}.",
        ),
        "n": ("Order {v} came in today.", "Reference: order {v}.", "The order number is {v}."),
    },
    "customer": {
        "labels": ("Customer", "Customer name", "Name", "Bill to"),
        "c": ("We have the order under the name {v}.", "Billing name: {v}."),
        "u": ("My name is {v}.", "The order is under my name, {v}."),
        "n": ("The customer is {v}.", "Placed by {v}.", "{v} placed this order."),
    },
    "email": {
        "labels": ("Email", "Customer email", "Contact email"),
        "c": ("A receipt was sent to {v}.", "Updates will go to {v}."),
        "u": ("You can reach me at {v}.", "My email is {v}."),
        "n": ("Contact email on the order is {v}.",),
    },
    "item": {
        "labels": ("Item", "Product", "Article", "Description"),
        "c": ("You ordered the {v}.", "Item purchased: {v}."),
        "u": ("I bought the {v}.", "The product I ordered is the {v}."),
        "n": ("The item is the {v}.", "Product ordered: {v}."),
    },
    "quantity": {
        "labels": ("Quantity", "Qty", "Units", "Count"),
        "c": ("Quantity ordered: {v}.", "You ordered {v} of them."),
        "u": ("I ordered {v} of them.", "I asked for {v} units."),
        "n": ("The quantity is {v}.", "{v} units were ordered."),
    },
    "total": {
        "labels": ("Total", "Amount charged", "Order total", "Grand total"),
        "c": ("Your card was charged {v}.", "The order total comes to {v}.", "Total paid: {v}."),
        "u": ("I paid {v} in total.", "I was charged {v}."),
        "n": ("The total was {v}.", "Amount charged: {v}."),
    },
    "date": {
        "labels": ("Order date", "Date", "Placed on", "Purchased"),
        "c": ("The order was placed on {v}.", "We received it on {v}."),
        "u": ("I placed the order on {v}.", "I ordered on {v}."),
        "n": ("Ordered on {v}.", "The order date is {v}."),
    },
    "coupon": {
        "labels": ("Coupon", "Promo code", "Discount code"),
        "c": ("Promo code {v} was applied.",),
        "u": ("I used the code {v}.",),
        "n": ("Coupon {v} applied.",),
    },
    "prev_order": {
        "labels": ("Previous order",),
        "c": ("Your previous order {v} was delivered last month.",),
        "u": ("My last order, {v}, arrived fine.",),
        "n": ("The customer also has an older order, {v}.",),
    },
    "removed": {
        "labels": ("Removed from cart",),
        "c": ("The {v} was removed from your cart before checkout.",),
        "u": ("I removed the {v} from the cart before paying.",),
        "n": ("A {v} was in the cart but removed.",),
    },
    "subtotal": {
        "labels": ("Subtotal before discount", "List price"),
        "c": ("Before the discount, the subtotal was {v}.",),
        "u": ("Before the discount it came to {v}.",),
        "n": ("Pre-discount subtotal was {v}.",),
    },
    "ship_to": {
        "labels": ("Ship to", "Recipient"),
        "c": ("It will be shipped to {v}.",),
        "u": ("It's a gift, so please deliver it to {v}.",),
        "n": ("Delivery goes to {v}.",),
    },
}
B_EXPRESS = {
    "kv": (
        "Express shipping|Yes|No",
        "Shipping method|Express|Standard",
        "Shipping|express|standard",
    ),
    "true": {
        "c": ("You chose express shipping.",),
        "u": ("I paid for express delivery.",),
        "n": ("Express shipping was selected.",),
    },
    "false": {
        "c": ("Standard shipping applies.",),
        "u": ("I went with standard shipping.",),
        "n": ("Shipping method: standard.",),
    },
}
B_GIFT = {
    "kv": ("Gift wrap|Yes|No", "Gift wrapping|requested|none"),
    "true": {
        "c": ("It will arrive gift-wrapped.",),
        "u": ("I asked for gift wrapping.",),
        "n": ("Gift wrapping requested.",),
    },
    "false": {
        "c": ("No gift wrap was requested.",),
        "u": ("No need for gift wrapping.",),
        "n": ("No gift wrap.",),
    },
}

SHELLS_ORDER = (
    Shell(
        "c",
        ("prose", "kv", "bullets", "mixed"),
        (
            "Subject: Order confirmation\n\nHi {cfirst},\n\nThanks for your purchase from {shop}!",
            "Subject: We got your order\n\nHello {cfirst},",
            "{SHOP} - ORDER RECEIPT",
            "Dear {cfirst},\n\nThis email confirms your recent purchase.",
        ),
        ("\n\nThe {shop} team", "\n\nQuestions? Just reply to this email.", "\n\nHappy shopping!"),
    ),
    Shell(
        "u",
        ("prose", "mixed"),
        (
            "Subject: Problem with my order\n\nHi,",
            "Hello {shop} support,",
            "To whom it may concern,",
            "Hi there,\n\nI need some help with a purchase.",
        ),
        ("\n\nThanks,\n{cfirst}", "\n\nRegards", "\n\nPlease get back to me soon."),
    ),
    Shell(
        "n",
        ("kv", "bullets", "prose"),
        (
            "Internal note (warehouse):",
            "Ops log, {shop}:",
            "Note for fulfilment team -",
            "ORDER SUMMARY",
        ),
        ("", "- logged by {agent}", "Please process today."),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Live chat - {shop}", "Chat started {weekday}", ""),
        ("", "[Chat closed]"),
        ("{agent} ({shop})", "{cfirst}"),
    ),
    Shell(
        "c",
        ("prose",),
        ("SMS from {shop}:", "{SHOP}:", "Text message:"),
        ("Reply STOP to opt out.", ""),
    ),
)


def dom_order(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    name = f"{first} {last}"
    brand = invented_word(rng)
    item = f"{brand} {rng.choice(PRODUCT_NOUNS)}"
    qty = rng.randint(1, 12)
    cents = rng.randint(800, 180000) // 50 * 50 if med else rng.randint(500, 90000)
    order_date = rand_date(rng, dt.date(2025, 9, 1), 500)
    nest = hard and rng.random() < 0.8
    grp = "customer" if nest else ""
    t = T_ORDER
    ctx = base_ctx(rng)
    ctx["cfirst"] = first
    shop_word = invented_word(rng)
    email = make_email(rng, first, last, email_domain(rng, invented_word(rng)))
    oid_pattern = rng.choice(("ORD-99999", "SO-999999", "W9999999", "AA-9999-99", "99-99999"))
    fields = [
        Field(
            "order_id",
            "string",
            code(rng, oid_pattern),
            "",
            t["order_id"],
            "id of the order this message is about",
            core=True,
        ),
        Field(
            "name" if nest else "customer_name",
            "string",
            name,
            name,
            t["customer"],
            "name of the person who placed the order",
            group=grp,
            core=True,
        ),
        Field(
            "email" if nest else "customer_email",
            "string",
            email,
            email,
            t["email"],
            "customer's email address",
            group=grp,
            nullable=hard,
            core=hard,
        ),
        Field("item", "string", item, item, t["item"], "the product ordered", core=True),
        Field(
            "quantity",
            "integer",
            qty,
            count_text(rng, qty, not med),
            t["quantity"],
            "number of units ordered",
        ),
        Field(
            "total",
            "number",
            cents / 100,
            money_text(rng, cents, not med),
            t["total"],
            "total amount actually charged, as a number without currency symbol",
        ),
        Field(
            "order_date",
            "string",
            order_date.isoformat(),
            date_text(rng, order_date, not med),
            t["date"],
            "date the order was placed, YYYY-MM-DD",
        ),
    ]
    if med:
        fields.append(
            bool_field(
                rng,
                "express_shipping",
                rng.random() < 0.5,
                B_EXPRESS,
                "true if express shipping was chosen",
            )
        )
        fields.append(
            bool_field(
                rng, "gift_wrap", rng.random() < 0.4, B_GIFT, "true if gift wrapping was requested"
            )
        )
    if hard:
        fields.append(
            Field(
                "coupon_code",
                "string",
                code(rng, rng.choice(("AAAA99", "AAAAAA9", "AA-999"))),
                "",
                t["coupon"],
                "promo code used",
                nullable=True,
                core=True,
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    n2f, n2l = person(rng)
    old_cents = cents + rng.randint(5, 60) * 100
    distractors = [
        plain_item(code(rng, oid_pattern), t["prev_order"]),
        plain_item(f"{invented_word(rng)} {rng.choice(PRODUCT_NOUNS)}", t["removed"]),
        plain_item(money_text(rng, old_cents, False), t["subtotal"]),
        plain_item(f"{n2f} {n2l}", t["ship_to"]),
    ]
    ctx["shop"] = f"{shop_word} {rng.choice(SHOP_SUFFIXES)}"
    ctx["SHOP"] = ctx["shop"].upper()
    return Spec("OrderSummary", fields, distractors, SHELLS_ORDER, ctx)


T_EVENT: dict[str, Templates] = {
    "title": {
        "labels": ("Event", "Title", "What", "Meeting"),
        "n": (
            "You're invited to the {v}.",
            "The {v} is coming up.",
            "This invite is for the {v}.",
            "Join us for the {v}.",
        ),
        "u": ("I'm putting together the {v}.",),
    },
    "date": {
        "labels": ("Date", "When", "Day"),
        "n": (
            "It takes place on {v}.",
            "The date is {v}.",
            "We meet on {v}.",
            "Save the date: {v}.",
        ),
    },
    "time": {
        "labels": ("Start time", "Time", "Starts at", "Start"),
        "n": (
            "We start at {v}.",
            "Kick-off is at {v}.",
            "Things get going at {v}.",
            "The start time is {v}.",
        ),
    },
    "location": {
        "labels": ("Location", "Where", "Venue", "Room"),
        "n": ("The venue is {v}.", "We'll be in {v}.", "It will be held at {v}.", "Location: {v}."),
    },
    "organizer": {
        "labels": ("Organizer", "Host", "Organised by"),
        "n": (
            "{v} is organizing.",
            "Your host is {v}.",
            "Organized by {v}.",
            "Questions go to the organizer, {v}.",
        ),
    },
    "org_email": {
        "labels": ("Organizer email", "RSVP to", "Host email"),
        "n": ("RSVPs go to {v}.", "Reply to {v} with questions.", "The organizer's email is {v}."),
    },
    "attendees": {
        "labels": ("Expected attendees", "Headcount", "Guests"),
        "n": (
            "We're expecting {v} attendees.",
            "{v} people have confirmed.",
            "Headcount so far: {v}.",
        ),
    },
    "duration": {
        "labels": ("Duration", "Length"),
        "n": ("It runs for {v}.", "Plan for {v}.", "The session lasts {v}."),
    },
    "moved": {
        "labels": ("Originally scheduled", "Old date (moved)"),
        "n": (
            "Note: this was originally set for {v}, but has been moved.",
            "Please ignore the earlier date of {v}.",
        ),
    },
    "old_time": {
        "labels": ("Previous start time",),
        "n": ("The old start time of {v} no longer applies.", "(We previously said {v}.)"),
    },
    "cancelled": {
        "labels": ("Cancelled",),
        "n": ("The {v} is cancelled.", "Separately, the {v} will not go ahead."),
    },
    "cohost": {
        "labels": ("Catering contact", "Facilities contact"),
        "n": ("Catering is handled by {v}.", "For room access, ask {v} at the front desk."),
    },
}
B_CATERING = {
    "kv": ("Catering|Yes|No", "Food|Lunch provided|None provided"),
    "true": {
        "n": ("Lunch will be provided.", "Snacks and drinks are on us.", "Catering is included.")
    },
    "false": {
        "n": ("No food will be served.", "Please bring your own lunch.", "There is no catering.")
    },
}
SHELLS_EVENT = (
    Shell(
        "n",
        ("kv", "bullets", "mixed"),
        (
            "Calendar invitation",
            "BEGIN INVITE",
            "You have been invited to an event",
            "New event from {sender}",
        ),
        ("", "Accept | Decline | Maybe", "Sent via {shop} Calendar"),
    ),
    Shell(
        "n",
        ("prose", "mixed"),
        ("Hi all,", "Hello team,", "Dear volunteers,", "Hey everyone!"),
        ("\n\nSee you there,\n{sender_first}", "\n\nThanks,\n{sender_first}", "\n\nCheers!"),
    ),
    Shell(
        "n",
        ("prose", "bullets"),
        (
            "COMMUNITY BOARD",
            "Posted on the {town} community board:",
            "Flyer text:",
            "Newsletter item:",
        ),
        ("", "All welcome.", "Spread the word!"),
    ),
    Shell(
        "chat",
        ("chat",),
        ("#general", "Team chat", "", "Group thread"),
        ("",),
        ("{sender_first}", "{rcpt}"),
    ),
    Shell(
        "n",
        ("prose", "kv"),
        (
            "Notes from {weekday}'s standup - upcoming event:",
            "Action item from the last meeting:",
            "Reminder:",
        ),
        ("", "Owner: {agent}"),
    ),
)


def duration_text(rng: Rng, minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    options = [f"{minutes} min", f"{minutes} minutes"]
    if minutes == 30:
        options.append("half an hour")
    elif minutes == 45:
        options.append("three quarters of an hour")
    elif rest == 0:
        options += (
            ["one hour", "an hour"]
            if hours == 1
            else [f"{hours} hours", f"{NUM_WORDS[hours]} hours"]
        )
    elif rest == 30:
        options += (
            ["an hour and a half", "1.5 hours"]
            if hours == 1
            else [f"{hours}.5 hours", f"{NUM_WORDS[hours]} and a half hours"]
        )
    return rng.choice(options)


def dom_event(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    title = f"{rng.choice(EVENT_HEADS)} {rng.choice(EVENT_TAILS)}"
    day = rand_date(rng, dt.date(2025, 10, 1), 540)
    hour, minute = rng.randint(8, 19), rng.choice((0, 0, 15, 30, 30, 45))
    of, ol = person(rng)
    organizer = f"{of} {ol}"
    org_email = make_email(rng, of, ol, email_domain(rng, invented_word(rng)))
    town = invented_town(rng)
    location = rng.choice(
        (
            f"Room {rng.randint(101, 640)}",
            f"{invented_word(rng)} Hall",
            f"{invented_word(rng)} Library, {town}",
            f"{rng.choice(('North', 'South', 'East', 'West'))} Wing, Level {rng.randint(2, 9)}",
            f"{invented_word(rng)} Community Centre",
            f"Rooftop Terrace, {rng.randint(2, 99)} {invented_word(rng)} Street",
        )
    )
    attendees = rng.randint(6, 20) if rng.random() < 0.5 else rng.randint(21, 180)
    minutes = rng.choice((30, 45, 60, 90, 120, 150, 180))
    nest = hard and rng.random() < 0.8
    grp = "organizer" if nest else ""
    t = T_EVENT
    fields = [
        Field("title", "string", title, title, t["title"], "name of the event", core=True),
        Field(
            "date",
            "string",
            day.isoformat(),
            date_text(rng, day, not med),
            t["date"],
            "date of the event, YYYY-MM-DD",
            core=True,
        ),
        Field(
            "start_time",
            "string",
            f"{hour:02d}:{minute:02d}",
            time_text(rng, hour, minute, not med),
            t["time"],
            "start time, 24-hour HH:MM",
        ),
        Field(
            "location",
            "string",
            location,
            location,
            t["location"],
            "where it takes place",
            nullable=hard,
            core=hard,
        ),
        Field(
            "name" if nest else "organizer",
            "string",
            organizer,
            organizer,
            t["organizer"],
            "name of the organizer",
            group=grp,
            core=hard,
        ),
        Field(
            "email" if nest else "organizer_email",
            "string",
            org_email,
            org_email,
            t["org_email"],
            "organizer's email address",
            group=grp,
            nullable=hard,
            core=nest,
        ),
        Field(
            "expected_attendees",
            "integer",
            attendees,
            count_text(rng, attendees, not med),
            t["attendees"],
            "number of people expected",
        ),
    ]
    if med:
        fields.append(
            Field(
                "duration_minutes",
                "integer",
                minutes,
                duration_text(rng, minutes),
                t["duration"],
                "length of the event in minutes",
                nullable=hard,
            )
        )
        fields.append(
            bool_field(rng, "catering", rng.random() < 0.5, B_CATERING, "true if food is provided")
        )
    ctx = base_ctx(rng)
    ctx["sender"], ctx["sender_first"] = organizer, of
    old_day = day - dt.timedelta(days=rng.randint(1, 20))
    old_hour = (hour + rng.choice((-2, -1, 1, 2))) % 24
    o2f, o2l = person(rng)
    distractors = [
        plain_item(date_text(rng, old_day, False), t["moved"]),
        plain_item(time_text(rng, old_hour, 0, False), t["old_time"]),
        plain_item(f"{rng.choice(EVENT_HEADS)} {rng.choice(EVENT_TAILS)}", t["cancelled"]),
        plain_item(f"{o2f} {o2l}", t["cohost"]),
    ]
    return Spec("EventInvite", fields, distractors, SHELLS_EVENT, ctx)


T_PRODUCT: dict[str, Templates] = {
    "name": {
        "labels": ("Product", "Name", "Model", "Item"),
        "n": (
            "Meet the {v}.",
            "Introducing the {v}.",
            "This listing is for the {v}.",
            "The {v} is back in our catalogue.",
        ),
        "u": ("I'm selling my {v}.",),
    },
    "brand": {
        "labels": ("Brand", "Manufacturer", "Made by"),
        "n": ("Made by {v}.", "From the designers at {v}.", "Brand: {v}.", "{v} makes this one."),
    },
    "price": {
        "labels": ("Price", "Now", "Our price", "Sale price"),
        "n": ("Yours for {v}.", "It sells for {v}.", "Price: {v}.", "Now only {v}."),
    },
    "color": {
        "labels": ("Color", "Colour", "Finish"),
        "n": (
            "Available here in {v}.",
            "This one comes in {v}.",
            "Finish: {v}.",
            "Color shown: {v}.",
        ),
    },
    "weight": {
        "labels": ("Weight", "Net weight", "Item weight"),
        "n": ("It weighs {v}.", "Weight: {v}.", "It tips the scales at {v}."),
    },
    "warranty": {
        "labels": ("Warranty",),
        "n": (
            "Covered by a {v} warranty.",
            "Comes with a {v} warranty.",
            "Includes a {v} warranty.",
        ),
    },
    "rating": {
        "labels": ("Rating", "Customer rating", "Avg. rating"),
        "n": ("Customers rate it {v}.", "Rated {v} by buyers.", "Average review score: {v}."),
    },
    "dims": {
        "labels": ("Dimensions", "Size (W x H x D)"),
        "n": ("It measures {v}.", "Dimensions: {v}."),
    },
    "width": {"labels": ("Width",), "n": ("It is {v} wide.",)},
    "height": {"labels": ("Height",), "n": ("It stands {v} tall.",)},
    "depth": {"labels": ("Depth",), "n": ("It is {v} deep.",)},
    "old_price": {
        "labels": ("Was", "List price", "Original price"),
        "n": ("Was {v}.", "Previously listed at {v}.", "Regular price {v}."),
    },
    "accessory": {
        "labels": ("Add-on (sold separately)",),
        "n": ("A matching {v} is sold separately.", "Optional extra: {v}."),
    },
    "ship_weight": {
        "labels": ("Shipping weight (boxed)",),
        "n": ("Shipping weight with the box is {v}.",),
    },
    "other_color": {
        "labels": ("Also available in",),
        "n": (
            "It also comes in {v}, at the same price.",
            "The {v} version is listed separately.",
        ),
    },
}
B_STOCK = {
    "kv": ("Availability|In stock|Out of stock", "In stock|yes|no", "Stock|Available|Sold out"),
    "true": {
        "n": ("In stock and ready to ship.", "Available now.", "Ships today from our warehouse.")
    },
    "false": {
        "n": ("Currently out of stock.", "Sold out - back soon.", "Temporarily unavailable.")
    },
}
SHELLS_PRODUCT = (
    Shell(
        "n",
        ("prose", "kv", "bullets", "mixed"),
        (
            "{SHOP} OFFICIAL STORE",
            "Product listing",
            "New arrival!",
            "Marketplace listing #{lnum}",
            "Featured deal",
        ),
        ("", "Free returns within 30 days.", "Questions? Ask the seller.", "Limit 2 per customer."),
    ),
    Shell(
        "n",
        ("kv", "bullets"),
        ("Catalogue entry {lnum}", "SPEC SHEET", "Product data:"),
        ("", "Specifications subject to change."),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Buyer questions", "Marketplace messages", ""),
        ("",),
        ("Buyer", "Seller"),
    ),
    Shell(
        "n",
        ("prose",),
        ("Posted by {shop}:", "Deal alert!", "From our weekly newsletter:"),
        ("#deal #{town}", "", "Link in bio."),
    ),
)


def dom_product(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    brand = invented_word(rng)
    noun = rng.choice(PRODUCT_NOUNS)
    pname = f"{rng.choice(MODEL_WORDS)}{rng.choice(MODEL_SUFFIXES)} {noun.title()}"
    cents = rng.randint(900, 250000)
    if med:
        cents = cents // 100 * 100 + rng.choice((0, 0, 99, 50, 95))
    grams = rng.randint(2, 90) * 50
    years = rng.choice((1, 2, 2, 3, 5))
    rating = rng.randint(30, 49) / 10
    t = T_PRODUCT
    weight_s = f"{grams / 1000:g} kg"
    warranty_s, warranty_k = f"{years}-year", f"{years} years" if years > 1 else "1 year"
    rating_s = f"{rating} out of 5"
    if med:
        weight_s = rng.choice(
            (weight_s, f"{grams} g", f"{grams:,} grams", f"{grams / 1000:g} kilograms")
        )
        warranty_s, warranty_k = rng.choice(
            (
                (f"{NUM_WORDS[years]}-year", f"{NUM_WORDS[years]} year{'s' if years > 1 else ''}"),
                (f"{years * 12}-month", f"{years * 12} months"),
                (f"{years}-year", f"{years} year{'s' if years > 1 else ''}"),
            )
        )
        rating_s = rng.choice((rating_s, f"{rating}/5", f"{rating} stars", f"{rating} of 5 stars"))
    fields = [
        Field(
            "product_name",
            "string",
            pname,
            pname,
            t["name"],
            "model name without the brand",
            core=True,
        ),
        Field("brand", "string", brand, brand, t["brand"], "manufacturer brand", core=True),
        Field(
            "price",
            "number",
            cents / 100,
            money_text(rng, cents, not med),
            t["price"],
            "current selling price as a number without currency symbol",
            core=hard,
        ),
        Field("color", "string", rng.choice(COLORS), "", t["color"], "colour of the listed item"),
        Field(
            "weight_kg",
            "number",
            grams / 1000,
            weight_s,
            t["weight"],
            "item weight in kilograms (without packaging)",
        ),
        Field(
            "warranty_years",
            "integer",
            years,
            warranty_s,
            t["warranty"],
            "warranty length in years",
            ksurface=warranty_k,
            nullable=hard,
            core=hard,
        ),
        Field(
            "rating",
            "number",
            rating,
            rating_s,
            t["rating"],
            "average customer rating out of 5",
            nullable=hard,
        ),
    ]
    if med:
        fields.append(
            bool_field(
                rng,
                "in_stock",
                rng.random() < 0.6,
                B_STOCK,
                "true if the item is currently available",
            )
        )
    extras: list[Field] = []
    if hard and rng.random() < 0.6:
        w, h, d = rng.randint(8, 120), rng.randint(5, 150), rng.randint(4, 80)
        combined = rng.random() < 0.5
        for key, val in (("width", w), ("height", h), ("depth", d)):
            fields.append(
                Field(
                    key,
                    "integer",
                    val,
                    f"{val} cm",
                    t[key],
                    f"{key} in centimetres",
                    group="dimensions_cm",
                    core=True,
                    render=not combined,
                )
            )
        if combined:
            dims = rng.choice(
                (f"{w} x {h} x {d} cm (W x H x D)", f"{w} cm wide, {h} cm high and {d} cm deep")
            )
            extras.append(plain_item(dims, t["dims"]))
    for f in fields:
        f.surface = f.surface or str(f.value)
    old_cents = cents + rng.randint(5, 80) * 100
    acc = f"{rng.choice(('carry case', 'spare filter', 'wall mount', 'charging dock', 'cover'))}"
    acc_cents = rng.randint(9, 60) * 100 + 99
    distractors = [
        plain_item(money_text(rng, old_cents, False), t["old_price"]),
        plain_item(f"{acc} ({money_text(rng, acc_cents, False)})", t["accessory"]),
        plain_item(f"{(grams + rng.randint(3, 12) * 100) / 1000:g} kg", t["ship_weight"]),
        plain_item(rng.choice(COLORS), t["other_color"]),
    ]
    ctx = base_ctx(rng)
    ctx["SHOP"] = brand.upper()
    return Spec("ProductListing", fields, distractors, SHELLS_PRODUCT, ctx, extras)


T_MEDICAL: dict[str, Templates] = {
    "patient": {
        "labels": ("Patient", "Patient name", "Name"),
        "n": ("{v} is booked in.", "The patient is {v}.", "Appointment for {v}."),
        "c": ("This message is for {v}.", "We have the booking under {v}."),
        "u": ("My name is {v}.", "I'm {v} and I'd like to confirm my booking."),
    },
    "dob": {
        "labels": ("DOB", "Date of birth", "Born"),
        "n": ("Date of birth {v}.", "Born {v}.", "DOB on file: {v}."),
        "c": ("We have your date of birth as {v}.",),
        "u": ("I was born on {v}.", "My date of birth is {v}."),
    },
    "date": {
        "labels": ("Appointment date", "Date", "Visit date"),
        "n": ("The visit is on {v}.", "Booked for {v}."),
        "c": ("Your appointment is on {v}.", "We'll see you on {v}."),
        "u": ("I'm booked in for {v}.", "My appointment is on {v}."),
    },
    "time": {
        "labels": ("Time", "Appointment time", "Slot"),
        "n": ("Slot: {v}.", "The slot is at {v}."),
        "c": ("Your slot is at {v}.",),
        "u": ("The time is {v}.", "It's at {v}."),
    },
    "doctor": {
        "labels": ("Doctor", "Clinician", "Physician"),
        "n": ("The patient will see {v}.", "Assigned clinician: {v}.", "With {v}."),
        "c": ("You'll be seen by {v}.", "Your doctor will be {v}."),
        "u": ("I'm seeing {v}.", "My appointment is with {v}."),
    },
    "clinic": {
        "labels": ("Clinic", "Location", "Practice", "Site"),
        "n": ("At {v}.", "The visit takes place at {v}."),
        "c": ("Please come to {v}.", "Your visit is at {v}."),
        "u": ("It's at {v}.", "I'm registered with {v}."),
    },
    "reason": {
        "labels": ("Reason", "Reason for visit", "Purpose"),
        "n": ("Reason for visit: {v}.", "Booked in for {v}."),
        "c": ("This appointment is for {v}.",),
        "u": ("It's for {v}.", "I need to come in for {v}."),
    },
    "insurance": {
        "labels": ("Insurance ID", "Policy number", "Insurance"),
        "n": ("Insurance policy {v}.", "Covered under policy {v}."),
        "c": ("We have your policy number as {v}.",),
        "u": ("My insurance number is {v}.",),
    },
    "referrer": {
        "labels": ("Referred by", "Referring GP"),
        "n": ("Referred by {v}.", "Referral came from {v}."),
        "c": ("Your referral came from {v}.",),
        "u": ("{v} referred me.",),
    },
    "cancelled": {
        "labels": ("Cancelled booking",),
        "n": ("The earlier booking on {v} was cancelled.",),
        "c": ("Your previous appointment on {v} has been cancelled.",),
        "u": ("I had to cancel my slot on {v}.",),
    },
    "companion": {
        "labels": ("Accompanied by", "Next of kin"),
        "n": ("{v} will accompany the patient.", "Next of kin: {v}."),
        "u": ("{v} will come with me.",),
    },
    "prev_clinic": {
        "labels": ("Previous clinic",),
        "n": ("Previously registered at {v}.",),
        "u": ("I used to go to {v}.",),
    },
}
B_NEW_PATIENT = {
    "kv": ("New patient|Yes|No", "Patient status|New|Returning"),
    "true": {
        "n": ("First visit to this clinic.", "New patient registration."),
        "c": ("As this is your first visit, please arrive early to register.",),
        "u": ("It's my first time at the clinic.",),
    },
    "false": {
        "n": ("Returning patient.", "Known to the practice."),
        "c": ("Welcome back.",),
        "u": ("I've been a patient there for years.",),
    },
}
B_FASTING = {
    "kv": ("Fasting required|Yes|No", "Fasting|Required|Not required"),
    "true": {
        "n": ("Patient must fast beforehand.",),
        "c": ("Please do not eat for 8 hours before the appointment.",),
        "u": ("I was told to fast beforehand.",),
    },
    "false": {
        "n": ("No fasting needed.",),
        "c": ("There is no need to fast.",),
        "u": ("I don't need to fast.",),
    },
}
SHELLS_MEDICAL = (
    Shell(
        "c",
        ("prose", "kv", "mixed"),
        (
            "APPOINTMENT REMINDER",
            "Subject: Your upcoming visit\n\nHello,",
            "Reminder from {clinic}:",
            "Dear patient,",
        ),
        ("To reschedule, call the front desk.", "Please bring photo ID.", "Reply C to confirm."),
    ),
    Shell(
        "n",
        ("kv", "bullets", "prose"),
        ("Front desk note", "Booking log - {agent}", "Intake summary", "NEW BOOKING"),
        ("", "Entered by {agent}."),
    ),
    Shell(
        "u",
        ("prose", "mixed"),
        ("Hi,\n\nJust confirming my booking.", "Hello,", "Dear reception,"),
        ("\n\nThank you", "\n\nBest wishes", "\n\nMany thanks"),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Call transcript", "Phone booking transcript", ""),
        ("", "[call ends]"),
        ("Receptionist", "Caller"),
    ),
)


def dom_medical(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    patient = f"{first} {last}"
    dob = rand_date(rng, dt.date(1940, 1, 1), 365 * 72)
    visit = rand_date(rng, dt.date(2025, 10, 1), 500)
    hour, minute = rng.randint(8, 17), rng.choice((0, 10, 15, 20, 30, 40, 45))
    df, dl = person(rng)
    doctor = f"{df} {dl}"
    clinic = f"{invented_town(rng)} {rng.choice(CLINIC_SUFFIXES)}"
    nest = hard and rng.random() < 0.8
    grp = "patient" if nest else ""
    t = T_MEDICAL

    def dr(name: str) -> str:
        return rng.choice((f"Dr. {name}", f"Dr {name}", f"Doctor {name}", f"{name}, MD"))

    fields = [
        Field(
            "name" if nest else "patient_name",
            "string",
            patient,
            patient,
            t["patient"],
            "patient's full name",
            group=grp,
            core=True,
        ),
        Field(
            "date_of_birth",
            "string",
            dob.isoformat(),
            date_text(rng, dob, not med),
            t["dob"],
            "patient's date of birth, YYYY-MM-DD",
            group=grp,
            core=nest,
        ),
        Field(
            "appointment_date",
            "string",
            visit.isoformat(),
            date_text(rng, visit, not med),
            t["date"],
            "date of the appointment, YYYY-MM-DD",
            core=True,
        ),
        Field(
            "appointment_time",
            "string",
            f"{hour:02d}:{minute:02d}",
            time_text(rng, hour, minute, not med),
            t["time"],
            "24-hour HH:MM",
        ),
        Field(
            "doctor",
            "string",
            doctor,
            dr(doctor),
            t["doctor"],
            "name of the doctor the patient will see, without title",
            core=True,
        ),
        Field("clinic", "string", clinic, clinic, t["clinic"], "clinic name"),
        Field(
            "reason",
            "string",
            rng.choice(VISIT_REASONS),
            "",
            t["reason"],
            "reason for the visit",
            nullable=hard,
        ),
    ]
    if med:
        fields.append(
            bool_field(
                rng,
                "new_patient",
                rng.random() < 0.4,
                B_NEW_PATIENT,
                "true if this is the patient's first visit",
            )
        )
        fields.append(
            bool_field(
                rng,
                "fasting_required",
                rng.random() < 0.3,
                B_FASTING,
                "true if the patient must fast beforehand",
            )
        )
    if hard:
        fields.append(
            Field(
                "insurance_id",
                "string",
                code(rng, rng.choice(("INS-999999", "AA9999999"))),
                "",
                t["insurance"],
                "insurance policy number",
                nullable=True,
                core=True,
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    rf, rl = person(rng)
    kf = rng.choice([n for n in FIRST_NAMES if n != first])
    old_visit = visit - dt.timedelta(days=rng.randint(2, 30))
    distractors = [
        plain_item(dr(f"{rf} {rl}"), t["referrer"]),
        plain_item(date_text(rng, old_visit, False), t["cancelled"]),
        plain_item(f"{kf} {last}", t["companion"]),
        plain_item(f"{invented_town(rng)} {rng.choice(CLINIC_SUFFIXES)}", t["prev_clinic"]),
    ]
    ctx = base_ctx(rng)
    ctx["clinic"] = clinic
    return Spec("ClinicAppointment", fields, distractors, SHELLS_MEDICAL, ctx)


T_TRAVEL: dict[str, Templates] = {
    "passenger": {
        "labels": ("Passenger", "Traveller", "Name"),
        "c": ("This booking is for {v}.", "Ticket issued to {v}."),
        "u": ("I'm {v}.", "The booking is under my name, {v}."),
        "n": ("Traveller: {v}.", "{v} is flying."),
    },
    "ref": {
        "labels": ("Booking reference", "PNR", "Confirmation code", "Booking ref"),
        "c": ("Your booking reference is {v}.", "Confirmation code: {v}."),
        "u": ("My booking reference is {v}.", "The confirmation code is {v}."),
        "n": ("PNR {v}.", "Booked under reference {v}."),
    },
    "flight": {
        "labels": ("Flight number", "Flight", "Flight no."),
        "c": ("You are on flight {v}.",),
        "u": ("I'm booked on flight {v}.",),
        "n": ("Flight {v}.", "Flying on {v}."),
    },
    "origin": {
        "labels": ("Origin", "From", "Departing from"),
        "n": ("Departing from {v}.", "The flight leaves {v}.", "Origin: {v}."),
        "u": ("I fly out of {v}.",),
    },
    "destination": {
        "labels": ("Destination", "To", "Arriving at"),
        "n": ("Bound for {v}.", "Destination: {v}.", "The flight arrives in {v}."),
        "u": ("I'm flying to {v}.",),
    },
    "date": {
        "labels": ("Departure date", "Date", "Departs"),
        "n": ("Departure is on {v}.", "The flight departs on {v}."),
        "u": ("I leave on {v}.",),
    },
    "time": {
        "labels": ("Departure time", "Dep. time", "Time"),
        "n": ("Wheels up at {v}.", "Scheduled departure: {v}.", "It leaves at {v}."),
    },
    "seat": {
        "labels": ("Seat",),
        "c": ("You are in seat {v}.",),
        "u": ("I have seat {v}.",),
        "n": ("Seat {v} is assigned.", "Seat assignment: {v}."),
    },
    "cabin": {
        "labels": ("Cabin", "Class", "Fare class"),
        "n": ("Travelling in {v}.", "Cabin: {v}.", "Booked in {v}."),
        "u": ("I'm flying {v}.",),
    },
    "bags": {
        "labels": ("Checked bags", "Baggage allowance"),
        "n": ("The fare includes {v}.", "Allowance: {v}."),
        "u": ("I'm checking {v}.",),
    },
    "return": {
        "labels": ("Return", "Return date"),
        "n": ("The return flight is on {v}.", "Coming back on {v}."),
        "u": ("I fly back on {v}.",),
    },
    "companion": {
        "labels": ("Also travelling", "Companion"),
        "n": ("Also travelling: {v}.", "Travelling with {v}."),
        "u": ("My colleague {v} is on the same trip.",),
    },
    "cancelled": {
        "labels": ("Cancelled flight",),
        "c": ("Your original flight {v} was cancelled, so we rebooked you.",),
        "u": ("My original flight {v} got cancelled.",),
        "n": ("Original flight {v} cancelled.",),
    },
    "old_time": {
        "labels": ("Previous departure time",),
        "n": (
            "Note the old departure time of {v} has changed.",
            "It was previously scheduled for {v}.",
        ),
    },
    "hotel": {
        "labels": ("Hotel",),
        "n": ("Hotel near the airport: {v}.",),
        "u": ("I'm staying at {v} the night before.",),
    },
}
CABINS = ("economy", "premium economy", "business", "first")
CABIN_TEXT = {
    "economy": ("Economy", "Economy Class", "economy class", "ECONOMY"),
    "premium economy": ("Premium Economy", "premium economy class", "PREMIUM ECONOMY"),
    "business": ("Business", "Business Class", "business class", "BUSINESS"),
    "first": ("First", "First Class", "first class", "FIRST"),
}
SHELLS_TRAVEL = (
    Shell(
        "c",
        ("kv", "bullets", "mixed", "prose"),
        (
            "E-TICKET / ITINERARY RECEIPT",
            "Subject: Your trip is booked\n\nDear traveller,",
            "{AIRLINE} booking confirmation",
            "Check-in is now open",
        ),
        ("", "\n\nHave a pleasant flight.", "Bags must be dropped 45 minutes before departure."),
    ),
    Shell(
        "u",
        ("prose", "mixed"),
        (
            "Hi {rcpt},\n\nHere are my flight details for the expense report.",
            "Hey {rcpt}, flight info as promised:",
            "Hello,",
        ),
        ("\n\nThanks!", "\n\nSee you when I'm back.", ""),
    ),
    Shell(
        "n",
        ("kv", "bullets", "prose"),
        ("Travel plan", "Itinerary for the {event}", "TRIP NOTES", "Booking summary"),
        ("", "Booked via {shop} Travel."),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Chat with {AIRLINE}", "Travel desk chat", ""),
        ("",),
        ("{airline} agent", "Traveller"),
    ),
    Shell(
        "c",
        ("prose",),
        ("{AIRLINE} alert:", "SMS:", "Flight update:"),
        ("", "Reply HELP for help."),
    ),
)


def dom_travel(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    name = f"{first} {last}"
    airline = f"{invented_word(rng)} {rng.choice(AIRLINE_SUFFIXES)}"
    carrier_code = code(rng, "AA")
    flight = f"{carrier_code}{rng.randint(10, 4999)}"
    origin, destination = invented_town(rng), invented_town(rng)
    while destination == origin:
        destination = invented_town(rng)
    day = rand_date(rng, dt.date(2025, 11, 1), 500)
    ret = day + dt.timedelta(days=rng.randint(2, 21))
    hour, minute = rng.randint(5, 22), rng.choice((0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55))
    seat = f"{rng.randint(1, 45)}{rng.choice('ABCDEF')}"
    cabin = rng.choice(CABINS)
    bags = rng.randint(0, 3)
    if med:
        bags_s = rng.choice(
            (
                f"{count_text(rng, bags, False)} checked bag{'s' if bags != 1 else ''}",
                "no checked bags"
                if bags == 0
                else f"{bags} x 23 kg checked bag{'s' if bags != 1 else ''}",
            )
        )
    else:
        bags_s = f"{bags} checked bag{'s' if bags != 1 else ''}"
    nest = hard and rng.random() < 0.8
    grp = "passenger" if nest else ""
    t = T_TRAVEL
    fields = [
        Field(
            "name" if nest else "passenger_name",
            "string",
            name,
            name,
            t["passenger"],
            "passenger's full name",
            group=grp,
            core=True,
        ),
        Field(
            "booking_reference",
            "string",
            code(rng, "A9AAA9" if rng.random() < 0.5 else "AAAAAA"),
            "",
            t["ref"],
            "booking reference / PNR",
            core=True,
        ),
        Field("flight_number", "string", flight, flight, t["flight"], "flight number", core=True),
        Field("origin", "string", origin, origin, t["origin"], "departure city"),
        Field("destination", "string", destination, destination, t["destination"], "arrival city"),
        Field(
            "departure_date",
            "string",
            day.isoformat(),
            date_text(rng, day, not med),
            t["date"],
            "departure date, YYYY-MM-DD",
        ),
        Field(
            "departure_time",
            "string",
            f"{hour:02d}:{minute:02d}",
            time_text(rng, hour, minute, not med),
            t["time"],
            "scheduled departure, 24-hour HH:MM",
        ),
        Field(
            "seat",
            "string",
            seat,
            seat,
            t["seat"],
            "seat number",
            group=grp,
            core=nest,
            nullable=hard,
        ),
        Field(
            "cabin",
            "string",
            cabin,
            rng.choice(CABIN_TEXT[cabin]) if med else cabin,
            t["cabin"],
            "cabin class",
            enum=CABINS,
        ),
        Field(
            "checked_bags",
            "integer",
            bags,
            bags_s,
            t["bags"],
            "number of checked bags included",
            ksurface=str(bags),
        ),
    ]
    if hard:
        fields.append(
            Field(
                "return_date",
                "string",
                ret.isoformat(),
                date_text(rng, ret, False),
                t["return"],
                "return flight date, YYYY-MM-DD",
                nullable=True,
                core=True,
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    cf, cl = person(rng)
    old_hour = (hour + rng.choice((-3, -2, -1, 1, 2))) % 24
    distractors = [
        plain_item(f"{cf} {cl} (seat {rng.randint(1, 45)}{rng.choice('ABCDEF')})", t["companion"]),
        plain_item(f"{carrier_code}{rng.randint(10, 4999)}", t["cancelled"]),
        plain_item(time_text(rng, old_hour, minute, False), t["old_time"]),
        plain_item(f"the {invented_word(rng)} Inn, {origin}", t["hotel"]),
    ]
    ctx = base_ctx(rng)
    ctx["airline"], ctx["AIRLINE"] = airline, airline.upper()
    return Spec("FlightBooking", fields, distractors, SHELLS_TRAVEL, ctx)


T_SUPPORT: dict[str, Templates] = {
    "ticket": {
        "labels": ("Ticket ID", "Ticket", "Case number", "Case"),
        "c": ("Your ticket {v} has been opened.", "We've logged this as case {v}."),
        "u": ("Following up on ticket {v}.", "My case number is {v}."),
        "n": ("Ticket {v} created.", "Case {v}."),
    },
    "customer": {
        "labels": ("Customer", "Reported by", "Requester", "Name"),
        "c": ("We have {v} listed as the account holder.",),
        "u": ("My name is {v}.", "This is {v}."),
        "n": ("Reported by {v}.", "Requester: {v}.", "{v} called in."),
    },
    "email": {
        "labels": ("Email", "Account email", "Contact"),
        "c": ("We'll reply to {v}.",),
        "u": ("My account email is {v}.", "Reach me at {v}."),
        "n": ("Account email: {v}.", "Contact address {v}."),
    },
    "product": {
        "labels": ("Product", "Device", "Affected product"),
        "c": ("This concerns your {v}.",),
        "u": (
            "My {v} has stopped working.",
            "I have a problem with my {v}.",
            "The {v} keeps acting up.",
        ),
        "n": ("Affected product: {v}.", "Issue with a {v}."),
    },
    "error": {
        "labels": ("Error code", "Error", "Code shown"),
        "c": ("You reported error {v}.",),
        "u": ("It shows error {v}.", "I keep getting {v}.", "The screen says {v}."),
        "n": ("Error {v} reported.", "Displays code {v}."),
    },
    "priority": {
        "labels": ("Priority", "Severity"),
        "c": ("We've set the priority to {v}.",),
        "u": ("I'd call this {v} priority.",),
        "n": ("Priority: {v}.", "Marked {v} priority."),
    },
    "order": {
        "labels": ("Order number", "Order"),
        "c": ("Linked order: {v}.",),
        "u": ("I bought it with order {v}.",),
        "n": ("Original order {v}.",),
    },
    "prev_ticket": {
        "labels": ("Related ticket (closed)",),
        "u": ("This is related to my old ticket {v}, which was closed.",),
        "n": ("See also closed ticket {v}.",),
    },
    "old_error": {
        "labels": ("Previous error (resolved)",),
        "u": ("The earlier {v} error went away after the update.",),
        "n": ("Earlier error {v} is resolved.",),
    },
    "other_device": {
        "labels": ("Other device (working)",),
        "u": ("My {v} works fine though.",),
        "n": ("Customer's {v} is unaffected.",),
    },
    "assignee": {
        "labels": ("Assignee", "Assigned to"),
        "c": ("{v} from our team will handle this.",),
        "n": ("Assigned to {v}.",),
    },
}
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_TEXT = {
    "low": ("Low", "LOW", "low"),
    "normal": ("Normal", "NORMAL", "normal"),
    "high": ("High", "HIGH", "high"),
    "urgent": ("Urgent", "URGENT", "urgent"),
}
B_REFUND = {
    "kv": ("Refund requested|Yes|No", "Refund|requested|not requested"),
    "true": {
        "u": ("I would like a refund.", "Please refund my money."),
        "n": ("Customer wants a refund.",),
        "c": ("We have noted your refund request.",),
    },
    "false": {
        "u": ("I don't want a refund, just a fix.", "No refund needed, I just want it working."),
        "n": ("No refund requested.",),
        "c": ("You mentioned you do not need a refund.",),
    },
}
SHELLS_SUPPORT = (
    Shell(
        "n",
        ("kv", "bullets", "mixed"),
        ("NEW TICKET", "Helpdesk ticket", "[Support portal submission]", "Case summary"),
        ("", "SLA: 24h", "Queue: tier 1"),
    ),
    Shell(
        "u",
        ("prose", "mixed"),
        (
            "Subject: Help needed\n\nHello,",
            "Hi support team,",
            "Subject: Still broken\n\nHi,",
            "To the support desk,",
        ),
        ("\n\nThanks", "\n\nRegards,\n{cfirst}", "\n\nThis is really frustrating."),
    ),
    Shell(
        "c",
        ("prose", "mixed"),
        (
            "Hello,\n\nThanks for contacting support.",
            "Hi {cfirst},",
            "Subject: We're on it\n\nHi there,",
        ),
        ("\n\nBest,\n{agent}\nSupport Team", "\n\nKind regards,\nThe support team"),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Support chat", "Chat transcript", ""),
        ("", "[Customer left the chat]"),
        ("{agent}", "{cfirst}"),
    ),
)


def dom_support(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    name = f"{first} {last}"
    email = make_email(rng, first, last, email_domain(rng, invented_word(rng)))
    product = f"{invented_word(rng)} {rng.choice(DEVICE_NOUNS)}"
    err_pattern = rng.choice(("E-9999", "ERR_999", "0x9999A", "E99", "AA-999"))
    priority = rng.choice(PRIORITIES)
    tid_pattern = rng.choice(("TCK-99999", "SUP-2026-9999", "INC0099999", "CASE-999999"))
    nest = hard and rng.random() < 0.8
    grp = "customer" if nest else ""
    t = T_SUPPORT
    fields = [
        Field(
            "ticket_id",
            "string",
            code(rng, tid_pattern),
            "",
            t["ticket"],
            "support ticket id",
            core=True,
        ),
        Field(
            "name" if nest else "customer_name",
            "string",
            name,
            name,
            t["customer"],
            "name of the customer reporting the issue",
            group=grp,
            core=True,
        ),
        Field(
            "email" if nest else "customer_email",
            "string",
            email,
            email,
            t["email"],
            "customer's email address",
            group=grp,
            nullable=hard,
            core=nest,
        ),
        Field("product", "string", product, product, t["product"], "affected product", core=True),
        Field(
            "error_code",
            "string",
            code(rng, err_pattern),
            "",
            t["error"],
            "error code of the current problem",
            nullable=hard,
        ),
        Field(
            "priority",
            "string",
            priority,
            rng.choice(PRIORITY_TEXT[priority]) if med else priority,
            t["priority"],
            "ticket priority",
            enum=PRIORITIES,
        ),
    ]
    if med:
        fields.append(
            bool_field(
                rng,
                "refund_requested",
                rng.random() < 0.4,
                B_REFUND,
                "true if the customer asks for a refund",
            )
        )
    if hard:
        fields.append(
            Field(
                "order_number",
                "string",
                code(rng, "ORD-999999"),
                "",
                t["order"],
                "order number of the purchase",
                nullable=True,
                core=True,
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    af, al = person(rng)
    distractors = [
        plain_item(code(rng, tid_pattern), t["prev_ticket"]),
        plain_item(code(rng, err_pattern), t["old_error"]),
        plain_item(f"{invented_word(rng)} {rng.choice(DEVICE_NOUNS)}", t["other_device"]),
        plain_item(f"{af} {al}", t["assignee"]),
    ]
    ctx = base_ctx(rng)
    ctx["cfirst"] = first
    return Spec("SupportTicket", fields, distractors, SHELLS_SUPPORT, ctx)


T_SHIPPING: dict[str, Templates] = {
    "tracking": {
        "labels": ("Tracking number", "Tracking ID", "Waybill"),
        "c": ("Your tracking number is {v}.", "Track it with {v}."),
        "u": ("The tracking number I got is {v}.",),
        "n": ("Shipment {v}.", "Waybill {v}."),
    },
    "carrier": {
        "labels": ("Carrier", "Courier", "Shipped via"),
        "c": ("It is being delivered by {v}.", "Your parcel is with {v}."),
        "u": ("It's coming with {v}.",),
        "n": ("Carrier: {v}.", "Handed to {v}."),
    },
    "recipient": {
        "labels": ("Recipient", "Deliver to", "Addressee"),
        "c": ("Addressed to {v}.",),
        "u": ("It's addressed to {v}.",),
        "n": ("Recipient: {v}.", "For delivery to {v}."),
    },
    "city": {
        "labels": ("City", "Destination", "Town"),
        "n": ("Destination: {v}.", "Heading to {v}.", "Delivering in {v}."),
    },
    "postal": {
        "labels": ("Postcode", "Postal code", "ZIP"),
        "n": ("Postcode {v}.", "Postal code: {v}."),
    },
    "packages": {
        "labels": ("Packages", "Parcels", "Pieces"),
        "c": ("Your order ships as {v}.",),
        "n": ("The shipment has {v}.", "Contents: {v}."),
    },
    "weight": {
        "labels": ("Weight", "Total weight", "Gross weight"),
        "n": ("Total weight {v}.", "It weighs {v}."),
    },
    "eta": {
        "labels": ("Estimated delivery", "ETA", "Expected"),
        "c": ("Expect it on {v}.", "It should arrive on {v}."),
        "n": ("ETA {v}.", "Estimated delivery: {v}."),
    },
    "instructions": {
        "labels": ("Delivery instructions", "Note to driver"),
        "n": ("Driver note: {v}.", "Instructions: {v}."),
        "u": ("Please {v}.",),
    },
    "sender": {
        "labels": ("Sender", "From"),
        "n": ("Sent by {v}.", "Shipped from {v}."),
        "u": ("{v} sent it to me.",),
    },
    "old_eta": {
        "labels": ("Previous estimate",),
        "c": ("The earlier estimate of {v} no longer applies.",),
        "n": ("Earlier ETA {v} superseded.",),
    },
    "return_label": {
        "labels": ("Return label",),
        "c": ("A return label ({v}) is included in the box.",),
        "n": ("Return label {v} enclosed.",),
    },
    "depot": {
        "labels": ("Depot",),
        "n": ("Currently at the {v} depot.", "Scanned at {v} depot this morning."),
    },
}
B_SIGNATURE = {
    "kv": ("Signature required|Yes|No", "Signature|Required|Not required"),
    "true": {
        "c": ("Someone must sign for it.", "A signature is required on delivery."),
        "n": ("Signature on delivery.",),
    },
    "false": {
        "c": ("No signature is needed.", "It can be left without a signature."),
        "n": ("No signature required.",),
    },
}
SHELLS_SHIPPING = (
    Shell(
        "c",
        ("prose", "kv", "mixed"),
        (
            "Subject: Your parcel is on its way\n\nHello,",
            "SHIPPING NOTIFICATION",
            "{CARRIER} delivery update",
            "Good news - your package has shipped!",
        ),
        ("", "\n\nTrack online any time.", "\n\nThanks for choosing {carrier}."),
    ),
    Shell(
        "n",
        ("kv", "bullets"),
        ("PACKING SLIP", "Label scan", "Manifest line {lnum}"),
        ("", "Handle with care."),
    ),
    Shell(
        "n",
        ("prose", "bullets", "kv"),
        ("Warehouse log", "Dispatch note - {weekday}", "Outbound shipment"),
        ("", "Checked by {agent}."),
    ),
    Shell(
        "chat",
        ("chat",),
        ("Delivery chat", "Courier messages", ""),
        ("",),
        ("Courier", "{cfirst}"),
    ),
)


def dom_shipping(rng: Rng, difficulty: str) -> Spec:
    med, hard = difficulty != "easy", difficulty == "hard"
    first, last = person(rng)
    name = f"{first} {last}"
    carrier = f"{invented_word(rng)} {rng.choice(CARRIER_SUFFIXES)}"
    trk_pattern = rng.choice(("1Z9999AA99999999", "AA999999999AA", "TRK-99999999", "99999999999"))
    city = invented_town(rng)
    postal = code(rng, rng.choice(("99999", "A9A 9A9", "AA9 9AA", "9999")))
    packages = rng.randint(1, 8)
    grams = rng.randint(2, 300) * 100
    eta = rand_date(rng, dt.date(2025, 10, 1), 500)
    if med:
        noun = rng.choice(("parcel", "box", "package"))
        pk_s = (
            f"a single {noun}"
            if packages == 1
            else f"{count_text(rng, packages, False)} {noun}{'es' if noun == 'box' else 's'}"
        )
        wt_s = rng.choice((f"{grams / 1000:g} kg", f"{grams:,} g", f"{grams / 1000:g} kilograms"))
    else:
        pk_s = f"{packages} parcel{'s' if packages != 1 else ''}"
        wt_s = f"{grams / 1000:g} kg"
    nest = hard and rng.random() < 0.8
    grp = "recipient" if nest else ""
    t = T_SHIPPING
    fields = [
        Field(
            "tracking_number",
            "string",
            code(rng, trk_pattern),
            "",
            t["tracking"],
            "tracking number of this shipment",
            core=True,
        ),
        Field("carrier", "string", carrier, carrier, t["carrier"], "delivery company", core=True),
        Field(
            "name" if nest else "recipient_name",
            "string",
            name,
            name,
            t["recipient"],
            "name of the person receiving the parcel",
            group=grp,
            core=True,
        ),
        Field(
            "city" if nest else "destination_city",
            "string",
            city,
            city,
            t["city"],
            "destination city",
            group=grp,
            core=nest,
        ),
        Field(
            "postal_code",
            "string",
            postal,
            postal,
            t["postal"],
            "destination postal code",
            group=grp,
            nullable=hard,
        ),
        Field(
            "package_count",
            "integer",
            packages,
            pk_s,
            t["packages"],
            "number of packages",
            ksurface=str(packages),
        ),
        Field("weight_kg", "number", grams / 1000, wt_s, t["weight"], "total weight in kilograms"),
        Field(
            "estimated_delivery",
            "string",
            eta.isoformat(),
            date_text(rng, eta, not med),
            t["eta"],
            "estimated delivery date, YYYY-MM-DD",
        ),
    ]
    if med:
        fields.append(
            bool_field(
                rng,
                "signature_required",
                rng.random() < 0.4,
                B_SIGNATURE,
                "true if someone must sign on delivery",
            )
        )
    if hard:
        fields.append(
            Field(
                "delivery_instructions",
                "string",
                rng.choice(DELIVERY_NOTES),
                "",
                t["instructions"],
                "instructions for the driver",
                nullable=True,
                core=True,
            )
        )
    for f in fields:
        f.surface = f.surface or str(f.value)
    sf, sl = person(rng)
    old_eta = eta - dt.timedelta(days=rng.randint(1, 6))
    distractors = [
        plain_item(f"{sf} {sl} in {invented_town(rng)}", t["sender"]),
        plain_item(date_text(rng, old_eta, False), t["old_eta"]),
        plain_item(code(rng, trk_pattern), t["return_label"]),
        plain_item(invented_town(rng), t["depot"]),
    ]
    ctx = base_ctx(rng)
    ctx["carrier"], ctx["CARRIER"] = carrier, carrier.upper()
    ctx["cfirst"] = first
    return Spec("ShipmentNotice", fields, distractors, SHELLS_SHIPPING, ctx)


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


# --------------------------------------------------------------------------------------------
# Q&A: a tiny fictional world per record
# --------------------------------------------------------------------------------------------

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
# "Now" versions for hard factual questions: {c} is the old value, {y} the year it changed.
TEMPORAL: dict[str, tuple[str, ...]] = {
    "lives_in": (
        "{a} used to live in {c} but moved to {b} in {y}.",
        "{a} moved from {c} to {b} in {y}.",
        "After years in {c}, {a} now lives in {b}.",
    ),
    "works_at": (
        "{a} left {c} in {y} and now works at {b}.",
        "{a} worked at {c} until {y}; these days {a} works at {b}.",
        "Since {y}, {a} has worked at {b} rather than {c}.",
    ),
    "hq": (
        "{a} moved its headquarters from {c} to {b} in {y}.",
        "{a} was based in {c} until {y}, when it relocated to {b}.",
    ),
    "price": (
        "The {a} used to cost {c} dollars, but it now sells for {b} dollars.",
        "After a price change, the {a} costs {b} dollars instead of {c} dollars.",
    ),
    "mayor": (
        "{c} was the mayor of {a} until {y}; the current mayor is {b}.",
        "{b} replaced {c} as mayor of {a} in {y}.",
    ),
    "employees": (
        "{a} grew from {c} employees to {b} employees over the last decade.",
        "{a} once had {c} employees; today it has {b}.",
    ),
}
QUESTIONS: dict[str, tuple[str, ...]] = {
    "born": (
        "In what year was {a} born?",
        "When was {a} born?",
        "What is {a}'s year of birth?",
        "{a} was born in which year?",
        "Which year was {a} born in?",
    ),
    "works_at": (
        "Where does {a} work?",
        "Which company employs {a}?",
        "What company does {a} work for?",
        "Who is {a}'s employer?",
        "{a} works for which company?",
    ),
    "lives_in": (
        "Where does {a} live?",
        "In which town does {a} live?",
        "What town does {a} call home?",
        "{a} lives in which town?",
        "Which town is {a}'s home?",
    ),
    "reports_to": (
        "Who is {a}'s manager?",
        "Who does {a} report to?",
        "To whom does {a} report?",
        "Who manages {a}?",
        "Who is {a}'s direct boss?",
    ),
    "hq": (
        "Where is {a} headquartered?",
        "In which town is {a} based?",
        "Where are {a}'s headquarters?",
        "Which town is home to {a}'s head office?",
        "{a} is based in which town?",
    ),
    "founded": (
        "When was {a} founded?",
        "In what year was {a} established?",
        "What year did {a} open its doors?",
        "{a} was founded in which year?",
        "In which year did {a} get its start?",
    ),
    "founder": (
        "Who founded {a}?",
        "Who started {a}?",
        "Who is the founder of {a}?",
        "{a} was founded by whom?",
        "Which person founded {a}?",
    ),
    "employees": (
        "How many employees does {a} have?",
        "How many people work at {a}?",
        "What is the size of {a}'s staff?",
        "How large is {a}'s workforce?",
        "{a} employs how many people?",
    ),
    "maker": (
        "Who makes the {a}?",
        "Which company manufactures the {a}?",
        "What company produces the {a}?",
        "The {a} is made by which company?",
        "Who is the manufacturer of the {a}?",
    ),
    "price": (
        "How much does the {a} cost?",
        "What is the price of the {a} in dollars?",
        "How many dollars does the {a} cost?",
        "The {a} costs how much?",
        "What does the {a} sell for?",
    ),
    "population": (
        "What is the population of {a}?",
        "How many people live in {a}?",
        "How many residents does {a} have?",
        "{a} has how many residents?",
    ),
    "mayor": (
        "Who is the mayor of {a}?",
        "Who serves as mayor of {a}?",
        "Which person leads {a} as mayor?",
        "{a}'s mayor is who?",
    ),
    "pet": (
        "What is the name of {a}'s dog?",
        "What is {a}'s dog called?",
        "What did {a} name the dog?",
        "{a}'s dog goes by what name?",
    ),
    "role": (
        "What does {a} do for a living?",
        "What is {a}'s profession?",
        "What is {a}'s job?",
        "{a} works as what?",
    ),
}
QUESTIONS_NOW: dict[str, tuple[str, ...]] = {
    "lives_in": (
        "Where does {a} live now?",
        "In which town does {a} currently live?",
        "What is {a}'s current town?",
    ),
    "works_at": (
        "Where does {a} work now?",
        "Who is {a}'s current employer?",
        "Which company does {a} currently work for?",
    ),
    "hq": ("Where is {a} headquartered today?", "In which town is {a} currently based?"),
    "price": (
        "How much does the {a} cost now?",
        "What is the current price of the {a} in dollars?",
    ),
    "mayor": ("Who is the current mayor of {a}?", "Who is mayor of {a} today?"),
    "employees": ("How many employees does {a} have now?", "What is {a}'s current headcount?"),
}
SUBJECT_KIND = {
    "born": "person", "works_at": "person", "lives_in": "person", "reports_to": "person",
    "pet": "person", "role": "person", "sibling": "person", "owns": "person",
    "hq": "company", "founded": "company", "founder": "company", "employees": "company",
    "maker": "product", "price": "product", "population": "town", "mayor": "town",
}  # fmt: skip
LEADS = (
    "Here are a few notes from the local newsletter.",
    "The following facts come from a small business directory.",
    "These details were collected for a community report.",
    "A reporter gathered the following background.",
    "This summary was compiled from public records.",
    "The notes below were taken at a neighbourhood meeting.",
    "What follows is taken from a regional almanac.",
    "A volunteer wrote down these facts for the town archive.",
    "Below is an excerpt from a local history blog.",
    "Some background from an old trade magazine follows.",
    "These notes were shared on a community forum.",
    "The facts below appeared in a school project.",
)
SENTENCE_RANGE = {"easy": (2, 4), "medium": (4, 6), "hard": (6, 8)}


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


def qa_factual(w: World, difficulty: str) -> Target:
    rng = w.rng
    rel = rng.choice(tuple(QUESTIONS))
    subject = w.new(SUBJECT_KIND[rel])
    shown, answer = w.value(rel)
    if difficulty == "hard" and rel in TEMPORAL and rng.random() < 0.7:
        old, _ = w.value(rel)
        if rel == "employees":  # the template says the company grew
            old = f"{rng.randint(5, max(6, int(answer) - 1)):,}"
        year = str(rng.randint(2008, 2024))
        fact = w.say(rel, subject, shown, TEMPORAL[rel], c=old, y=year)
        question = rng.choice(QUESTIONS_NOW[rel]).format(a=subject)
    else:
        fact = w.say(rel, subject, shown)
        pool = QUESTIONS[rel][:3] if difficulty == "easy" else QUESTIONS[rel]
        question = rng.choice(pool).format(a=subject)
    prefer = rel if difficulty != "easy" else None
    # "What does X do for a living?" must not be answerable with an employer.
    blocked = {"works_at"} if rel == "role" else set()
    return Target(question, answer, [fact], [subject], prefer, blocked)


YES_NO_PRICE = ("Does the {a} cost more than the {b}?", "Is the {a} more expensive than the {b}?")
YES_NO_AGE = ("Is {a} older than {b}?", "Was {a} born before {b}?")
YES_NO_FOUNDED = ("Was {a} founded before {b}?", "Is {a} older than {b}?")
YES_NO_TOWN = (
    "Do {a} and {b} live in the same town?",
    "Are {a} and {b} neighbours in the same town?",
)
YES_NO_EMPLOYER = (
    "Do {a} and {b} work for the same company?",
    "Are {a} and {b} colleagues at the same company?",
)


def distinct_ints(rng: Rng, lo: int, hi: int, k: int) -> list[int]:
    return rng.sample(range(lo, hi + 1), k)


def qa_reasoning(w: World, difficulty: str) -> Target:
    rng = w.rng
    kinds = {
        "easy": ("older", "cheaper", "founded_first", "total", "yesno", "larger_town"),
        "medium": (
            "oldest3",
            "price_diff",
            "price_sum",
            "founded_gap",
            "age_in_year",
            "yesno",
            "emp_diff",
            "total",
        ),
        "hard": (
            "relative_age",
            "total3_words",
            "count_in_town",
            "discount",
            "yesno_relative",
            "age_gap_words",
        ),
    }[difficulty]
    kind = rng.choice(kinds)
    if kind in ("older", "oldest3", "relative_age", "yesno_relative"):
        n = 2 if kind == "older" else 3
        people = [w.new("person") for _ in range(n)]
        years = distinct_ints(rng, 1941, 2004, n)
        facts = []
        if kind in ("relative_age", "yesno_relative"):
            gap = rng.randint(2, 15)
            years[1] = years[0] + rng.choice((-gap, gap))
            while years[2] in (years[0], years[1]):
                years[2] = rng.randint(1941, 2004)
            facts.append(w.say("born", people[0], str(years[0])))
            rel_tpl = (
                ("{b} is {n} years older than {a}.", "{b} was born {n} years before {a}.")
                if years[1] < years[0]
                else ("{b} is {n} years younger than {a}.", "{b} was born {n} years after {a}.")
            )
            w.known.add((people[1], "born"))
            facts.append(
                cap(
                    rng.choice(rel_tpl).format(
                        a=people[0],
                        b=people[1],
                        n=NUM_WORDS[gap] if gap <= 20 and rng.random() < 0.5 else gap,
                    )
                )
            )
            facts.append(w.say("born", people[2], str(years[2])))
        else:
            facts = [w.say("born", p, str(y)) for p, y in zip(people, years, strict=True)]
        order = sorted(range(n), key=lambda i: years[i])
        if kind == "yesno_relative":
            i, j = rng.sample(range(3), 2)
            if (years[i] < years[j]) != w.want_yes:
                i, j = j, i
            question = rng.choice(YES_NO_AGE).format(a=people[i], b=people[j])
            answer = "yes" if years[i] < years[j] else "no"
        elif n == 2:
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Who is older, {a} or {b}?",
                        "Which of {a} and {b} was born first?",
                        "Between {a} and {b}, who is older?",
                        "Who was born earlier: {a} or {b}?",
                    )
                )
                answer = people[order[0]]
            else:
                question = rng.choice(
                    (
                        "Who is younger, {a} or {b}?",
                        "Which of {a} and {b} was born later?",
                        "Between {a} and {b}, who is the younger one?",
                    )
                )
                answer = people[order[-1]]
            question = question.format(a=people[0], b=people[1])
        else:
            names = rng.sample(people, 3)
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Who is the oldest of {a}, {b} and {c}?",
                        "Of {a}, {b} and {c}, who was born first?",
                    )
                )
                answer = people[order[0]]
            else:
                question = rng.choice(
                    (
                        "Who is the youngest of {a}, {b} and {c}?",
                        "Of {a}, {b} and {c}, who was born most recently?",
                    )
                )
                answer = people[order[-1]]
            question = question.format(a=names[0], b=names[1], c=names[2])
        return Target(question, answer, facts, people, "born")
    if kind in ("cheaper", "price_diff", "price_sum", "discount"):
        prods = [w.new("product") for _ in range(2)]
        prices = distinct_ints(rng, 8, 600, 2)
        if kind == "discount":
            base = rng.randint(40, 600)
            off = rng.randint(4, base // 2)
            now = base - off
            # the other price sits just around the discounted one, sometimes above the list price
            other = rng.choice(
                (rng.randint(now + 1, base - 1), rng.randint(max(5, now - 30), now - 1))
            )
            facts = [
                w.say(
                    "price",
                    prods[0],
                    str(base),
                    (
                        "The {a} normally costs {b} dollars, but it is {c} dollars off this week.",
                        "The {a} lists at {b} dollars; this week there is a {c}-dollar discount on it.",
                    ),
                    c=str(off),
                ),
                w.say("price", prods[1], str(other)),
            ]
            question = rng.choice(
                (
                    "Which is cheaper this week, the {a} or the {b}?",
                    "This week, which costs less: the {a} or the {b}?",
                )
            ).format(a=prods[0], b=prods[1])
            answer = prods[0] if now < other else prods[1]
            return Target(question, answer, facts, prods, "price")
        facts = [w.say("price", p, str(c)) for p, c in zip(prods, prices, strict=True)]
        hi_i = 0 if prices[0] > prices[1] else 1
        if kind == "cheaper":
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Which is cheaper, the {a} or the {b}?",
                        "Which costs less: the {a} or the {b}?",
                    )
                )
                answer = prods[1 - hi_i]
            else:
                question = rng.choice(
                    (
                        "Which costs more, the {a} or the {b}?",
                        "Which of the {a} and the {b} is more expensive?",
                    )
                )
                answer = prods[hi_i]
            question = question.format(a=prods[0], b=prods[1])
        elif kind == "price_diff":
            question = rng.choice(
                (
                    "How much more does the {a} cost than the {b}, in dollars?",
                    "How many dollars cheaper is the {b} than the {a}?",
                    "What is the price difference between the {a} and the {b} in dollars?",
                )
            )
            question = question.format(a=prods[hi_i], b=prods[1 - hi_i])
            answer = str(abs(prices[0] - prices[1]))
        else:
            question = rng.choice(
                (
                    "How much do the {a} and the {b} cost together, in dollars?",
                    "What is the combined price of the {a} and the {b} in dollars?",
                    "How many dollars would buying both the {a} and the {b} cost?",
                )
            )
            question = question.format(a=prods[0], b=prods[1])
            answer = str(sum(prices))
        return Target(question, answer, facts, prods, "price")
    if kind in ("founded_first", "founded_gap"):
        comps = [w.new("company") for _ in range(2)]
        years = distinct_ints(rng, 1890, 2021, 2)
        facts = [w.say("founded", c, str(y)) for c, y in zip(comps, years, strict=True)]
        first = 0 if years[0] < years[1] else 1
        if kind == "founded_first":
            question = rng.choice(
                (
                    "Which company is older, {a} or {b}?",
                    "Which was established first, {a} or {b}?",
                    "Of {a} and {b}, which company was founded earlier?",
                )
            )
            question = question.format(a=comps[0], b=comps[1])
            answer = comps[first]
        else:
            question = rng.choice(
                (
                    "How many years after {a} was {b} founded?",
                    "How many years separate the founding of {a} and {b}?",
                )
            )
            question = question.format(a=comps[first], b=comps[1 - first])
            answer = str(abs(years[0] - years[1]))
        return Target(question, answer, facts, comps, "founded")
    if kind in ("total", "total3_words"):
        n = 3 if kind == "total3_words" else 2
        people = [w.new("person") for _ in range(n)]
        thing = rng.choice(THINGS)
        counts = [rng.randint(1, 12) for _ in range(n)]
        words = kind == "total3_words" or (difficulty == "medium" and rng.random() < 0.5)
        facts = []
        for p, c in zip(people, counts, strict=True):
            w.known.add((p, "owns:" + thing))
            shown = NUM_WORDS[c] if words else str(c)
            facts.append(w.say("owns", p, f"{shown} {thing}"))
        if n == 2:
            question = rng.choice(
                (
                    "How many {t} do {a} and {b} have in total?",
                    "Together, how many {t} do {a} and {b} own?",
                    "What is the combined number of {t} owned by {a} and {b}?",
                )
            )
            question = question.format(t=thing, a=people[0], b=people[1])
        else:
            question = rng.choice(
                (
                    "How many {t} do {a}, {b} and {c} have altogether?",
                    "Counting {a}, {b} and {c}, how many {t} are there in total?",
                )
            )
            question = question.format(t=thing, a=people[0], b=people[1], c=people[2])
        return Target(question, str(sum(counts)), facts, people, "owns")
    if kind == "count_in_town":
        people = [w.new("person") for _ in range(3)]
        towns = [w.new("town") for _ in range(3)]
        k = rng.randint(1, 3)
        homes = [towns[0]] * k + [rng.choice(towns[1:]) for _ in range(3 - k)]
        rng.shuffle(homes)
        facts = [w.say("lives_in", p, t) for p, t in zip(people, homes, strict=True)]
        question = rng.choice(
            (
                "How many of {a}, {b} and {c} live in {t}?",
                "Of {a}, {b} and {c}, how many are residents of {t}?",
            )
        )
        question = question.format(a=people[0], b=people[1], c=people[2], t=towns[0])
        return Target(question, str(k), facts, people, "lives_in", {"lives_in"})
    if kind == "age_in_year":
        p = w.new("person")
        y = rng.randint(1941, 1990)
        later = y + rng.randint(8, 60)
        facts = [w.say("born", p, str(y))]
        question = rng.choice(
            (
                "How old did {a} turn in {y}?",
                "What age did {a} reach in {y}?",
                "In {y}, what birthday did {a} celebrate?",
            )
        )
        return Target(question.format(a=p, y=later), str(later - y), facts, [p], "born")
    if kind == "age_gap_words":
        people = [w.new("person") for _ in range(2)]
        years = distinct_ints(rng, 1941, 2004, 2)
        facts = [w.say("born", p, str(y)) for p, y in zip(people, years, strict=True)]
        question = rng.choice(
            (
                "How many years separate the births of {a} and {b}?",
                "How many years apart were {a} and {b} born?",
            )
        )
        return Target(
            question.format(a=people[0], b=people[1]),
            str(abs(years[0] - years[1])),
            facts,
            people,
            "born",
        )
    if kind == "emp_diff":
        comps = [w.new("company") for _ in range(2)]
        counts = distinct_ints(rng, 12, 2000, 2)
        facts = [w.say("employees", c, f"{n:,}") for c, n in zip(comps, counts, strict=True)]
        hi_i = 0 if counts[0] > counts[1] else 1
        question = rng.choice(
            (
                "How many more employees does {a} have than {b}?",
                "By how many people is {a}'s workforce larger than {b}'s?",
            )
        )
        return Target(
            question.format(a=comps[hi_i], b=comps[1 - hi_i]),
            str(abs(counts[0] - counts[1])),
            facts,
            comps,
            "employees",
        )
    if kind == "larger_town":
        towns = [w.new("town") for _ in range(2)]
        pops = [n * 10 for n in distinct_ints(rng, 80, 25000, 2)]
        facts = [w.say("population", t, f"{n:,}") for t, n in zip(towns, pops, strict=True)]
        big = 0 if pops[0] > pops[1] else 1
        if rng.random() < 0.5:
            question = rng.choice(
                ("Which town is larger, {a} or {b}?", "Which has more residents, {a} or {b}?")
            )
            answer = towns[big]
        else:
            question = rng.choice(
                ("Which town is smaller, {a} or {b}?", "Which has fewer residents, {a} or {b}?")
            )
            answer = towns[1 - big]
        return Target(question.format(a=towns[0], b=towns[1]), answer, facts, towns, "population")
    # yes/no comparisons, balanced
    want_yes = w.want_yes
    sub = rng.choice(("price", "age", "founded", "town", "employer"))
    if sub in ("price", "age", "founded"):
        kind_of = {"price": "product", "age": "person", "founded": "company"}[sub]
        rel = {"price": "price", "age": "born", "founded": "founded"}[sub]
        ents = [w.new(kind_of) for _ in range(2)]
        lo, hi = {"price": (8, 600), "age": (1941, 2004), "founded": (1890, 2021)}[sub]
        vals = distinct_ints(rng, lo, hi, 2)
        facts = [w.say(rel, e, str(v)) for e, v in zip(ents, vals, strict=True)]
        templates = {"price": YES_NO_PRICE, "age": YES_NO_AGE, "founded": YES_NO_FOUNDED}[sub]
        truth = vals[0] > vals[1] if sub == "price" else vals[0] < vals[1]
        if truth != want_yes:
            ents.reverse()
            truth = want_yes
        question = rng.choice(templates).format(a=ents[0], b=ents[1])
        return Target(question, "yes" if truth else "no", facts, ents, rel)
    rel = "lives_in" if sub == "town" else "works_at"
    people = [w.new("person") for _ in range(2)]
    place = w.value(rel)[0]
    second = place if want_yes else w.value(rel)[0]
    facts = [w.say(rel, people[0], place), w.say(rel, people[1], second)]
    question = rng.choice(YES_NO_TOWN if sub == "town" else YES_NO_EMPLOYER).format(
        a=people[0], b=people[1]
    )
    return Target(question, "yes" if want_yes else "no", facts, people, rel)


MULTIHOP_QUESTIONS: dict[str, tuple[str, ...]] = {
    "mgr2": (
        "Who is {a}'s manager's manager?",
        "Who does {a}'s manager report to?",
        "Who is the boss of {a}'s boss?",
        "Who manages the person {a} reports to?",
        "To whom does {a}'s manager report?",
    ),
    "mgr3": (
        "Who does the manager of {a}'s manager report to?",
        "Who is {a}'s manager's manager's manager?",
        "Going three levels up from {a}, who is the manager?",
    ),
    "emp_hq": (
        "In which town is {a}'s employer headquartered?",
        "Where is the company {a} works for based?",
        "Where is the head office of {a}'s employer?",
        "The company that employs {a} is based in which town?",
    ),
    "emp_hq_mayor": (
        "Who is the mayor of the town where {a}'s employer is headquartered?",
        "Who is mayor of the town that hosts the headquarters of {a}'s employer?",
    ),
    "emp_hq_population": (
        "What is the population of the town where {a}'s employer is based?",
        "How many people live in the town where the company {a} works for has its headquarters?",
    ),
    "maker_founder": (
        "Who founded the company that makes the {a}?",
        "Who is the founder of the {a}'s manufacturer?",
        "The maker of the {a} was founded by whom?",
    ),
    "maker_founder_born": (
        "In what year was the founder of the {a}'s manufacturer born?",
        "When was the person who founded the maker of the {a} born?",
    ),
    "maker_founder_town": (
        "Where does the founder of the company that makes the {a} live?",
        "In which town does the person who founded the {a}'s maker live?",
    ),
    "founder_born": (
        "In what year was the founder of {a} born?",
        "When was {a}'s founder born?",
        "The person who founded {a} was born in which year?",
    ),
    "sibling_town": (
        "Where does {a}'s sibling live?",
        "In which town does {a}'s sibling live?",
        "{a}'s sibling lives in which town?",
    ),
    "sibling_town_mayor": (
        "Who is the mayor of the town where {a}'s sibling lives?",
        "Who serves as mayor of the town {a}'s sibling lives in?",
    ),
    "emp_founded": (
        "In what year was {a}'s employer founded?",
        "When was the company {a} works for established?",
        "The company that employs {a} was founded in which year?",
    ),
    "dog_employer": (
        "Which company employs the owner of the dog named {a}?",
        "Where does the owner of {a} the dog work?",
        "Who employs the person whose dog is called {a}?",
    ),
    "dog_employer_hq": (
        "In which town is the employer of {a}'s owner headquartered?",
        "The owner of the dog {a} works for a company based in which town?",
    ),
    "mgr_town": (
        "Where does {a}'s manager live?",
        "In which town does {a}'s manager live?",
        "{a}'s manager lives in which town?",
    ),
}
MULTIHOP_TWO = (
    "mgr2",
    "emp_hq",
    "maker_founder",
    "founder_born",
    "sibling_town",
    "emp_founded",
    "dog_employer",
    "mgr_town",
)
MULTIHOP_THREE = (
    "mgr3",
    "emp_hq_mayor",
    "emp_hq_population",
    "maker_founder_born",
    "maker_founder_town",
    "sibling_town_mayor",
    "dog_employer_hq",
)


def qa_multihop(w: World, difficulty: str) -> Target:
    rng = w.rng
    three = difficulty == "hard" and rng.random() < 0.75
    kind = rng.choice(MULTIHOP_THREE if three else MULTIHOP_TWO)
    confuse = difficulty != "easy" and rng.random() < 0.7
    conf: list[str] = []
    facts: list[str] = []

    def add(rel: str, a: str, b: str) -> None:
        facts.append(w.say(rel, a, b))

    def confuser(rel: str, a: str) -> str:
        shown, answer = w.value(rel)
        if confuse and w.can(a, rel):
            conf.append(w.say(rel, a, shown))
        return answer

    if kind in ("mgr2", "mgr3"):
        chain = [w.new("person") for _ in range(4 if kind == "mgr3" else 3)]
        for a, b in itertools.pairwise(chain):
            add("reports_to", a, b)
        if confuse:  # one level too far up
            conf.append(w.say("reports_to", chain[-1], w.new("person")))
        subject, answer, focus = chain[0], chain[-1], chain
    elif kind.startswith("emp_") or kind == "mgr_town":
        subject = w.new("person")
        if kind == "mgr_town":
            boss, town = w.new("person"), w.new("town")
            add("reports_to", subject, boss)
            add("lives_in", boss, town)
            confuser("lives_in", subject)
            answer, focus = town, [subject, boss]
        else:
            company = w.new("company")
            add("works_at", subject, company)
            focus = [subject, company]
            if kind == "emp_founded":
                year = str(rng.randint(1890, 2021))
                add("founded", company, year)
                confuser("born", subject)
                answer = year
            else:
                town = w.new("town")
                add("hq", company, town)
                focus.append(town)
                answer = town
                other = confuser("lives_in", subject)
                if kind == "emp_hq_mayor":
                    mayor = w.new("person")
                    add("mayor", town, mayor)
                    answer = mayor
                    if conf:
                        confuser("mayor", other)
                elif kind == "emp_hq_population":
                    shown, answer = w.value("population")
                    add("population", town, shown)
                    if conf:
                        confuser("population", other)
    elif kind.startswith("maker_") or kind == "founder_born":
        company, founder = w.new("company"), w.new("person")
        focus = [company, founder]
        subject = company
        if kind != "founder_born":
            subject = w.new("product")
            add("maker", subject, company)
            focus.append(subject)
        add("founder", company, founder)
        answer = founder
        if kind in ("maker_founder_born", "founder_born"):
            year = str(rng.randint(1941, 1995))
            add("born", founder, year)
            answer = year
            confuser("founded", company)
        elif kind == "maker_founder_town":
            town = w.new("town")
            add("lives_in", founder, town)
            answer = town
            confuser("hq", company)
        elif confuse:
            conf.append(w.say("works_at", w.new("person"), company))
    elif kind.startswith("sibling"):
        subject, sib, town = w.new("person"), w.new("person"), w.new("town")
        add("sibling", subject, sib)
        add("lives_in", sib, town)
        other = confuser("lives_in", subject)
        answer, focus = town, [subject, sib]
        if kind == "sibling_town_mayor":
            mayor = w.new("person")
            add("mayor", town, mayor)
            answer = mayor
            if conf:
                confuser("mayor", other)
    elif kind.startswith("dog_"):
        owner, company = w.new("person"), w.new("company")
        subject = w.new("dog")
        add("pet", owner, subject)
        add("works_at", owner, company)
        answer, focus = company, [owner, company]
        if kind == "dog_employer_hq":
            town = w.new("town")
            add("hq", company, town)
            answer = town
            confuser("lives_in", owner)
        elif confuse:
            other = w.new("person")
            conf.append(w.say("pet", other, w.new("dog")))
            conf.append(w.say("works_at", other, w.value("works_at")[0]))
    else:
        raise ValueError(kind)
    question = rng.choice(MULTIHOP_QUESTIONS[kind]).format(a=subject)
    return Target(question, answer, facts, focus, None, set(), conf)


QA_BUILDERS: dict[str, Callable[[World, str], Target]] = {
    "factual": qa_factual,
    "reasoning": qa_reasoning,
    "multi-hop": qa_multihop,
}


def qa_record(
    rng: Rng, qtype: str, difficulty: str, want_yes: bool = True
) -> tuple[str, str, str, list[str]]:
    w = World(rng, want_yes)
    target = QA_BUILDERS[qtype](w, difficulty)
    sentences = [*target.facts, *target.confusers]
    lo, hi = SENTENCE_RANGE[difficulty]
    total = rng.randint(max(lo, len(sentences)), max(hi, len(sentences)))
    lead = total > len(sentences) + 1 and rng.random() < 0.2
    while len(sentences) + lead < total:
        extra = w.filler(target.focus, target.prefer, target.blocked)
        if extra is None or extra in sentences:
            break
        sentences.append(extra)
    rng.shuffle(sentences)
    if lead:
        sentences.insert(0, rng.choice(LEADS))
    return target.question, " ".join(sentences), target.answer, target.facts


# --------------------------------------------------------------------------------------------
# Splits and files
# --------------------------------------------------------------------------------------------


def unique_draw(seen: set[str], keys: Callable[[], tuple[str, Any]], what: str) -> Any:
    for _ in range(200):
        key, payload = keys()
        if key not in seen:
            seen.add(key)
            return payload
    raise RuntimeError(f"could not draw a fresh {what} prompt")


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


def qa_split(rng: Rng, split: str, n: int, seen: set[str]) -> list[dict[str, Any]]:
    difficulties = difficulty_plan(rng, n)
    qtypes = balanced_plan(rng, n, QA_TYPES)
    records = []
    answers = {"yes": 0, "no": 0}  # yes/no questions alternate, so the two stay balanced
    for i, (difficulty, qtype) in enumerate(zip(difficulties, qtypes, strict=True), start=1):
        want_yes = answers["yes"] <= answers["no"]

        def draw(
            qtype: str = qtype, difficulty: str = difficulty, want_yes: bool = want_yes
        ) -> tuple[str, Any]:
            question, context, answer, facts = qa_record(rng, qtype, difficulty, want_yes)
            return norm_prompt(question + " || " + context), (question, context, answer, facts)

        question, context, answer, facts = unique_draw(seen, draw, "qa")
        if answer in answers:
            answers[answer] += 1
        records.append(
            {
                "id": f"qa-{split}-{i:04d}",
                "question": question,
                "context": context,
                "expected_answer": answer,
                "reference_facts": facts,
                "slice": [qtype, difficulty],
                "difficulty": difficulty,
            }
        )
    return records


SplitBuilder = Callable[[Rng, str, int, set[str]], list[dict[str, Any]]]
TASKS: dict[str, SplitBuilder] = {"json_extraction": json_split, "qa": qa_split}


def build(seed: int = DEFAULT_SEED) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """All records, by task then split; the same seed always gives the same records."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task, builder in TASKS.items():
        rng = random.Random(f"{seed}:{task}")
        seen: set[str] = set()
        out[task] = {split: builder(rng, split, n, seen) for split, n in SPLITS}
    return out


def dump_jsonl(records: Sequence[dict[str, Any]]) -> bytes:
    lines = [json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n" for r in records]
    return "".join(lines).encode("ascii")


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every split file under ``out_dir``; return the paths written."""
    written = []
    for task, splits in build(seed).items():
        folder = out_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, records in splits.items():
            path = folder / f"{split}.jsonl"
            path.write_bytes(dump_jsonl(records))
            written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# Extra training data: fresh samples from the same distribution, kept apart from the shipped
# evaluation splits
# --------------------------------------------------------------------------------------------

EXTRA_CHUNK = 5000  # samples per seeded chunk: the output does not depend on --jobs
NGRAM = 8  # as pytest_llmeval.contamination: word 8-grams of the prompt the model sees
_WORD = re.compile(r"\w+")


def prompt_view(task: str, record: dict[str, Any]) -> str:
    """The user message the eval prompt shows for ``record`` (the task templates of
    ``pytest_llmeval/tasks.py``); only its words matter here."""
    if task == "json_extraction":
        return f"JSON Schema:\n{json.dumps(record['schema'])}\n\nText:\n{record['input']}"
    return f"Context:\n{record['context']}\n\nQuestion: {record['question']}"


def prompt_key(task: str, record: dict[str, Any]) -> str:
    """The key the split builders deduplicate prompts by."""
    if task == "json_extraction":
        return norm_prompt(record["input"])
    return norm_prompt(record["question"] + " || " + record["context"])


def word_grams(text: str, n: int = NGRAM) -> set[str]:
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _extra_chunk(
    job: tuple[str, int, int, int, frozenset[str], frozenset[str]],
) -> list[tuple[bytes, str, frozenset[str]]]:
    """One seeded chunk of ``task`` records, none with an excluded prompt key: each as its
    JSON line (id ``je-train-0010042`` for record 42 of chunk 1), its key, and the
    excluded-prompt n-grams its own prompt contains."""
    task, seed, index, n, keys, grams = job
    rng = random.Random(f"{seed}:{task}:extra:{index}")
    records = TASKS[task](rng, "train", n, set(keys))
    prefix = "je" if task == "json_extraction" else "qa"
    out = []
    for i, r in enumerate(records):
        r["id"] = f"{prefix}-train-{index * EXTRA_CHUNK + i:07d}"
        line = dump_jsonl([r])
        out.append((line, prompt_key(task, r), frozenset(word_grams(prompt_view(task, r)) & grams)))
    return out


def extra_train(
    out_dir: Path,
    counts: dict[str, int],
    seed: int,
    exclude_dir: Path,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write ``out_dir/<task>/train.jsonl``: up to ``counts[task]`` fresh records drawn with
    ``seed``, in chunks of ``EXTRA_CHUNK`` (one process each, ``jobs`` at a time).

    Kept apart from ``exclude_dir/<task>/{test,validation}.jsonl`` as the finetune module's
    contamination check (``pytest_llmeval/contamination.py``) measures it, split by split:

    - no record has the prompt of an excluded one (the builders' own normalized key);
    - the share of an excluded prompt's word 8-grams that also occur in the records stays at
      most ``OVERLAP`` (the check flags above 0.5), counting as that check does: n-grams in
      more than ``max(3, 0.2%)`` of all prompts are template boilerplate and left out. Where
      a prompt's share is higher, the records holding its rarest shared n-grams are dropped,
      until no prompt's is.

    Record ``i`` of chunk ``c`` has the id ``je-train-{c * EXTRA_CHUNK + i:07d}`` (or ``qa-``).
    """
    import multiprocessing

    written = []
    for task, n in counts.items():
        splits: dict[str, list[set[str]]] = {}
        keys: set[str] = set()
        for split in ("test", "validation"):
            path = exclude_dir / task / f"{split}.jsonl"
            if path.is_file():
                excluded = [json.loads(line) for line in path.read_text().splitlines() if line]
                keys.update(prompt_key(task, r) for r in excluded)
                splits[split] = [word_grams(prompt_view(task, r)) for r in excluded]
        grams = frozenset().union(*(g for prompts in splits.values() for g in prompts))
        sizes = [min(EXTRA_CHUNK, n - i) for i in range(0, n, EXTRA_CHUNK)]
        chunks = [(task, seed, i, size, frozenset(keys), grams) for i, size in enumerate(sizes)]
        if jobs > 1 and len(chunks) > 1:
            with multiprocessing.get_context("fork").Pool(min(jobs, len(chunks))) as pool:
                parts = pool.map(_extra_chunk, chunks, chunksize=1)
        else:
            parts = [_extra_chunk(c) for c in chunks]
        records: list[tuple[bytes, frozenset[str]]] = []
        seen: set[str] = set()
        for part in parts:  # a prompt drawn in two chunks is kept once
            for line, key, shared in part:
                if key not in seen:
                    seen.add(key)
                    records.append((line, shared))
        repeated = n - len(records)
        records, dropped = _separate(records, splits)
        folder = out_dir / task
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "train.jsonl"
        path.write_bytes(b"".join(line for line, _ in records))
        written.append(path)
        log(
            f"{path}: {len(records)} records (seed {seed}; {n} drawn, {repeated} repeated a prompt "
            f"of another chunk, {dropped} dropped for 8-gram overlap with "
            f"{' and '.join(f'{len(v)} {k}' for k, v in splits.items())} prompts)"
        )
    return written


OVERLAP = 0.3  # the most of an excluded prompt's non-boilerplate 8-grams the records may hold


def _separate(
    records: list[tuple[bytes, frozenset[str]]], splits: dict[str, list[set[str]]]
) -> tuple[list[tuple[bytes, frozenset[str]]], int]:
    """Drop records until every excluded prompt's overlap share is at most ``OVERLAP``."""
    df: dict[str, int] = {}
    for _, shared in records:
        for g in shared:
            df[g] = df.get(g, 0) + 1
    dropped = 0
    while True:
        banned: set[str] = set()
        for prompts in splits.values():
            in_split: dict[str, int] = {}
            for grams in prompts:
                for g in grams:
                    in_split[g] = in_split.get(g, 0) + 1
            limit = max(3, 0.002 * (len(records) + len(prompts)))
            for grams in prompts:
                rare = [g for g in grams if df.get(g, 0) + in_split[g] <= limit]
                shared = sorted((g for g in rare if df.get(g, 0)), key=lambda g: (df[g], g))
                excess = len(shared) - int(OVERLAP * len(rare))
                banned.update(shared[: max(0, excess)])
        if not banned:
            return records, dropped
        kept = []
        for record, shared in records:
            if shared & banned:
                dropped += 1
                for g in shared:
                    df[g] -= 1
            else:
                kept.append((record, shared))
        records = kept


def parse_counts(text: str) -> dict[str, int]:
    """``N`` (each task) or ``json_extraction=N,qa=M``."""
    if text.isdigit():
        return {task: int(text) for task in TASKS}
    counts = {}
    for part in text.split(","):
        task, _, n = part.partition("=")
        if task.strip() not in TASKS or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected N or TASK=N,...; got {part!r}")
        counts[task.strip()] = int(n)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output directory (default: the data/ folder this script is in)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--extra-train",
        type=parse_counts,
        metavar="N|TASK=N,...",
        help="write only fresh training records (OUT/<task>/train.jsonl), kept apart from "
        "the evaluation splits in --exclude; use another --out than data/",
    )
    parser.add_argument(
        "--exclude",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="with --extra-train: the folder whose test and validation splits no record may "
        "overlap (default: the data/ folder this script is in)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="with --extra-train: processes to draw chunks in"
    )
    args = parser.parse_args(argv)
    if args.extra_train is not None:
        if args.out.resolve() == Path(__file__).resolve().parent:
            parser.error("--extra-train writes train.jsonl files: give another --out than data/")
        extra_train(args.out, args.extra_train, args.seed, args.exclude, max(1, args.jobs))
        return 0
    for path in generate(args.out, args.seed):
        lines = path.read_bytes().count(b"\n")
        print(f"{path}: {lines} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
