"""Answers extracted from the output: lm-evaluation-harness's regex filter with its
``exact_match`` comparison, and the last number in the output.

``regex`` follows EleutherAI/lm-evaluation-harness: ``RegexFilter`` in
``lm_eval/filters/extraction.py`` (``findall``; ``group_select`` picks the match, 0 the
first and -1 the last; a match of several groups is its first non-empty group; stripped;
no match is the fallback ``"[invalid]"``, here a miss) and ``exact_match`` in
``lm_eval/api/metrics.py`` (each of ``regexes_to_ignore`` removed from both sides, then
``ignore_case`` lower-cases and ``ignore_punctuation`` drops ``string.punctuation``).
GSM8K's ``lm_eval/tasks/gsm8k/gsm8k.yaml`` is the worked example: strict-match is
``pattern: '#### (\\-?[0-9\\.\\,]+)'`` with ``ignore_case: true`` and ``regexes_to_ignore:
[",", "\\$", "(?s).*#### ", "\\.$"]``. Without an expected answer (or with
``match_only``) it is promptfoo's ``regex`` check: the output matches the pattern.
Inspect AI's ``pattern()`` (``src/inspect_ai/scorer/_pattern.py``) differs: it ignores case
by default (in the search too) and accepts any group equal to a target; ``regex`` with
``ignore_case: true`` compares as it does, but searches with the pattern's own case.

``number`` takes the last number in the output (thousands commas, a sign, decimals, a
currency ``$``), as Inspect AI's ``match(numeric=True)`` strips ``$`` and ``,``
(``src/inspect_ai/scorer/_common.py``), and compares it with the expected number within
``tolerance`` (absolute) and ``rel_tolerance`` (relative to the expected).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import OptionError, Score, scorer
from pytest_llmeval.scorers.text import compiled

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = ["FALLBACK", "exact_match_normalize", "last_number", "regex_extract"]

FALLBACK = "[invalid]"  # lm-eval's RegexFilter fallback: nothing matched
_PUNCT = str.maketrans("", "", string.punctuation)
_SHOW_MAX = 80


def regex_extract(text: str, pattern: str, group_select: int = 0) -> str:
    """lm-eval's ``RegexFilter.apply`` on one response: the selected match's text, its
    first non-empty group when the pattern has groups, stripped; ``FALLBACK`` if none."""
    found = compiled(pattern).findall(text)
    if not found:
        return FALLBACK
    try:
        picked = found[group_select]
    except IndexError:  # lm-eval raises here; a response with too few matches is a miss
        return FALLBACK
    if isinstance(picked, tuple):
        groups = [g for g in picked if g]
        if not groups:
            return FALLBACK
        picked = groups[0]
    return str(picked).strip()


def exact_match_normalize(
    s: str, regexes_to_ignore: tuple[str, ...] = (), ignore_case: bool = False,
    ignore_punctuation: bool = False,
) -> str:  # fmt: skip
    """lm-eval's ``exact_match`` preprocessing of one side, in its order."""
    for rx in regexes_to_ignore:
        s = compiled(rx).sub("", s)
    if ignore_case:
        s = s.lower()
    if ignore_punctuation:
        s = s.translate(_PUNCT)
    return s


def _regex_needs(options: Mapping[str, Any]) -> tuple[str, ...]:
    """Checks the options when the suite is loaded: one pattern, and every pattern
    compiles (a collection error, not a failure on every sample)."""
    pattern, value = options.get("pattern"), options.get("value")
    if (pattern is None) == (value is None):
        raise OptionError("scorer 'regex' needs option 'pattern' (or 'value'), not both")
    for rx in (pattern if value is None else value, *(options.get("regexes_to_ignore") or ())):
        if not isinstance(rx, str):
            raise OptionError(f"scorer 'regex': {rx!r} is not a regular expression")
        try:
            compiled(rx)
        except re.error as exc:
            msg = f"scorer 'regex': {rx!r} is not a regular expression: {exc}"
            raise OptionError(msg) from None
    return ()


def _show(s: str) -> str:
    return repr(s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "...")


@scorer("regex", needs_for=_regex_needs)
def regex(
    sample: Sample,
    completion: Completion,
    *,
    pattern: str | None = None,
    value: str | None = None,
    group_select: int = 0,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    regexes_to_ignore: list[str] | None = None,
    match_only: bool = False,
) -> Score:
    rx = pattern if pattern is not None else value
    assert rx is not None  # _regex_needs checked it when the suite was loaded
    if match_only or sample.expected_key is None:
        found = compiled(rx, re.IGNORECASE if ignore_case else 0).search(completion.text)
        if found is None:
            return Score(0.0, False, f'Expected output to match regex "{rx}"')
        return Score(1.0, True, metadata={"extracted": found.group(0)})
    extracted = regex_extract(completion.text, rx, group_select)
    if extracted == FALLBACK:
        return Score(0.0, False, f"no match for {rx!r} in the output", {"extracted": FALLBACK})
    raw = sample.expected
    answers = raw if isinstance(raw, list) else [raw]
    ignore = tuple(regexes_to_ignore or ())
    got = exact_match_normalize(extracted, ignore, ignore_case, ignore_punctuation)
    wanted = [
        exact_match_normalize(str(a), ignore, ignore_case, ignore_punctuation)
        for a in answers
        if a is not None
    ]
    meta = {"extracted": extracted, "compared": got}
    if got in wanted:
        return Score(1.0, True, metadata=meta)
    shown = _show(wanted[0]) if len(wanted) == 1 else f"one of {wanted!r}"
    return Score(0.0, False, f"extracted {_show(extracted)} ({_show(got)}), expected {shown}", meta)


# A number as answers write it: an optional sign (not a hyphen inside a word or range), an
# optional "$", digits with or without thousands commas, optional decimals.
_NUMBER = re.compile(
    r"(?:(?<![\w.])(?P<sign>[-+\u2212]))?(?:\$(?P<sign2>-)?)?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
)


def last_number(text: str) -> float | None:
    """The last number in ``text``, or None."""
    value = None
    for m in _NUMBER.finditer(text):
        value = float(m.group("num").replace(",", ""))
        if m.group("sign") in ("-", "\u2212") or m.group("sign2"):
            value = -value
    return value


def _expected_number(answer: Any) -> float | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return float(answer)
    return last_number(str(answer)) if answer is not None else None


@scorer("number", needs=("expected",))
def number(
    sample: Sample, completion: Completion, *, tolerance: float = 0.0, rel_tolerance: float = 0.0
) -> Score:
    raw = sample.expected
    answers = raw if isinstance(raw, list) else [raw]
    wanted = [(a, _expected_number(a)) for a in answers]
    if all(n is None for _, n in wanted):
        raise ValueError(f"sample {sample.id!r}: expected answer {raw!r} holds no number")
    got = last_number(completion.text)
    if got is None:
        return Score(0.0, False, f"no number in the output {_show(completion.text)}")
    for answer, n in wanted:
        if n is not None and math.isclose(got, n, rel_tol=rel_tolerance, abs_tol=tolerance):
            return Score(1.0, True, metadata={"number": got, "matched": answer})
    expected = ", ".join(_fmt(n) for _, n in wanted if n is not None)
    within = f" within {tolerance:g}" if tolerance else ""
    if rel_tolerance:
        within += f" (relative {rel_tolerance:g})"
    return Score(0.0, False, f"got {_fmt(got)}, expected {expected}{within}", {"number": got})


def _fmt(n: float) -> str:
    return str(int(n)) if n.is_integer() and abs(n) < 1e16 else repr(n)
