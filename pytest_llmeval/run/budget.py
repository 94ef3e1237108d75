"""A budget that stops a run cleanly: no request is started when what was spent, what is in
flight (at its most) and what the request may cost would pass the budget. A request's cost
is bounded before it is sent by its prompt tokens and its ``max_tokens``, so the run never
spends more than the budget (plus one request's estimate error, where prompt tokens are
approximated). No pytest here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_llmeval.models import tokens
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError
from pytest_llmeval.models.prices import Price


class BudgetStop(ModelError):
    """The request was not sent: it could have passed the budget."""


@dataclass
class Estimate:
    usd: float
    tokens: int


@dataclass
class Budget:
    """USD and/or tokens; ``None`` for no limit of that kind."""

    usd: float | None = None
    tokens: int | None = None
    spent_usd: float = 0.0
    spent_tokens: int = 0
    reserved_usd: float = 0.0
    reserved_tokens: int = 0
    unsent: int = 0
    stopped_at: dict[str, float] = field(default_factory=dict)  # what was known at the stop

    def admit(self, est: Estimate) -> bool:
        over_usd = self.usd is not None and (
            self.spent_usd + self.reserved_usd + est.usd > self.usd + 1e-12
        )
        over_tokens = self.tokens is not None and (
            self.spent_tokens + self.reserved_tokens + est.tokens > self.tokens
        )
        if over_usd or over_tokens:
            self.unsent += 1
            if not self.stopped_at:
                self.stopped_at = {
                    "spent_usd": self.spent_usd,
                    "in_flight_usd": self.reserved_usd,
                    "spent_tokens": float(self.spent_tokens),
                }
            return False
        self.reserved_usd += est.usd
        self.reserved_tokens += est.tokens
        return True

    def settle(self, est: Estimate, usd: float, used_tokens: int) -> None:
        self.reserved_usd -= est.usd
        self.reserved_tokens -= est.tokens
        self.spent_usd += usd
        self.spent_tokens += used_tokens

    def describe(self) -> str:
        parts = []
        if self.usd is not None:
            parts.append(f"${self.usd:g}")
        if self.tokens is not None:
            parts.append(f"{self.tokens:,} tokens")
        return " and ".join(parts)


def estimator(
    price: Price | None, spec: str | None
) -> Callable[[Sequence[Message], GenerateParams], Estimate]:
    """The most a request may cost: its prompt tokens and all of its ``max_tokens``."""

    def estimate(messages: Sequence[Message], params: GenerateParams) -> Estimate:
        prompt = tokens.count(messages, spec)
        if params.tools:
            prompt += tokens.count([{"tools": list(params.tools)}], spec)
        usd = price.cost(prompt, params.max_tokens) if price is not None else 0.0
        return Estimate(usd, prompt + params.max_tokens)

    return estimate


def pricer(price: Price | None) -> Callable[[Completion], float | None]:
    """A call's cost: what the server reported, else its tokens at the table's price."""

    def cost(comp: Completion) -> float | None:
        reported = comp.metadata.get("server_cost_usd")
        if isinstance(reported, int | float):
            return float(reported)
        if price is None:
            return None
        cached = int(comp.metadata.get("cached_tokens") or 0)
        batch = bool(comp.metadata.get("batch"))
        return price.cost(comp.prompt_tokens, comp.completion_tokens, cached, batch)

    return cost
