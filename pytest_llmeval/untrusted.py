"""Text from a model, a judge or a server is untrusted: how it is shown, and how it is kept.

A reply can carry anything a prompt injection or a broken model emits. Shown raw, an ESC
sequence clears the screen, rewrites earlier lines (hiding a FAILED), sets the window title
or plants a hyperlink (OSC 8) in a CI log; a NUL or a lone CR hides text; a bidi override
(U+202E) makes text read differently from what it is; most C0 controls make XML invalid.

:func:`printable` is the one escape every terminal line, log, message and report uses for
such text; the database keeps the text exactly as the model produced it. :func:`valid_text`
is applied once, where a reply enters: a lone surrogate (which JSON's ``\\ud800`` escape
can carry) has no UTF-8 encoding at all, so no file, database or terminal could hold it.
"""

from __future__ import annotations

import re

# C0, DEL and C1 controls; the bidi marks (ALM, LRM, RLM), embeddings, overrides and
# isolates; U+2028/U+2029, where str.splitlines and some terminals break a line;
# surrogates; and U+FFFE/U+FFFF, which XML forbids. Tab and newline are split out: a block
# of text (a report's <pre>, a CSV cell) keeps its own.
_RANGES = [
    (0x00, 0x08), (0x0B, 0x1F), (0x7F, 0x9F), (0x061C, 0x061C), (0x200E, 0x200F),
    (0x202A, 0x202E), (0x2066, 0x2069), (0x2028, 0x2029), (0xD800, 0xDFFF), (0xFFFE, 0xFFFF),
]  # fmt: skip
_LAYOUT = [(0x09, 0x0A)]
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _pattern(ranges: list[tuple[int, int]]) -> re.Pattern[str]:
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]")


_UNSAFE = _pattern(_RANGES + _LAYOUT)
_UNSAFE_IN_BLOCK = _pattern(_RANGES)
_ESCAPES = {chr(code): _escape(code) for a, b in _RANGES + _LAYOUT for code in range(a, b + 1)}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    return _ESCAPES[match[0]]


def printable(text: str, *, block: bool = False) -> str:
    r"""``text`` with every control character written as an escape (``\x1b``, ``\x00``,
    ``\r``, ``\n``, ``\u202e``): safe on a terminal, in a log line and in XML. The text's
    own backslashes are left alone, so ``\x1b`` typed by the model reads the same as an ESC
    it sent; the database has the exact text. ``block=True`` keeps newlines and tabs, for
    text shown as a block (a report's ``<pre>``, a CSV cell). Clean text costs one regex
    scan in C and comes back as the same object (measured faster than ``str.translate``)."""
    return (_UNSAFE_IN_BLOCK if block else _UNSAFE).sub(_replace, text)


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, as a UTF-8 decoder does with
    bytes that are not text; everything else, controls included, is kept exactly."""
    return _SURROGATE.sub("\ufffd", text)
