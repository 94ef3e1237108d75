"""The scorer contract: a typed callable from (sample, completion) to a frozen Score."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one sample.

    ``value`` is what gets averaged into the metric of the same name; ``passed`` is the
    per-sample verdict (None when the scorer only measures); ``metadata`` holds JSON-safe
    extras (precision and recall beside an F1, the parsed object, ...).
    """

    value: float
    passed: bool | None = None
    explanation: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "passed": self.passed}
        if self.explanation:
            out["explanation"] = self.explanation
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


Scorer = Callable[["Sample", "Completion"], Score]


class OptionError(ValueError):
    """A scorer's options are wrong: the message names the option and what is wrong."""


@dataclass(frozen=True)
class Option:
    """A keyword-only parameter of a scorer, set in a suite: ``- regex: {pattern: '...'}``."""

    name: str
    required: bool
    default: Any = None
    annotation: str = ""


@dataclass(frozen=True)
class ScorerInfo:
    """A registered scorer: the callable and the metric its values average into.

    A scorer with keyword-only parameters takes them as options in a suite; ``bind`` gives
    the suite's configured copy (``options`` then holds what was set)."""

    name: str
    fn: Scorer
    metric: str
    needs: tuple[str, ...] = ()  # sample fields it reads; "expected": the suite's expected
    params: tuple[Option, ...] = ()  # the options it takes
    options: Mapping[str, Any] = field(default_factory=dict)  # the options bound
    # needs that depend on the options (e.g. a field an option names)
    needs_for: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = field(
        default=None, compare=False
    )
    judged: bool = False  # needs the judge model (a rubric): the suite needs --judge-model
    # scorers a suite adds beside this one, bound with the same options: metrics of their
    # own from the same comparison (tool_call's name and argument accuracy)
    companions: tuple[str, ...] = ()

    def bind(self, options: Mapping[str, Any], name: str | None = None) -> ScorerInfo:
        """This scorer with ``options`` set (checked against its parameters); ``name``
        renames it and its metric within a suite (two ``regex`` scorers side by side)."""
        import difflib

        known = {p.name: p for p in self.params}
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                listed = ", ".join(sorted(known)) or "none"
                raise OptionError(
                    f"scorer {self.name!r} has no option {key!r} ({hint}its options: {listed})"
                )
        missing = [p.name for p in self.params if p.required and p.name not in options]
        if missing:
            raise OptionError(f"scorer {self.name!r} needs option {missing[0]!r}")
        needs = self.needs
        if self.needs_for is not None:
            needs = tuple(dict.fromkeys([*needs, *self.needs_for(options)]))
        fn = functools.partial(self.fn, **options) if options else self.fn
        renamed = name is not None and name != self.name
        return replace(
            self,
            name=name or self.name,
            metric=name if renamed and name else self.metric,
            fn=fn,
            options=dict(options),
            needs=needs,
        )


SCORERS: dict[str, ScorerInfo] = {}
EXPECTED = "expected"  # in ``needs``: the field the suite names with ``expected:``


def scorer(
    name: str,
    *,
    metric: str | None = None,
    needs: tuple[str, ...] | list[str] = (),
    needs_for: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None,
    judged: bool = False,
    companions: tuple[str, ...] = (),
) -> Callable[[Scorer], Scorer]:
    """Register ``fn`` under ``name``; suites refer to scorers by this name.

    ``metric`` names the aggregate (default: the scorer's own name), so a per-sample
    ``json_parse`` check can aggregate into ``parse_rate``. ``needs`` lists the sample
    fields the scorer reads, checked in every sample at collection; ``"expected"`` means
    the suite's expected answer (``sample.expected``), whichever field that is.
    Keyword-only parameters after ``(sample, completion, *, ...)`` are the scorer's
    options, set in a suite as ``- NAME: {option: value}``; a parameter without a default
    must be set. ``companions`` name scorers added beside this one with the same options;
    ``judged`` marks a scorer that reads a judge's verdict (the suite needs a judge model).
    """

    def register(fn: Scorer) -> Scorer:
        SCORERS[name] = ScorerInfo(
            name, fn, metric or name, tuple(needs), _options(fn), needs_for=needs_for,
            judged=judged, companions=companions,
        )  # fmt: skip
        return fn

    return register


def _options(fn: Callable[..., Any]) -> tuple[Option, ...]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ()
    out = []
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            required = p.default is inspect.Parameter.empty
            annotation = p.annotation if isinstance(p.annotation, str) else ""
            out.append(Option(p.name, required, None if required else p.default, annotation))
    return tuple(out)


def get_scorer(name: str) -> ScorerInfo:
    """Look up a registered scorer; KeyError names the closest known ones."""
    from pytest_llmeval import scorers as _builtins  # noqa: F401  (registers the built-ins)

    try:
        return SCORERS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(SCORERS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(sorted(SCORERS))
        raise KeyError(f"unknown scorer {name!r} ({hint}known: {known})") from None
