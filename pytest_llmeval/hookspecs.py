"""pytest-llmeval's own hooks. Implement them in a conftest.py or a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_llmeval.models import Model, ModelSettings
    from pytest_llmeval.result import SampleResult


@pytest.hookspec(firstresult=True)
def pytest_llmeval_make_model(config: pytest.Config, settings: ModelSettings) -> Model | None:
    """Build the model for ``settings.spec``; return None to let the next plugin try.

    Use it to plug in your own provider::

        # conftest.py
        def pytest_llmeval_make_model(config, settings):
            if settings.spec.startswith("mine/"):
                return MyModel(settings)  # .spec, .identity(), async .agenerate(), .aclose()
    """


@pytest.hookspec(firstresult=True)
def pytest_llmeval_result(config: pytest.Config, result: SampleResult) -> SampleResult | None:
    """Called on the controller for every sample's result before it is stored.

    ``result`` is frozen; return a changed copy to change what is stored::

        def pytest_llmeval_result(config, result):
            if result.model and len(result.model.output) > 1000:
                model = dataclasses.replace(result.model, output=result.model.output[:1000])
                return result.with_(model=model)
    """


def pytest_llmeval_summary(config: pytest.Config, summary: dict[str, Any]) -> None:
    """Called on the controller once per session with the run's metrics and verdicts::

    def pytest_llmeval_summary(config, summary):
        print(summary["run_id"], summary["metrics"]["qa"][""]["accuracy"]["value"])
    """
