"""One ``qa`` record, and one split of them.

``qa_record`` builds a fresh ``World``, asks the question type's builder for a ``Target``
and fills the context to the difficulty's sentence count with distractors. ``qa_split``
draws a split with exact difficulty quotas, balanced question types and alternating yes/no
answers, every prompt new to the splits drawn before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from generator.draw import Rng, balanced_plan, difficulty_plan, norm_prompt, unique_draw
from generator.qa.factual import qa_factual
from generator.qa.multihop import qa_multihop
from generator.qa.reasoning import qa_reasoning
from generator.qa.world import Target, World

LEADS = (
    "Here are a few notes from the local newsletter.",
    "The following facts come from a small business directory.",
    "These details were collected for a community report.",
    "A reporter gathered the following background.",
    "This summary was compiled from public records.",
    "The notes below were taken at a neighbourhood meeting.",
    "What follows is taken from a regional almanac.",
    "A volunteer wrote down these facts for the town archive.",
    "Below is an excerpt from a local history blog.",
    "Some background from an old trade magazine follows.",
    "These notes were shared on a community forum.",
    "The facts below appeared in a school project.",
)
SENTENCE_RANGE = {"easy": (2, 4), "medium": (4, 6), "hard": (6, 8)}


QA_BUILDERS: dict[str, Callable[[World, str], Target]] = {
    "factual": qa_factual,
    "reasoning": qa_reasoning,
    "multi-hop": qa_multihop,
}
# The split plan cycles through these in this order: reordering them changes the data.
QA_TYPES = tuple(QA_BUILDERS)


def qa_record(
    rng: Rng, qtype: str, difficulty: str, want_yes: bool = True
) -> tuple[str, str, str, list[str]]:
    w = World(rng, want_yes)
    target = QA_BUILDERS[qtype](w, difficulty)
    sentences = [*target.facts, *target.confusers]
    lo, hi = SENTENCE_RANGE[difficulty]
    total = rng.randint(max(lo, len(sentences)), max(hi, len(sentences)))
    lead = total > len(sentences) + 1 and rng.random() < 0.2
    while len(sentences) + lead < total:
        extra = w.filler(target.focus, target.prefer, target.blocked)
        if extra is None or extra in sentences:
            break
        sentences.append(extra)
    rng.shuffle(sentences)
    if lead:
        sentences.insert(0, rng.choice(LEADS))
    return target.question, " ".join(sentences), target.answer, target.facts


def qa_split(rng: Rng, split: str, n: int, seen: set[str]) -> list[dict[str, Any]]:
    difficulties = difficulty_plan(rng, n)
    qtypes = balanced_plan(rng, n, QA_TYPES)
    records = []
    answers = {"yes": 0, "no": 0}  # yes/no questions alternate, so the two stay balanced
    for i, (difficulty, qtype) in enumerate(zip(difficulties, qtypes, strict=True), start=1):
        want_yes = answers["yes"] <= answers["no"]

        def draw(
            qtype: str = qtype, difficulty: str = difficulty, want_yes: bool = want_yes
        ) -> tuple[str, Any]:
            question, context, answer, facts = qa_record(rng, qtype, difficulty, want_yes)
            return norm_prompt(question + " || " + context), (question, context, answer, facts)

        question, context, answer, facts = unique_draw(seen, draw, "qa")
        if answer in answers:
            answers[answer] += 1
        records.append(
            {
                "id": f"qa-{split}-{i:04d}",
                "question": question,
                "context": context,
                "expected_answer": answer,
                "reference_facts": facts,
                "slice": [qtype, difficulty],
                "difficulty": difficulty,
            }
        )
    return records
