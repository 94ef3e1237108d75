"""Contact records (``ContactCard``): introduction emails, follow-ups, CRM notes, scanned
business cards, chat transcripts and voicemails.

``dom_contact`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_CONTACT``) and shells (``SHELLS_CONTACT``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

from generator.draw import (
    Rng,
    count_text,
    email_domain,
    invented_company,
    invented_town,
    invented_word,
    make_email,
    make_phone,
    person,
)
from generator.json_extraction.fields import Field, Shell, Spec, Templates, base_ctx, plain_item
from generator.words import COMPANY_SUFFIXES, JOB_TITLES

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
