"""Rubrics: what the judge grades on. :class:`Dimension` and :class:`Rubric`, their
validation (a :class:`RubricError` names ``path:line`` and the field), loading from YAML
files, and the built-in rubrics shipped in ``pytest_llmeval/rubrics``."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.judge._text import _RATIONALE_ALIASES, _one_line, normalize_key
from pytest_llmeval.yamlines import key_lines

__all__ = [
    "DEFAULT_RUBRIC",
    "RUBRIC_SCHEMA",
    "Dimension",
    "Rubric",
    "RubricError",
    "builtin_rubrics",
]

DEFAULT_RUBRIC = "qa_default"

_NAME_RE = r"^[a-z][a-z0-9_]*$"

RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["dimensions"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]+$"},
        "scale": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
        "pass_mark": {"type": "number"},
        "instructions": {"type": "string"},
        "dimensions": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "description", "levels"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": _NAME_RE},
                    "description": {"type": "string", "minLength": 1},
                    "min_pass": {"type": ["integer", "null"]},
                    "levels": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"pattern": r"^-?[0-9]+$"},
                        "additionalProperties": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
    },
}


class RubricError(DatasetError):
    """A bad rubric; the message is one line: ``path:line: field 'dimensions.0.levels': why``.

    A DatasetError (so a ValueError): suite collection reports it like any bad input file.
    """


@dataclass(frozen=True)
class Dimension:
    """One scored aspect. ``levels`` describes score values (at least the scale's ends);
    ``min_pass``, when set, is a score this dimension must reach for the verdict to pass,
    whatever the mean."""

    name: str
    description: str
    levels: Mapping[int, str]
    min_pass: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", MappingProxyType(dict(sorted(self.levels.items()))))

    def __hash__(self) -> int:
        return hash((self.name, self.description, tuple(self.levels.items()), self.min_pass))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "levels": {str(k): v for k, v in self.levels.items()},
            "min_pass": self.min_pass,
        }


@dataclass(frozen=True)
class Rubric:
    """What the judge grades on: dimensions scored on ``scale``; a verdict passes when the
    mean of the dimensions is at least ``pass_mark`` (and every ``min_pass`` is met)."""

    name: str
    dimensions: tuple[Dimension, ...]
    scale: tuple[int, int] = (1, 5)
    pass_mark: float = 3.5
    instructions: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        object.__setattr__(self, "scale", (int(self.scale[0]), int(self.scale[1])))
        problem = _first_problem(self.dimensions, self.scale, self.pass_mark)
        if problem is not None:
            path, message = problem
            raise RubricError(f"rubric {self.name!r}: field {_dotted(path)!r}: {message}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def minimum(self) -> int:
        return self.scale[0]

    @property
    def maximum(self) -> int:
        return self.scale[1]

    def passes(self, scores: Mapping[str, int]) -> bool:
        """Mean >= pass_mark, compared exactly (no float rounding), and every min_pass met."""
        total = sum(scores[n] for n in self.names)
        if Fraction(total, len(self.names)) < Fraction(repr(float(self.pass_mark))):
            return False
        return all(d.min_pass is None or scores[d.name] >= d.min_pass for d in self.dimensions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": list(self.scale),
            "pass_mark": float(self.pass_mark),
            "instructions": self.instructions,
            "dimensions": [d.as_dict() for d in self.dimensions],
        }

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of :meth:`as_dict`: part of the judge's cache key."""
        canonical = json.dumps(
            self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(
        cls,
        spec: Mapping[str, Any],
        where: str = "<rubric>",
        lines: Mapping[tuple[Any, ...], int] | None = None,
        default_name: str = "rubric",
    ) -> Rubric:
        """Validate a rubric mapping (as in the YAML files) and build it; raise RubricError
        ``where:line: field '...': why`` (the line when ``lines`` maps key paths to lines)."""
        return _build(spec, where, lines or {}, default_name)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], base_dir: Path | None = None) -> Rubric:
        """A built-in rubric by name (``qa_default``), or a YAML file.

        A path object, or a string with a ``/`` or ending in ``.yaml``/``.yml``, is a file
        (relative to ``base_dir``, default the working directory); any other string names a
        built-in rubric.
        """
        text = os.fspath(name_or_path)
        is_path = (
            not isinstance(name_or_path, str)
            or "/" in text
            or os.sep in text
            or text.endswith((".yaml", ".yml"))
        )
        if not is_path:
            return _load_builtin(text)
        path = Path(text)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return _load_file(path, text)


def builtin_rubrics() -> tuple[str, ...]:
    """Names of the rubrics shipped in ``pytest_llmeval/rubrics``."""
    folder = resources.files("pytest_llmeval") / "rubrics"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")))


