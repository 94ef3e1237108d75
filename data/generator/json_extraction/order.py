"""Order records (``OrderSummary``): confirmations and receipts, customer complaints,
warehouse notes, live chats and SMS, with express shipping and gift options.

``dom_order`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_ORDER``) and shells (``SHELLS_ORDER``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

import datetime as dt

from generator.draw import (
    Rng,
    code,
    count_text,
    date_text,
    email_domain,
    invented_word,
    make_email,
    money_text,
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
from generator.words import PRODUCT_NOUNS, SHOP_SUFFIXES

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
