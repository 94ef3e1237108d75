"""Writing a ``json_extraction`` record's fields as text.

Layouts (prose, key/value lines, bullets, a signature block, a chat transcript, or key/value
then prose) and the value-free padding between fields: chatter per domain and voice, generic
fluff, and noise lines such as ``Status: open``.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.draw import Rng, cap
from generator.json_extraction.fields import Field, Shell, Templates, plain_item

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
