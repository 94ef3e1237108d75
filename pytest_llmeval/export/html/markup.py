"""The small pieces every part of the HTML report is made of: escaping, element ids, badges,
clipped ``<pre>`` blocks and the formatting of values shared by several sections.

Every text that comes from a run goes through :func:`_e` (or :func:`_pre`, which calls it):
markup and control characters escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import escape
from typing import Any

from pytest_llmeval.export.summary import fmt
from pytest_llmeval.result import SampleResult
from pytest_llmeval.stats import finite
from pytest_llmeval.untrusted import printable

MAX_TEXT = 6000  # characters of a prompt message, output or expected shown per sample


def _e(value: Any) -> str:
    # markup escaped for the browser, control characters for whoever reads the file as text
    # (and for XML tools: most C0 controls are not allowed in XHTML)
    return escape(printable("" if value is None else str(value), block=True), quote=True)


def _slug(*parts: str) -> str:
    """An element id (and URL fragment) from parts joined by ``::`` (sample ids never hold
    ``::``); characters outside ``A-Za-z0-9_.-/`` become ``~hex``, so ids stay distinct."""
    return "::".join(re.sub(r"[^A-Za-z0-9_.\-/]", lambda m: f"~{ord(m[0]):x}", p) for p in parts)


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit:,} more characters)"


def _pre(text: Any) -> str:
    return f"<pre>{_e(_clip('' if text is None else str(text)))}</pre>"


def _spec(verdict: Mapping[str, Any]) -> str:
    """``>=0.85``: a threshold verdict's operator and value."""
    return f"{verdict['op']}{float(verdict['threshold']):g}"


def _interval(m: Mapping[str, Any]) -> str:
    lo, hi = finite(m.get("lo")), finite(m.get("hi"))
    return "" if lo is None or hi is None else f"[{fmt(lo)}, {fmt(hi)}]"


def _latency_ms(row: SampleResult) -> float | None:
    return finite(row.call("model").model_latency_ms)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_value(text: Any) -> Any:
    """``expected`` as stored: JSON text of an object or list, else None."""
    if isinstance(text, dict | list):
        return text
    if not isinstance(text, str) or not text.strip().startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _pretty_expected(expected: Any) -> Any:
    value = _json_value(expected)
    return json.dumps(value, indent=2, ensure_ascii=False) if value is not None else expected
