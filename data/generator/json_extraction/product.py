"""Product records (``ProductListing``): store listings, catalogue entries and spec
sheets, marketplace questions and deal posts, with stock notes.

``dom_product`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_PRODUCT``) and shells (``SHELLS_PRODUCT``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

from generator.draw import Rng, invented_word, money_text
from generator.json_extraction.fields import (
    Field,
    Shell,
    Spec,
    Templates,
    base_ctx,
    bool_field,
    plain_item,
)
from generator.words import COLORS, MODEL_SUFFIXES, MODEL_WORDS, NUM_WORDS, PRODUCT_NOUNS

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
