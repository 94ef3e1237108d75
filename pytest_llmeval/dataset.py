"""Samples and JSONL loading, with errors that name file, line and field. No pytest here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Ids become pytest node ids and storage keys: `::` would break node-id selection, and
# non-ASCII is escaped by parametrize, so only a safe ASCII set is allowed.
ID_RE = re.compile(r"^[A-Za-z0-9_.\-/]+$")
BOM = b"\xef\xbb\xbf"


class DatasetError(ValueError):
    """Bad input in a dataset or suite file; the message is one line: ``path:line: what``."""


@dataclass(frozen=True)
class Sample:
    """One JSONL record: ``fields`` is the whole object, ``source:line`` where it came from."""

    id: str
    task: str
    fields: Mapping[str, Any]
    source: str
    line: int
    expected_key: str | None = None  # the field holding the expected answer (the suite's)

    @property
    def expected(self) -> Any:
        """The expected answer: the field the suite names with ``expected:`` (by default
        the task's: ``expected_answer``, ``expected_output``), or None."""
        return None if self.expected_key is None else self.fields.get(self.expected_key)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def slices(self) -> tuple[str, ...]:
        value = self.fields.get("slice", ())
        return (value,) if isinstance(value, str) else tuple(value)

    @property
    def difficulty(self) -> str | None:
        value = self.fields.get("difficulty")
        return None if value is None else str(value)


@dataclass(frozen=True)
class FieldSpec:
    """A required field and the JSON types it may take."""

    name: str
    types: tuple[type, ...]


_cache: dict[tuple[Any, ...], tuple[Sample, ...]] = {}


def load_jsonl(
    path: Path,
    task: str,
    required: Sequence[FieldSpec] = (),
    display: str | None = None,
    expected_key: str | None = None,
) -> tuple[Sample, ...]:
    """Read and validate a JSONL dataset; raise DatasetError on the first bad line."""
    return _load(path, task, tuple(required), display, expected_key)


def file_hash(path: Path) -> str:
    """sha256 of a dataset file: the dataset version recorded with each run."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(
    path: Path,
    task: str,
    required: tuple[FieldSpec, ...],
    display: str | None,
    expected_key: str | None = None,
) -> tuple[Sample, ...]:
    name = display or str(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise DatasetError(f"{name}: cannot read dataset: {exc.strerror}") from None
    key = (
        str(path.resolve()),
        task,
        tuple(f.name for f in required),
        stat.st_mtime_ns,
        stat.st_size,
        expected_key,
    )
    if key in _cache:
        return _cache[key]
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{name}: cannot read dataset: {exc.strerror}") from None
    text = _utf8(content[len(BOM) :] if content.startswith(BOM) else content, name)
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if raw and not raw.isspace():
            samples.append(_parse_line(raw, name, lineno, task, required, seen, expected_key))
    if not samples:
        raise DatasetError(f"{name}: dataset is empty")
    result = tuple(samples)
    _cache[key] = result
    return result


def _utf8(data: bytes, name: str) -> str:
    """The file as text (a byte-order mark, what Excel and many Windows tools write first,
    already cut); invalid UTF-8 is an error naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{name}:{lineno}: invalid UTF-8 (byte 0x{data[exc.start]:02x} at col "
            f"{exc.start - line_start + 1}); save the file as UTF-8"
        ) from None


def _parse_line(
    raw: str,
    name: str,
    lineno: int,
    task: str,
    required: tuple[FieldSpec, ...],
    seen: dict[str, int],
    expected_key: str | None = None,
) -> Sample:
    record = _json_line(raw.rstrip("\r\n"), name, lineno)
    if not isinstance(record, dict):
        raise DatasetError(f"{name}:{lineno}: expected a JSON object, got {type(record).__name__}")
    sid = record.get("id")
    if sid is None:
        raise DatasetError(f"{name}:{lineno}: field 'id' missing")
    if type(sid) is not str:  # ids are strings in most datasets: one cheap test first
        if not isinstance(sid, str | int) or isinstance(sid, bool):
            raise DatasetError(f"{name}:{lineno}: field 'id' must be a string")
        sid = str(sid)
    if not ID_RE.match(sid):
        if "::" in sid:
            raise DatasetError(f"{name}:{lineno}: field 'id' {sid!r} contains '::'")
        raise DatasetError(
            f"{name}:{lineno}: field 'id' {sid!r} has characters outside [A-Za-z0-9_.-/]"
        )
    if sid in seen:
        raise DatasetError(f"{name}:{lineno}: field 'id' {sid!r} duplicates line {seen[sid]}")
    seen[sid] = lineno
    for spec in required:
        if spec.name not in record:
            raise DatasetError(f"{name}:{lineno}: field {spec.name!r} missing")
        if not isinstance(record[spec.name], spec.types):
            wanted = " or ".join(_json_type(t) for t in spec.types)
            got = _json_type(type(record[spec.name]))
            raise DatasetError(f"{name}:{lineno}: field {spec.name!r} must be {wanted}, got {got}")
    return Sample(sid, task, record, name, lineno, expected_key)


_raw_decode = json.JSONDecoder().raw_decode


def _json_line(text: str, name: str, lineno: int) -> Any:
    """One line's JSON value. The C scanner straight on the line costs about 0.6 of
    ``json.loads`` (which also matches whitespace around it); surrounding whitespace and
    errors take ``json.loads``, whose message the error repeats."""
    try:
        value, end = _raw_decode(text)
        if end == len(text):
            return value
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{name}:{lineno}: invalid JSON: {exc.msg} (col {exc.colno})") from None


def check_fields(samples: Sequence[Sample], needs: Sequence[FieldNeed]) -> None:
    """Every field a suite reads, in every sample: the first line that lacks one (or has
    the wrong type) is named; a field that *no* sample has is the suite's mistake (a typo in
    a placeholder or in ``expected:``) when the suite itself asked for it."""
    import difflib

    for need in needs:
        if _all_good(samples, need):
            continue  # one pass over the samples; the passes below only name the mistake
        missing = [s for s in samples if need.name not in s.fields]
        if missing and len(missing) == len(samples) and need.origin:
            known = sorted({k for s in samples[:50] for k in s.fields})
            close = difflib.get_close_matches(need.name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {need.show(close[0], short=True)}?" if close else ""
            raise DatasetError(
                f"{need.origin}: {need.show(need.name)} is not a field of "
                f"{samples[0].source} (its fields: {', '.join(known)}){hint}"
            )
        if missing:
            s = missing[0]
            raise DatasetError(f"{s.source}:{s.line}: field {need.name!r} missing ({need.why})")
        if need.types != (object,):
            for s in samples:
                value = s.fields[need.name]
                if not isinstance(value, need.types):
                    wanted = " or ".join(_json_type(t) for t in need.types)
                    raise DatasetError(
                        f"{s.source}:{s.line}: field {need.name!r} must be {wanted}, got "
                        f"{_json_type(type(value))} ({need.why})"
                    )


def _all_good(samples: Sequence[Sample], need: FieldNeed) -> bool:
    name, types = need.name, need.types
    if types == (object,):
        return all(name in s.fields for s in samples)
    return all(name in s.fields and isinstance(s.fields[name], types) for s in samples)


@dataclass(frozen=True)
class FieldNeed:
    """A field a suite reads, why, and where the suite asked for it (``file:line: field
    'prompt.user'``), if the suite file itself did."""

    name: str
    types: tuple[type, ...]
    why: str
    origin: str | None = None
    placeholder: bool = False

    def show(self, name: str, short: bool = False) -> str:
        if self.placeholder:
            return f"{{{name}}}" if short else f"placeholder {{{name}}}"
        return repr(name)


def _json_type(t: type) -> str:
    return {
        str: "a string",
        dict: "an object",
        list: "a list",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }.get(t, t.__name__)


def select(samples: Sequence[Sample], limit: int | None, seed: int) -> list[Sample]:
    """The deterministic subset ``--llmeval-limit`` picks: the same N on every worker and run.

    Ranking by a seeded hash of the id (not by position) keeps the choice stable when
    samples are appended to a dataset.
    """
    if limit is None or limit >= len(samples):
        return list(samples)

    def rank(s: Sample) -> str:
        return hashlib.sha256(f"{seed}:{s.task}:{s.id}".encode()).hexdigest()

    chosen = {s.id for s in sorted(samples, key=rank)[:limit]}
    return [s for s in samples if s.id in chosen]
