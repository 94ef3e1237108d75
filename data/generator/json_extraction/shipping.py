"""Shipping records (``ShipmentNotice``): dispatch emails and carrier updates, packing
slips and label scans, warehouse logs and courier chats, with signature notes.

``dom_shipping`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_SHIPPING``) and shells (``SHELLS_SHIPPING``) say how each value, and the document
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
from generator.words import CARRIER_SUFFIXES, DELIVERY_NOTES

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
