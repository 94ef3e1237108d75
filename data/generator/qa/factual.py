"""``factual`` questions: the answer is stated in the context.

Hard ones may state a fact that changed over time ("moved from X to Y in 2019") and ask
for its value now.
"""

from __future__ import annotations

from generator.qa.world import SUBJECT_KIND, Target, World

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
