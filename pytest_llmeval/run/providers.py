"""The run's side of the provider registry (``models/registry.py``): a conftest's
``pytest_llmeval_make_model`` hook comes first, then the registered providers; and where a
provider's notices go while the run's output is captured.
"""

from __future__ import annotations

import os
import threading

import pytest

from pytest_llmeval.models import ModelSettings, create_model, registry
from pytest_llmeval.models.base import Model

# Models a hook built when asked about a provider nobody registered, by flag: the run uses
# that very object rather than build a second one.
claimed_key = pytest.StashKey[dict[str, Model]]()


def check(
    config: pytest.Config,
    settings: ModelSettings,
    flag: str = "--model",
    url_flag: str = "--llmeval-base-url",
) -> None:
    """Raise SpecError for settings that would fail on every sample. A provider nobody
    registered is the hook's to claim: it is asked now, so ``--model typo/x`` is a usage
    error before any test runs whatever conftest.py says."""
    provider = registry.find(settings.provider, settings.spec, flag)
    if provider is not None:
        provider.validate(settings, flag, url_flag)
        return
    hook = config.hook.pytest_llmeval_make_model
    model = hook(config=config, settings=settings)
    if model is None:
        raise registry.unknown(settings.spec, settings.provider, flag, bool(hook.get_hookimpls()))
    config.stash.setdefault(claimed_key, {})[flag] = model


def build(config: pytest.Config, settings: ModelSettings, flag: str = "--model") -> Model:
    """The model for ``settings``: the hook's (asked first), else the registered provider's."""
    claimed = config.stash.get(claimed_key, {}).pop(flag, None)
    if claimed is not None and getattr(claimed, "spec", settings.spec) == settings.spec:
        return claimed
    model = config.hook.pytest_llmeval_make_model(config=config, settings=settings)
    return model if model is not None else create_model(settings, flag)


def route_notices(config: pytest.Config) -> None:
    """Send providers' notices (a local model's loading lines) to this process's stderr as
    it was before any test ran: a duplicate of that descriptor, which pytest's per-test
    capture does not redirect. Not the terminal reporter: notices come from the engine's
    thread while a test holds the capture, and only the main thread may lift it. Also what
    an xdist worker surfaces: its stdout is execnet's channel, its stderr the terminal's."""
    try:
        stream = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return  # no stderr to speak of: notices go to sys.stderr
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    lock = threading.Lock()

    def sink(line: str) -> None:
        with lock:
            # on a line of its own, not after pytest's progress dots (a terminal shows
            # stdout and stderr as one)
            open_line = getattr(reporter, "currentfspath", None) is not None
            stream.write(("\n" if open_line else "") + line + "\n")
            stream.flush()

    registry.set_notice_sink(sink)
    config.add_cleanup(stream.close)
    config.add_cleanup(lambda: registry.set_notice_sink(None))
