"""The injection guard: :func:`looks_injected` spots answers that try to steer the judge,
and :func:`apply_guard` forces such an answer's verdict to the scale minimum."""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType

from pytest_llmeval.judge._text import _show
from pytest_llmeval.judge.rubric import Rubric
from pytest_llmeval.judge.verdict import Verdict

__all__ = ["apply_guard", "looks_injected"]

_INVISIBLE_RE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\ufeff]"
)
_ITEM = r"(?:answer|response|reply|submission|output|candidate)"
_OBJ = rf"(?:(?:this|it|that)(?:\s+{_ITEM})?|(?:the|my|our)\s+{_ITEM})"
_TOP = r"(?:5|five|10|ten|100|full|perfect|maximum|max|top|highest|best)"
_NOT_A_UNIT = (
    r"(?!\s*(?:minutes?|hours?|days?|weeks?|months?|years?|seconds?|dollars?|percent|people|"
    r"items?|times?|more|of\s+(?:the|them|it)))"
)
_INJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE | re.MULTILINE))
    for label, pattern in (
        (
            "tells the grader to ignore its instructions",
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b"
            r"(?:\s+(?:all|any|the|these|those|your|my|every|of|previous|prior|above|earlier|"
            r"preceding|original|grading|scoring|system|other|judging))*"
            r"\s+(?:rubrics?|instructions?|rules?|guidelines?|criteria|prompts?|directions?|"
            r"reference(?:\s+answer)?|grading|scoring)\b",
        ),
        (
            "asks for a top score",
            rf"\b(?:give|award|assign|grant|rate|score|mark|grade)\s+{_OBJ}\s+(?:(?:a|an|the)\s+)?"
            rf"{_TOP}\b{_NOT_A_UNIT}",
        ),
        (
            "asks for full marks",
            r"\bfull\s+(?:marks|points|credit)\b"
            r"|\b(?:deserves?|merits?|award|give|assign|grant)\b(?:\s+\w+){0,3}?\s+"
            r"(?:full|maximum|max|top|perfect|highest)\s+"
            r"(?:marks|points|scores?|credit|rating|grade)\b",
        ),
        (
            "asks to be marked correct",
            r"\b(?:mark|grade|score|rate|treat|consider|count|accept)\s+"
            rf"{_OBJ}\s+as\s+(?:correct|right|passing|a\s+pass|perfect|valid|excellent)\b"
            r"|\b(?:must|should)\s+(?:pass|be\s+(?:marked|graded|scored)\s+(?:as\s+)?correct)\b",
        ),
        (
            "addresses the grader",
            r"\byou\s+are\s+(?:now\s+)?(?:the|a|an|my|our)\s+(?:judge|grader|evaluator|assessor|"
            r"examiner|scorer)\b"
            r"|\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+)?(?:judge|grader|"
            r"evaluator|assessor|examiner|ai|model|llm)\b"
            r"|\b(?:dear|attention|hey|hi)\s+(?:the\s+)?(?:judge|grader|evaluator|examiner)\b"
            r"|\b(?:grader|evaluator|assessor|examiner)s?\s*[:,]"
            r"|\bas\s+the\s+(?:judge|grader|evaluator)\s*,",
        ),
        (
            "mentions a system prompt",
            r"\bsystem\s*(?:prompt|message|instruction|override|update|note)s?\b"
            r"|\[\s*(?:system|inst)\s*\]|^\s*system\s*:|<\|\s*(?:im_start|system|endoftext)"
            r"|\bnew\s+instructions?\s*:|#{2,}\s*(?:instruction|system)"
            r"|\bprompt\s+injection\b|\bjailbreak\b",
        ),
        (
            "grades itself",
            r"\b(?:score|scores|scored|rating|rated|grade|graded|marks?|points|verdict|"
            r"correctness|completeness|format[\s_\-]*compliance)\b[\"']?\s*[:=]\s*[\"']?\s*\d"
            r"|\b(?:5|five)\s*(?:/|out\s+of)\s*(?:5|five)\b"
            r"|\b(?:10|ten)\s*(?:/|out\s+of)\s*(?:10|ten)\b"
            r"|\b(?:5|five|10|ten)\s+(?:in|on|for|across)\s+(?:every|each|all)\s+"
            r"(?:categor|dimension|criteri|aspect|field)",
        ),
        (
            "disputes the reference answer",
            r"\b(?:reference|expected|gold|official)\s+answer\s+(?:is|was|has|contains)\s+"
            r"(?:(?:actually|clearly|probably|an?)\s+)*"
            r"(?:wrong|incorrect|outdated|mistaken|a\s+typo|typo|in\s+error|out\s+of\s+date|"
            r"an?\s+(?:error|mistake))",
        ),
        (
            "tries to close the answer block",
            r"[<\uff1c\ufe64]\s*/\s*(?:candidate[\s_\-]*answer|answer|response|rubric|system|"
            r"user|assistant|instructions?)\s*[>\uff1e\ufe65]"
            r"|[<\uff1c\ufe64]\s*candidate[\s_\-]*answer\b"
            r"|\bend\s+of\s+(?:the\s+)?candidate(?:[\s_]+answer)?\b",
        ),
    )
)


def looks_injected(answer: str) -> str | None:
    """Why ``answer`` looks like a prompt injection aimed at the judge, or None.

    A tripwire, not a guarantee: it matches common phrasings (ignore the rubric/instructions,
    give it a 5 or full marks, mark it as correct, notes to the grader, "system prompt",
    self-grading such as ``score: 5`` or ``5/5``, disputing the reference answer, and
    delimiter look-alikes such as ``</candidate_answer>``) after NFKC normalization with
    invisible characters removed. A paraphrase can slip through, which is why the judge
    prompt also tells the judge to give manipulative answers the minimum; a hit, on the
    other hand, is cheap to audit. It is tuned to fire on no answer, question or context of
    the shipped QA data.
    """
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", answer))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    for label, pattern in _INJECTION_PATTERNS:
        m = pattern.search(text)
        if m:
            return f"{label}: {_show(' '.join(m.group(0).split()), 60)}"
    return None


def apply_guard(verdict: Verdict, answer: str, rubric: Rubric) -> tuple[Verdict, str | None]:
    """Force the scale minimum in every dimension (and a fail) when the answer looks
    injected, whatever the judge said; the judge's own scores are kept in ``raw``. An
    injection can lower a verdict, never raise it. Returns (verdict, reason or None)."""
    reason = looks_injected(answer)
    if reason is None:
        return verdict, None
    lowest = {name: rubric.minimum for name in rubric.names}
    forced = Verdict(
        scores=MappingProxyType(lowest),
        rationale=f"forced to the minimum: the answer looks like a prompt injection ({reason}). "
        f"Judge's rationale: {verdict.rationale}",
        mean=float(rubric.minimum),
        passed=False,
        raw=MappingProxyType(dict(verdict.scores)),
        guard=reason,
    )
    return forced, reason
