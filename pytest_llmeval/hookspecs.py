"""pytest-llmeval's own hooks. Implement them in a conftest.py or a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.models import Model, ModelSettings


@pytest.hookspec(firstresult=True)
def pytest_llmeval_make_model(config: pytest.Config, settings: ModelSettings) -> Model | None:
    """Build the model for ``settings.spec``; return None to let the next plugin try.

    Use it to plug in your own provider::

        # conftest.py
        def pytest_llmeval_make_model(config, settings):
            if settings.spec.startswith("mine/"):
                return MyModel(settings)  # .spec, .identity(), async .agenerate(), .aclose()
    """


def pytest_llmeval_result(config: pytest.Config, row: dict[str, Any]) -> None:
    """Called on the controller for every sample result before it is stored.

    ``row`` holds JSON primitives (task, sample_id, output, scores, passed, error,
    latency_ms...). Mutating it changes what is stored::

        def pytest_llmeval_result(config, row):
            row["output"] = row["output"][:1000]
    """


def pytest_llmeval_summary(config: pytest.Config, summary: dict[str, Any]) -> None:
    """Called on the controller once per session with the run's metrics and verdicts::

    def pytest_llmeval_summary(config, summary):
        print(summary["run_id"], summary["metrics"]["qa"][""]["accuracy"]["value"])
    """
