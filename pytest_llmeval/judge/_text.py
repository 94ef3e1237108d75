"""Small helpers shared by the judge modules: how reply keys are matched to dimension
names, the rationale key and its aliases, and one-line message shortening."""

from __future__ import annotations

import json
import re
import unicodedata

from pytest_llmeval.untrusted import printable

_RATIONALE = "rationale"
# Accepted in place of "rationale" (in this order) when it is absent; never for scores.
_RATIONALE_ALIASES = ("rationale", "reasoning", "reason", "explanation", "justification")
_REASON_MAX = 200


def normalize_key(key: str) -> str:
    """How reply keys are matched to dimension names: NFKC, casefolded, with everything but
    letters and digits removed (``Format Compliance``, ``FORMAT_COMPLIANCE``,
    ``format-compliance`` and ``formatCompliance`` all give ``formatcompliance``)."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", key).casefold())


def _one_line(text: str, limit: int = _REASON_MAX) -> str:
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: str, limit: int = 30) -> str:
    # json.dumps escapes C0 controls only; the rest (C1, bidi, DEL) are escaped here
    text = printable(json.dumps(value, ensure_ascii=False))
    return text if len(text) <= limit else text[: limit - 4] + '..."'
