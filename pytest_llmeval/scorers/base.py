"""The scorer contract: a typed callable from (sample, completion) to a frozen Score."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ScorerInfo:
    """A registered scorer: the callable and the metric its values average into."""

    name: str
    fn: Scorer
    metric: str
    needs: tuple[str, ...] = ()  # sample fields it reads; "expected": the suite's expected


SCORERS: dict[str, ScorerInfo] = {}
EXPECTED = "expected"  # in ``needs``: the field the suite names with ``expected:``


def scorer(
    name: str, *, metric: str | None = None, needs: tuple[str, ...] | list[str] = ()
) -> Callable[[Scorer], Scorer]:
    """Register ``fn`` under ``name``; suites refer to scorers by this name.

    ``metric`` names the aggregate (default: the scorer's own name), so a per-sample
    ``json_parse`` check can aggregate into ``parse_rate``. ``needs`` lists the sample
    fields the scorer reads, checked in every sample at collection; ``"expected"`` means
    the suite's expected answer (``sample.expected``), whichever field that is.
    """

    def register(fn: Scorer) -> Scorer:
        SCORERS[name] = ScorerInfo(name, fn, metric or name, tuple(needs))
        return fn

    return register


def get_scorer(name: str) -> ScorerInfo:
    """Look up a registered scorer; KeyError lists the known names."""
    from pytest_llmeval import scorers as _builtins  # noqa: F401  (registers the built-ins)

    try:
        return SCORERS[name]
    except KeyError:
        known = ", ".join(sorted(SCORERS))
        raise KeyError(f"unknown scorer {name!r} (known: {known})") from None
