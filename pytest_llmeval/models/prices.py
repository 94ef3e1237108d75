"""What tokens cost: a price table in the project's config, USD per million tokens by model
spec or glob. No price is built in (they go stale); a cost the server reports in its
``usage`` is taken as it is.

    # pyproject.toml
    [tool.llmeval.prices]
    "gpt-4o-mini" = { input = 0.15, cached_input = 0.075, output = 0.60, batch_discount = 0.5 }
    "openai/*" = { input = 0.0, output = 0.0 }

or the same table as a YAML mapping in a file named by ``--llmeval-prices``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PER = 1_000_000  # prices are per million tokens


class PriceError(ValueError):
    """A malformed price table; the message names the file and the entry."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens; ``batch_discount`` multiplies what the Batch API costs."""

    input: float
    output: float
    cached_input: float | None = None
    batch_discount: float = 1.0

    def cost(
        self, prompt: int | None, completion: int | None, cached: int = 0, batch: bool = False
    ) -> float:
        """The cost of one call's tokens; cached prompt tokens at their own rate."""
        prompt, completion = prompt or 0, completion or 0
        cached = min(max(cached, 0), prompt)
        rate = self.input if self.cached_input is None else self.cached_input
        usd = ((prompt - cached) * self.input + cached * rate + completion * self.output) / PER
        return usd * (self.batch_discount if batch else 1.0)


@dataclass(frozen=True)
class Prices:
    """The table, in the order written: the exact spec first, then the first glob."""

    entries: tuple[tuple[str, Price], ...] = ()
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.entries)

    def for_spec(self, spec: str | None) -> Price | None:
        if not spec:
            return None
        names = _names(spec)
        table = dict(self.entries)
        for name in names:
            if name in table:
                return table[name]
        for pattern, price in self.entries:
            if any(fnmatch.fnmatchcase(n, pattern) for n in names):
                return price
        return None


def _names(spec: str) -> list[str]:
    """A bare name means OpenAI: ``gpt-4o-mini`` is also ``openai/gpt-4o-mini``."""
    provider, _, name = spec.partition("/")
    if not name:
        return [spec, f"openai/{spec}"]
    return [spec, name] if provider == "openai" else [spec]


def parse(table: Mapping[str, Any], source: str) -> Prices:
    entries = []
    for key, value in table.items():
        where = f"{source} {key!r}"
        if not isinstance(value, Mapping):
            raise PriceError(f"{where}: expected a table such as {{ input = 0.15, output = 0.6 }}")
        unknown = set(value) - {"input", "output", "cached_input", "batch_discount"}
        if unknown:
            raise PriceError(
                f"{where}: unknown key {sorted(unknown)[0]!r} (known: batch_discount, "
                "cached_input, input, output)"
            )
        numbers = {}
        for name in ("input", "output", "cached_input", "batch_discount"):
            if name not in value:
                if name in ("input", "output"):
                    raise PriceError(f"{where}: {name!r} missing (USD per million tokens)")
                continue
            v = value[name]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise PriceError(f"{where}: {name!r} must be a number >= 0, got {v!r}")
            numbers[name] = float(v)
        discount = numbers.get("batch_discount", 1.0)
        if not 0 < discount <= 1:
            raise PriceError(f"{where}: 'batch_discount' must be in (0, 1], got {discount:g}")
        entries.append((str(key), Price(**numbers)))
    return Prices(tuple(entries), source)


def load(rootdir: Path, path: str | None = None) -> Prices:
    """``--llmeval-prices FILE`` (YAML), else ``[tool.llmeval.prices]`` in pyproject.toml."""
    if path:
        import yaml

        file = Path(path) if Path(path).is_absolute() else rootdir / path
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise PriceError(f"--llmeval-prices: cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PriceError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise PriceError(f"{path}: expected a mapping of model specs to prices")
        return parse(data, path)
    pyproject = rootdir / "pyproject.toml"
    if not pyproject.is_file():
        return Prices()
    import tomllib

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return Prices()  # reported where the thresholds are read
    table = data.get("tool", {}).get("llmeval", {}).get("prices", {})
    return parse(table, "pyproject.toml [tool.llmeval.prices]") if table else Prices()
