"""Event records (``EventInvite``): calendar invitations, team emails, community-board
flyers, team chats and meeting notes, with catering.

``dom_event`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_EVENT``) and shells (``SHELLS_EVENT``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

import datetime as dt

from generator.draw import (
    Rng,
    count_text,
    date_text,
    email_domain,
    invented_town,
    invented_word,
    make_email,
    person,
    rand_date,
    time_text,
)
from generator.json_extraction.fields import (
    Field,
    Shell,
    Spec,
    Templates,
    base_ctx,
    bool_field,
    plain_item,
)
from generator.words import EVENT_HEADS, EVENT_TAILS, NUM_WORDS

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