@functools.lru_cache(maxsize=16)
def _load_builtin(name: str) -> Rubric:
    known = builtin_rubrics()
    if name not in known:
        raise RubricError(
            f"unknown rubric {name!r} (built-in: {', '.join(known)}; "
            "or a path to a .yaml rubric file)"
        )
    source = resources.files("pytest_llmeval") / "rubrics" / f"{name}.yaml"
    return _parse_yaml(source.read_text(encoding="utf-8"), f"pytest_llmeval/rubrics/{name}.yaml")


def _load_file(path: Path, display: str) -> Rubric:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError(f"{display}: cannot read rubric: {exc.strerror}") from None
    return _parse_yaml(text, display, default_name=path.stem)


def _parse_yaml(text: str, display: str, default_name: str | None = None) -> Rubric:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RubricError(f"{display}{line}: invalid YAML: {problem}") from None
    lines = key_lines(node)
    if not isinstance(data, dict):
        raise RubricError(f"{display}:1: a rubric file must be a mapping with 'dimensions'")
    return _build(data, display, lines, default_name or Path(display).stem)


def _build(
    spec: Mapping[str, Any], where: str, lines: Mapping[tuple[Any, ...], int], default_name: str
) -> Rubric:
    def fail(path: Sequence[Any], message: str) -> RubricError:
        key = tuple(str(p) if not isinstance(p, int) else p for p in path)
        while key and key not in lines:
            key = key[:-1]
        loc = f"{where}:{lines[key]}" if key in lines else where
        name = _dotted(path)
        return RubricError(f"{loc}: field {name!r}: {message}" if name else f"{loc}: {message}")

    from jsonschema import Draft202012Validator

    data = _stringify_level_keys(spec)
    errors = sorted(Draft202012Validator(RUBRIC_SCHEMA).iter_errors(data), key=lambda e: e.path)
    if errors:
        err = errors[0]
        if err.validator == "required":
            missing = err.message.split("'")[1]
            raise fail([*err.path, missing], "missing")
        raise fail(list(err.path), _one_line(err.message))
    scale_spec = data.get("scale", [1, 5])
    scale = (int(scale_spec[0]), int(scale_spec[1]))
    pass_mark = float(data.get("pass_mark", 3.5))
    dimensions = tuple(
        Dimension(
            name=d["name"],
            description=" ".join(d["description"].split()),
            levels={int(k): " ".join(v.split()) for k, v in d["levels"].items()},
            min_pass=None if d.get("min_pass") is None else int(d["min_pass"]),
        )
        for d in data["dimensions"]
    )
    problem = _first_problem(dimensions, scale, pass_mark)
    if problem is not None:
        raise fail(*problem)
    return Rubric(
        name=data.get("name", default_name),
        dimensions=dimensions,
        scale=scale,
        pass_mark=pass_mark,
        instructions=" ".join(data.get("instructions", "").split()),
    )


def _stringify_level_keys(spec: Mapping[str, Any]) -> dict[str, Any]:
    """YAML reads ``1:`` as an int key; JSON Schema checks property names as strings."""
    data = dict(spec)
    dims = data.get("dimensions")
    if isinstance(dims, list):
        fixed: list[Any] = []
        for d in dims:
            if isinstance(d, dict) and isinstance(d.get("levels"), dict):
                d = {**d, "levels": {str(k): v for k, v in d["levels"].items()}}
            fixed.append(d)
        data["dimensions"] = fixed
    return data


def _first_problem(
    dimensions: Sequence[Dimension], scale: tuple[int, int], pass_mark: float
) -> tuple[tuple[Any, ...], str] | None:
    """The first semantic error (key path, message) the schema cannot express, or None."""
    lo, hi = scale
    if lo >= hi:
        return ("scale",), f"the low end must be below the high end, got [{lo}, {hi}]"
    if not lo <= pass_mark <= hi:
        return ("pass_mark",), f"{pass_mark:g} is outside the scale {lo}-{hi}"
    if not dimensions:
        return ("dimensions",), "a rubric needs at least one dimension"
    seen: dict[str, int] = {}
    reserved = {normalize_key(a) for a in _RATIONALE_ALIASES}
    for i, dim in enumerate(dimensions):
        if not re.match(_NAME_RE, dim.name):
            return ("dimensions", i, "name"), f"{dim.name!r} is not snake_case"
        key = normalize_key(dim.name)
        if key in reserved:
            return ("dimensions", i, "name"), f"{dim.name!r} is reserved for the rationale"
        if key in seen:
            return ("dimensions", i, "name"), f"{dim.name!r} duplicates dimension {seen[key]}"
        seen[key] = i
        for level in dim.levels:
            if not lo <= level <= hi:
                return ("dimensions", i, "levels", str(level)), f"level outside {lo}-{hi}"
        if lo not in dim.levels or hi not in dim.levels:
            return ("dimensions", i, "levels"), f"describe at least levels {lo} and {hi}"
        if dim.min_pass is not None and not lo <= dim.min_pass <= hi:
            return ("dimensions", i, "min_pass"), f"{dim.min_pass} is outside {lo}-{hi}"
    return None


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path)
