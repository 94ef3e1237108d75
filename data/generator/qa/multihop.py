"""``multi-hop`` questions: chain two or three facts.

A manager's manager, the mayor of the town where someone's employer is based, the founder
of a product's maker and so on. Hard ones may chain three facts; medium and hard ones
mostly add near-miss confusers (a manager one level too far up, another person's pet).
"""

from __future__ import annotations

import itertools

from generator.qa.world import Target, World

MULTIHOP_QUESTIONS: dict[str, tuple[str, ...]] = {
    "mgr2": (
        "Who is {a}'s manager's manager?",
        "Who does {a}'s manager report to?",
        "Who is the boss of {a}'s boss?",
        "Who manages the person {a} reports to?",
        "To whom does {a}'s manager report?",
    ),
    "mgr3": (
        "Who does the manager of {a}'s manager report to?",
        "Who is {a}'s manager's manager's manager?",
        "Going three levels up from {a}, who is the manager?",
    ),
    "emp_hq": (
        "In which town is {a}'s employer headquartered?",
        "Where is the company {a} works for based?",
        "Where is the head office of {a}'s employer?",
        "The company that employs {a} is based in which town?",
    ),
    "emp_hq_mayor": (
        "Who is the mayor of the town where {a}'s employer is headquartered?",
        "Who is mayor of the town that hosts the headquarters of {a}'s employer?",
    ),
    "emp_hq_population": (
        "What is the population of the town where {a}'s employer is based?",
        "How many people live in the town where the company {a} works for has its headquarters?",
    ),
    "maker_founder": (
        "Who founded the company that makes the {a}?",
        "Who is the founder of the {a}'s manufacturer?",
        "The maker of the {a} was founded by whom?",
    ),
    "maker_founder_born": (
        "In what year was the founder of the {a}'s manufacturer born?",
        "When was the person who founded the maker of the {a} born?",
    ),
    "maker_founder_town": (
        "Where does the founder of the company that makes the {a} live?",
        "In which town does the person who founded the {a}'s maker live?",
    ),
    "founder_born": (
        "In what year was the founder of {a} born?",
        "When was {a}'s founder born?",
        "The person who founded {a} was born in which year?",
    ),
    "sibling_town": (
        "Where does {a}'s sibling live?",
        "In which town does {a}'s sibling live?",
        "{a}'s sibling lives in which town?",
    ),
    "sibling_town_mayor": (
        "Who is the mayor of the town where {a}'s sibling lives?",
        "Who serves as mayor of the town {a}'s sibling lives in?",
    ),
    "emp_founded": (
        "In what year was {a}'s employer founded?",
        "When was the company {a} works for established?",
        "The company that employs {a} was founded in which year?",
    ),
    "dog_employer": (
        "Which company employs the owner of the dog named {a}?",
        "Where does the owner of {a} the dog work?",
        "Who employs the person whose dog is called {a}?",
    ),
    "dog_employer_hq": (
        "In which town is the employer of {a}'s owner headquartered?",
        "The owner of the dog {a} works for a company based in which town?",
    ),
    "mgr_town": (
        "Where does {a}'s manager live?",
        "In which town does {a}'s manager live?",
        "{a}'s manager lives in which town?",
    ),
}
MULTIHOP_TWO = (
    "mgr2",
    "emp_hq",
    "maker_founder",
    "founder_born",
    "sibling_town",
    "emp_founded",
    "dog_employer",
    "mgr_town",
)
MULTIHOP_THREE = (
    "mgr3",
    "emp_hq_mayor",
    "emp_hq_population",
    "maker_founder_born",
    "maker_founder_town",
    "sibling_town_mayor",
    "dog_employer_hq",
)


def qa_multihop(w: World, difficulty: str) -> Target:
    rng = w.rng
    three = difficulty == "hard" and rng.random() < 0.75
    kind = rng.choice(MULTIHOP_THREE if three else MULTIHOP_TWO)
    confuse = difficulty != "easy" and rng.random() < 0.7
    conf: list[str] = []
    facts: list[str] = []

    def add(rel: str, a: str, b: str) -> None:
        facts.append(w.say(rel, a, b))

    def confuser(rel: str, a: str) -> str:
        shown, answer = w.value(rel)
        if confuse and w.can(a, rel):
            conf.append(w.say(rel, a, shown))
        return answer

    if kind in ("mgr2", "mgr3"):
        chain = [w.new("person") for _ in range(4 if kind == "mgr3" else 3)]
        for a, b in itertools.pairwise(chain):
            add("reports_to", a, b)
        if confuse:  # one level too far up
            conf.append(w.say("reports_to", chain[-1], w.new("person")))
        subject, answer, focus = chain[0], chain[-1], chain
    elif kind.startswith("emp_") or kind == "mgr_town":
        subject = w.new("person")
        if kind == "mgr_town":
            boss, town = w.new("person"), w.new("town")
            add("reports_to", subject, boss)
            add("lives_in", boss, town)
            confuser("lives_in", subject)
            answer, focus = town, [subject, boss]
        else:
            company = w.new("company")
            add("works_at", subject, company)
            focus = [subject, company]
            if kind == "emp_founded":
                year = str(rng.randint(1890, 2021))
                add("founded", company, year)
                confuser("born", subject)
                answer = year
            else:
                town = w.new("town")
                add("hq", company, town)
                focus.append(town)
                answer = town
                other = confuser("lives_in", subject)
                if kind == "emp_hq_mayor":
                    mayor = w.new("person")
                    add("mayor", town, mayor)
                    answer = mayor
                    if conf:
                        confuser("mayor", other)
                elif kind == "emp_hq_population":
                    shown, answer = w.value("population")
                    add("population", town, shown)
                    if conf:
                        confuser("population", other)
    elif kind.startswith("maker_") or kind == "founder_born":
        company, founder = w.new("company"), w.new("person")
        focus = [company, founder]
        subject = company
        if kind != "founder_born":
            subject = w.new("product")
            add("maker", subject, company)
            focus.append(subject)
        add("founder", company, founder)
        answer = founder
        if kind in ("maker_founder_born", "founder_born"):
            year = str(rng.randint(1941, 1995))
            add("born", founder, year)
            answer = year
            confuser("founded", company)
        elif kind == "maker_founder_town":
            town = w.new("town")
            add("lives_in", founder, town)
            answer = town
            confuser("hq", company)
        elif confuse:
            conf.append(w.say("works_at", w.new("person"), company))
    elif kind.startswith("sibling"):
        subject, sib, town = w.new("person"), w.new("person"), w.new("town")
        add("sibling", subject, sib)
        add("lives_in", sib, town)
        other = confuser("lives_in", subject)
        answer, focus = town, [subject, sib]
        if kind == "sibling_town_mayor":
            mayor = w.new("person")
            add("mayor", town, mayor)
            answer = mayor
            if conf:
                confuser("mayor", other)
    elif kind.startswith("dog_"):
        owner, company = w.new("person"), w.new("company")
        subject = w.new("dog")
        add("pet", owner, subject)
        add("works_at", owner, company)
        answer, focus = company, [owner, company]
        if kind == "dog_employer_hq":
            town = w.new("town")
            add("hq", company, town)
            answer = town
            confuser("lives_in", owner)
        elif confuse:
            other = w.new("person")
            conf.append(w.say("pet", other, w.new("dog")))
            conf.append(w.say("works_at", other, w.value("works_at")[0]))
    else:
        raise ValueError(kind)
    question = rng.choice(MULTIHOP_QUESTIONS[kind]).format(a=subject)
    return Target(question, answer, facts, focus, None, set(), conf)
