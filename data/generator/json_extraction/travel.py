"""Travel records (``FlightBooking``): e-tickets and booking confirmations, forwarded
flight details, trip notes, airline chats and flight alerts.

``dom_travel`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_TRAVEL``) and shells (``SHELLS_TRAVEL``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

import datetime as dt

from generator.draw import (
    Rng,
    code,
    count_text,
    date_text,
    invented_town,
    invented_word,
    person,
    rand_date,
    time_text,
)
from generator.json_extraction.fields import Field, Shell, Spec, Templates, base_ctx, plain_item
from generator.words import AIRLINE_SUFFIXES

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
