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

    Asked first for every ``--model`` and ``--judge-model`` spec, before the registered
    providers (``hf/``, ``openai/``, entry points), so it may also take over one of theirs.
    A provider nobody registered (``mine/`` below) is asked for once before any test runs,
    in each process: returning None for it there is the usage error ``unknown provider``,
    and the model returned is the one the run uses. Keep building cheap: connect or load
    weights on first use. A model gives ``.spec``, ``.identity()`` (what distinguishes its
    answers: part of every cache key), ``async .agenerate(messages, params)`` and
    ``async .aclose()``; raise ``ModelError`` for a failed call (``retryable=True`` to
    have it retried).

    Use it to plug in your own provider, here one that echoes the prompt
    (``pytest evals/ --model mine/echo``)::

        # conftest.py
        from pytest_llmeval.models import Completion


        class EchoModel:
            def __init__(self, settings):
                self.spec = settings.spec

            def identity(self):
                return {"provider": "mine", "model": "echo"}

            async def agenerate(self, messages, params):
                text = messages[-1]["content"][: params.max_tokens]
                return Completion(text=text, finish_reason="stop", model="echo")

            async def aclose(self):
                pass


        def pytest_llmeval_make_model(config, settings):
            if settings.provider == "mine":
                return EchoModel(settings)

    A provider in a package registers through an entry point instead (README: "Your own
    provider").
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
