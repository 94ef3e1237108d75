"""Support records (``SupportTicket``): helpdesk tickets, customers' and agents' emails
and support chats, with refund requests.

``dom_support`` draws the fields, distractors and context of one record for a difficulty; the
templates (``T_SUPPORT``) and shells (``SHELLS_SUPPORT``) say how each value, and the document
around them, may be written.
"""

from __future__ import annotations

from generator.draw import Rng, code, email_domain, invented_word, make_email, person
from generator.json_extraction.fields import (
    Field,
    Shell,
    Spec,
    Templates,
    base_ctx,
    bool_field,
    plain_item,
)
from generator.words import DEVICE_NOUNS

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
