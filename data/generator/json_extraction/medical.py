"""Medical records (``ClinicAppointment``): appointment reminders, front-desk notes,
patients' own emails and phone-booking transcripts, with new-patient and fasting notes.

``dom_medical`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_MEDICAL``) and shells (``SHELLS_MEDICAL``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

import datetime as dt

from generator.draw import Rng, code, date_text, invented_town, person, rand_date, time_text
from generator.json_extraction.fields import (
    Field,
    Shell,
    Spec,
    Templates,
    base_ctx,
    bool_field,
    plain_item,
)
from generator.words import CLINIC_SUFFIXES, FIRST_NAMES, VISIT_REASONS

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
