"""``reasoning`` questions: compare or compute from the context.

Who is older, which product is cheaper after a discount, sums, differences, ages and counts,
and yes/no comparisons whose answer follows ``World.want_yes`` so yes and no stay balanced.
"""

from __future__ import annotations

from generator.draw import Rng, cap
from generator.qa.world import Target, World
from generator.words import NUM_WORDS, THINGS

YES_NO_PRICE = ("Does the {a} cost more than the {b}?", "Is the {a} more expensive than the {b}?")
YES_NO_AGE = ("Is {a} older than {b}?", "Was {a} born before {b}?")
YES_NO_FOUNDED = ("Was {a} founded before {b}?", "Is {a} older than {b}?")
YES_NO_TOWN = (
    "Do {a} and {b} live in the same town?",
    "Are {a} and {b} neighbours in the same town?",
)
YES_NO_EMPLOYER = (
    "Do {a} and {b} work for the same company?",
    "Are {a} and {b} colleagues at the same company?",
)


def distinct_ints(rng: Rng, lo: int, hi: int, k: int) -> list[int]:
    return rng.sample(range(lo, hi + 1), k)


def qa_reasoning(w: World, difficulty: str) -> Target:
    rng = w.rng
    kinds = {
        "easy": ("older", "cheaper", "founded_first", "total", "yesno", "larger_town"),
        "medium": (
            "oldest3",
            "price_diff",
            "price_sum",
            "founded_gap",
            "age_in_year",
            "yesno",
            "emp_diff",
            "total",
        ),
        "hard": (
            "relative_age",
            "total3_words",
            "count_in_town",
            "discount",
            "yesno_relative",
            "age_gap_words",
        ),
    }[difficulty]
    kind = rng.choice(kinds)
    if kind in ("older", "oldest3", "relative_age", "yesno_relative"):
        n = 2 if kind == "older" else 3
        people = [w.new("person") for _ in range(n)]
        years = distinct_ints(rng, 1941, 2004, n)
        facts = []
        if kind in ("relative_age", "yesno_relative"):
            gap = rng.randint(2, 15)
            years[1] = years[0] + rng.choice((-gap, gap))
            while years[2] in (years[0], years[1]):
                years[2] = rng.randint(1941, 2004)
            facts.append(w.say("born", people[0], str(years[0])))
            rel_tpl = (
                ("{b} is {n} years older than {a}.", "{b} was born {n} years before {a}.")
                if years[1] < years[0]
                else ("{b} is {n} years younger than {a}.", "{b} was born {n} years after {a}.")
            )
            w.known.add((people[1], "born"))
            facts.append(
                cap(
                    rng.choice(rel_tpl).format(
                        a=people[0],
                        b=people[1],
                        n=NUM_WORDS[gap] if gap <= 20 and rng.random() < 0.5 else gap,
                    )
                )
            )
            facts.append(w.say("born", people[2], str(years[2])))
        else:
            facts = [w.say("born", p, str(y)) for p, y in zip(people, years, strict=True)]
        order = sorted(range(n), key=lambda i: years[i])
        if kind == "yesno_relative":
            i, j = rng.sample(range(3), 2)
            if (years[i] < years[j]) != w.want_yes:
                i, j = j, i
            question = rng.choice(YES_NO_AGE).format(a=people[i], b=people[j])
            answer = "yes" if years[i] < years[j] else "no"
        elif n == 2:
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Who is older, {a} or {b}?",
                        "Which of {a} and {b} was born first?",
                        "Between {a} and {b}, who is older?",
                        "Who was born earlier: {a} or {b}?",
                    )
                )
                answer = people[order[0]]
            else:
                question = rng.choice(
                    (
                        "Who is younger, {a} or {b}?",
                        "Which of {a} and {b} was born later?",
                        "Between {a} and {b}, who is the younger one?",
                    )
                )
                answer = people[order[-1]]
            question = question.format(a=people[0], b=people[1])
        else:
            names = rng.sample(people, 3)
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Who is the oldest of {a}, {b} and {c}?",
                        "Of {a}, {b} and {c}, who was born first?",
                    )
                )
                answer = people[order[0]]
            else:
                question = rng.choice(
                    (
                        "Who is the youngest of {a}, {b} and {c}?",
                        "Of {a}, {b} and {c}, who was born most recently?",
                    )
                )
                answer = people[order[-1]]
            question = question.format(a=names[0], b=names[1], c=names[2])
        return Target(question, answer, facts, people, "born")
    if kind in ("cheaper", "price_diff", "price_sum", "discount"):
        prods = [w.new("product") for _ in range(2)]
        prices = distinct_ints(rng, 8, 600, 2)
        if kind == "discount":
            base = rng.randint(40, 600)
            off = rng.randint(4, base // 2)
            now = base - off
            # the other price sits just around the discounted one, sometimes above the list price
            other = rng.choice(
                (rng.randint(now + 1, base - 1), rng.randint(max(5, now - 30), now - 1))
            )
            facts = [
                w.say(
                    "price",
                    prods[0],
                    str(base),
                    (
                        "The {a} normally costs {b} dollars, but it is {c} dollars off this week.",
                        "The {a} lists at {b} dollars; this week there is a {c}-dollar discount on it.",
                    ),
                    c=str(off),
                ),
                w.say("price", prods[1], str(other)),
            ]
            question = rng.choice(
                (
                    "Which is cheaper this week, the {a} or the {b}?",
                    "This week, which costs less: the {a} or the {b}?",
                )
            ).format(a=prods[0], b=prods[1])
            answer = prods[0] if now < other else prods[1]
            return Target(question, answer, facts, prods, "price")
        facts = [w.say("price", p, str(c)) for p, c in zip(prods, prices, strict=True)]
        hi_i = 0 if prices[0] > prices[1] else 1
        if kind == "cheaper":
            if rng.random() < 0.5:
                question = rng.choice(
                    (
                        "Which is cheaper, the {a} or the {b}?",
                        "Which costs less: the {a} or the {b}?",
                    )
                )
                answer = prods[1 - hi_i]
            else:
                question = rng.choice(
                    (
                        "Which costs more, the {a} or the {b}?",
                        "Which of the {a} and the {b} is more expensive?",
                    )
                )
                answer = prods[hi_i]
            question = question.format(a=prods[0], b=prods[1])
        elif kind == "price_diff":
            question = rng.choice(
                (
                    "How much more does the {a} cost than the {b}, in dollars?",
                    "How many dollars cheaper is the {b} than the {a}?",
                    "What is the price difference between the {a} and the {b} in dollars?",
                )
            )
            question = question.format(a=prods[hi_i], b=prods[1 - hi_i])
            answer = str(abs(prices[0] - prices[1]))
        else:
            question = rng.choice(
                (
                    "How much do the {a} and the {b} cost together, in dollars?",
                    "What is the combined price of the {a} and the {b} in dollars?",
                    "How many dollars would buying both the {a} and the {b} cost?",
                )
            )
            question = question.format(a=prods[0], b=prods[1])
            answer = str(sum(prices))
        return Target(question, answer, facts, prods, "price")
    if kind in ("founded_first", "founded_gap"):
        comps = [w.new("company") for _ in range(2)]
        years = distinct_ints(rng, 1890, 2021, 2)
        facts = [w.say("founded", c, str(y)) for c, y in zip(comps, years, strict=True)]
        first = 0 if years[0] < years[1] else 1
        if kind == "founded_first":
            question = rng.choice(
                (
                    "Which company is older, {a} or {b}?",
                    "Which was established first, {a} or {b}?",
                    "Of {a} and {b}, which company was founded earlier?",
                )
            )
            question = question.format(a=comps[0], b=comps[1])
            answer = comps[first]
        else:
            question = rng.choice(
                (
                    "How many years after {a} was {b} founded?",
                    "How many years separate the founding of {a} and {b}?",
                )
            )
            question = question.format(a=comps[first], b=comps[1 - first])
            answer = str(abs(years[0] - years[1]))
        return Target(question, answer, facts, comps, "founded")
    if kind in ("total", "total3_words"):
        n = 3 if kind == "total3_words" else 2
        people = [w.new("person") for _ in range(n)]
        thing = rng.choice(THINGS)
        counts = [rng.randint(1, 12) for _ in range(n)]
        words = kind == "total3_words" or (difficulty == "medium" and rng.random() < 0.5)
        facts = []
        for p, c in zip(people, counts, strict=True):
            w.known.add((p, "owns:" + thing))
            shown = NUM_WORDS[c] if words else str(c)
            facts.append(w.say("owns", p, f"{shown} {thing}"))
        if n == 2:
            question = rng.choice(
                (
                    "How many {t} do {a} and {b} have in total?",
                    "Together, how many {t} do {a} and {b} own?",
                    "What is the combined number of {t} owned by {a} and {b}?",
                )
            )
            question = question.format(t=thing, a=people[0], b=people[1])
        else:
            question = rng.choice(
                (
                    "How many {t} do {a}, {b} and {c} have altogether?",
                    "Counting {a}, {b} and {c}, how many {t} are there in total?",
                )
            )
            question = question.format(t=thing, a=people[0], b=people[1], c=people[2])
        return Target(question, str(sum(counts)), facts, people, "owns")
    if kind == "count_in_town":
        people = [w.new("person") for _ in range(3)]
        towns = [w.new("town") for _ in range(3)]
        k = rng.randint(1, 3)
        homes = [towns[0]] * k + [rng.choice(towns[1:]) for _ in range(3 - k)]
        rng.shuffle(homes)
        facts = [w.say("lives_in", p, t) for p, t in zip(people, homes, strict=True)]
        question = rng.choice(
            (
                "How many of {a}, {b} and {c} live in {t}?",
                "Of {a}, {b} and {c}, how many are residents of {t}?",
            )
        )
        question = question.format(a=people[0], b=people[1], c=people[2], t=towns[0])
        return Target(question, str(k), facts, people, "lives_in", {"lives_in"})
    if kind == "age_in_year":
        p = w.new("person")
        y = rng.randint(1941, 1990)
        later = y + rng.randint(8, 60)
        facts = [w.say("born", p, str(y))]
        question = rng.choice(
            (
                "How old did {a} turn in {y}?",
                "What age did {a} reach in {y}?",
                "In {y}, what birthday did {a} celebrate?",
            )
        )
        return Target(question.format(a=p, y=later), str(later - y), facts, [p], "born")
    if kind == "age_gap_words":
        people = [w.new("person") for _ in range(2)]
        years = distinct_ints(rng, 1941, 2004, 2)
        facts = [w.say("born", p, str(y)) for p, y in zip(people, years, strict=True)]
        question = rng.choice(
            (
                "How many years separate the births of {a} and {b}?",
                "How many years apart were {a} and {b} born?",
            )
        )
        return Target(
            question.format(a=people[0], b=people[1]),
            str(abs(years[0] - years[1])),
            facts,
            people,
            "born",
        )
    if kind == "emp_diff":
        comps = [w.new("company") for _ in range(2)]
        counts = distinct_ints(rng, 12, 2000, 2)
        facts = [w.say("employees", c, f"{n:,}") for c, n in zip(comps, counts, strict=True)]
        hi_i = 0 if counts[0] > counts[1] else 1
        question = rng.choice(
            (
                "How many more employees does {a} have than {b}?",
                "By how many people is {a}'s workforce larger than {b}'s?",
            )
        )
        return Target(
            question.format(a=comps[hi_i], b=comps[1 - hi_i]),
            str(abs(counts[0] - counts[1])),
            facts,
            comps,
            "employees",
        )
    if kind == "larger_town":
        towns = [w.new("town") for _ in range(2)]
        pops = [n * 10 for n in distinct_ints(rng, 80, 25000, 2)]
        facts = [w.say("population", t, f"{n:,}") for t, n in zip(towns, pops, strict=True)]
        big = 0 if pops[0] > pops[1] else 1
        if rng.random() < 0.5:
            question = rng.choice(
                ("Which town is larger, {a} or {b}?", "Which has more residents, {a} or {b}?")
            )
            answer = towns[big]
        else:
            question = rng.choice(
                ("Which town is smaller, {a} or {b}?", "Which has fewer residents, {a} or {b}?")
            )
            answer = towns[1 - big]
        return Target(question.format(a=towns[0], b=towns[1]), answer, facts, towns, "population")
    # yes/no comparisons, balanced
    want_yes = w.want_yes
    sub = rng.choice(("price", "age", "founded", "town", "employer"))
    if sub in ("price", "age", "founded"):
        kind_of = {"price": "product", "age": "person", "founded": "company"}[sub]
        rel = {"price": "price", "age": "born", "founded": "founded"}[sub]
        ents = [w.new(kind_of) for _ in range(2)]
        lo, hi = {"price": (8, 600), "age": (1941, 2004), "founded": (1890, 2021)}[sub]
        vals = distinct_ints(rng, lo, hi, 2)
        facts = [w.say(rel, e, str(v)) for e, v in zip(ents, vals, strict=True)]
        templates = {"price": YES_NO_PRICE, "age": YES_NO_AGE, "founded": YES_NO_FOUNDED}[sub]
        truth = vals[0] > vals[1] if sub == "price" else vals[0] < vals[1]
        if truth != want_yes:
            ents.reverse()
            truth = want_yes
        question = rng.choice(templates).format(a=ents[0], b=ents[1])
        return Target(question, "yes" if truth else "no", facts, ents, rel)
    rel = "lives_in" if sub == "town" else "works_at"
    people = [w.new("person") for _ in range(2)]
    place = w.value(rel)[0]
    second = place if want_yes else w.value(rel)[0]
    facts = [w.say(rel, people[0], place), w.say(rel, people[1], second)]
    question = rng.choice(YES_NO_TOWN if sub == "town" else YES_NO_EMPLOYER).format(
        a=people[0], b=people[1]
    )
    return Target(question, "yes" if want_yes else "no", facts, people, rel)
