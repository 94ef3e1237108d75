"""Samples and JSONL loading, with errors that name file, line and field. No pytest here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.untrusted import valid_text

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
    # ``expected: {field, extract}``: the expected answer is group 1 of this regex
    expected_extract: str | None = None

    @property
    def expected(self) -> Any:
        """The expected answer: the field the suite names with ``expected:`` (by default
        the task's: ``expected_answer``, ``expected_output``), or None; with ``extract``,
        the regex's group 1 (of each acceptable answer, for a list)."""
        if self.expected_key is None:
            return None
        value = self.fields.get(self.expected_key)
        if self.expected_extract is None or value is None:
            return value
        return extract_expected(value, self.expected_extract)

    @property
    def expected_as_written(self) -> Any:
        """The expected field before any ``extract`` (a few-shot example's answer turn)."""
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
    id_field: str | None = None,
    expected_extract: str | None = None,
) -> tuple[Sample, ...]:
    """Read and validate a JSONL dataset; raise DatasetError on the first bad line.

    Ids come from ``id_field`` (every record must have it), else from an ``id`` field
    where a record has one, else from the record's content (``content_id``)."""
    return _load(path, task, tuple(required), display, expected_key, id_field, expected_extract)


def content_id(record: Mapping[str, Any]) -> str:
    """A sample's id when its dataset gives none: a hash of its content, so the same
    sample has the same id on every run and machine (an edited sample is a new one)."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "s" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


_extract_res: dict[str, re.Pattern[str]] = {}


def extract_expected(value: Any, pattern: str) -> Any:
    """Group 1 of ``pattern`` (group 0 without groups) in the expected answer, or of each
    acceptable answer in a list; None where it does not match (checked at collection)."""
    rx = _extract_res.get(pattern)
    if rx is None:
        rx = _extract_res[pattern] = re.compile(pattern)
    if isinstance(value, list):
        return [extract_expected(v, pattern) for v in value]
    m = rx.search(value if isinstance(value, str) else json.dumps(value))
    if m is None:
        return None
    return m.group(1) if rx.groups else m.group(0)


def file_hash(path: Path) -> str:
    """sha256 of a dataset file: the dataset version recorded with each run."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(
    path: Path,
    task: str,
    required: tuple[FieldSpec, ...],
    display: str | None,
    expected_key: str | None = None,
    id_field: str | None = None,
    expected_extract: str | None = None,
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
        id_field,
        expected_extract,
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
    ids = _Ids(id_field)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if raw and not raw.isspace():
            samples.append(_parse_line(raw, name, lineno, task, required, seen, ids, expected_key))
    if expected_extract is not None:
        samples = [
            Sample(s.id, s.task, s.fields, s.source, s.line, s.expected_key, expected_extract)
            for s in samples
        ]
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
    ids: _Ids,
    expected_key: str | None = None,
) -> Sample:
    record = _json_line(raw.rstrip("\r\n"), name, lineno)
    if not isinstance(record, dict):
        raise DatasetError(f"{name}:{lineno}: expected a JSON object, got {type(record).__name__}")
    if "\\u" in raw and _SURROGATE_ESCAPE.search(raw):  # cheap test first: most lines pass
        where = _lone_surrogate(record)
        if where is not None:
            raise DatasetError(
                f"{name}:{lineno}: field {where!r} has a lone surrogate escape (\\ud800-\\udfff), "
                "which is not text: write the character itself, or both halves of its pair"
            )
    sid = ids.of(record, name, lineno)
    if sid in seen:
        field = ids.field or "id"
        raise DatasetError(f"{name}:{lineno}: field {field!r} {sid!r} duplicates line {seen[sid]}")
    seen[sid] = lineno
    for spec in required:
        if spec.name not in record:
            raise DatasetError(f"{name}:{lineno}: field {spec.name!r} missing")
        if not isinstance(record[spec.name], spec.types):
            wanted = " or ".join(_json_type(t) for t in spec.types)
            got = _json_type(type(record[spec.name]))
            raise DatasetError(f"{name}:{lineno}: field {spec.name!r} must be {wanted}, got {got}")
    return Sample(sid, task, record, name, lineno, expected_key)


class _Ids:
    """Where each record's id comes from: the field the suite names (``id: FIELD``), else
    ``id`` where present, else the record's content; exact duplicate rows get ``-2``,
    ``-3``... in file order, so each stays its own sample."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        self._derived: dict[str, int] = {}

    def of(self, record: Mapping[str, Any], name: str, lineno: int) -> str:
        key = self.field or "id"
        sid = record.get(key)
        if sid is None:
            if self.field is not None:
                raise DatasetError(
                    f"{name}:{lineno}: field {key!r} missing (the suite's id: field; leave "
                    "id: out to derive ids from each sample's content)"
                )
            base = content_id(record)
            count = self._derived[base] = self._derived.get(base, 0) + 1
            return base if count == 1 else f"{base}-{count}"
        if type(sid) is not str:  # ids are strings in most datasets: one cheap test first
            if not isinstance(sid, str | int) or isinstance(sid, bool):
                raise DatasetError(f"{name}:{lineno}: field {key!r} must be a string")
            sid = str(sid)
        if not ID_RE.match(sid):
            if "::" in sid:
                raise DatasetError(f"{name}:{lineno}: field {key!r} {sid!r} contains '::'")
            raise DatasetError(
                f"{name}:{lineno}: field {key!r} {sid!r} has characters outside [A-Za-z0-9_.-/]"
            )
        return sid


_raw_decode = json.JSONDecoder().raw_decode
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any, at: str = "") -> str | None:
    """The dotted path of the first key or string holding a lone surrogate (JSON joins a
    valid pair into one character), which no UTF-8 database, file or terminal can hold."""
    if isinstance(value, str):
        return at if valid_text(value) != value else None
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for k, v in items:
        path = f"{at}.{k}" if at else str(k)
        found = _lone_surrogate(str(k), path) or _lone_surrogate(v, path)
        if found is not None:
            return found
    return None


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
                    wanted = " or ".join(dict.fromkeys(_json_type(t) for t in need.types))
                    hint = need.container_hint if isinstance(value, list | dict) else ""
                    raise DatasetError(
                        f"{s.source}:{s.line}: field {need.name!r} must be {wanted}, got "
                        f"{_json_type(type(value))} ({need.why}{hint})"
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
    container_hint: str = ""  # said when the field holds a list or an object instead

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


def shard(samples: Sequence[Sample], index: int, count: int) -> list[Sample]:
    """Shard ``index`` of ``count`` (1-based): a stable split by sample id alone, so every
    machine, model and run puts a sample in the same shard (a baseline's shard pairs with
    the candidate's)."""
    if count == 1:
        return list(samples)

    def bucket(s: Sample) -> int:
        return int(hashlib.sha256(s.id.encode("utf-8")).hexdigest()[:12], 16) % count

    return [s for s in samples if bucket(s) == index - 1]
