"""pytest-llmeval: LLM evals as pytest tests.

Importing this package (and the pytest plugin) stays cheap: no torch, transformers or
openai is imported until a model that needs it is used.

The public API: ``from pytest_llmeval import Results`` (stored runs), and
``from pytest_llmeval.scorers import Score, scorer`` (scorers of your own), and
``from pytest_llmeval import solver`` (a sample's own multi-step program).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pytest_llmeval.store.results import Results, Run

__all__ = ["Results", "Run", "__version__", "solver"]


def __getattr__(name: str) -> Any:
    # lazy, so that importing the plugin does not open the storage layer
    if name == "solver":
        from pytest_llmeval.solvers import solver

        return solver
    if name in ("Results", "Run"):
        from pytest_llmeval.store import results

        return getattr(results, name)
    raise AttributeError(f"module 'pytest_llmeval' has no attribute {name!r}")
