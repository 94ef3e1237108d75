from __future__ import annotations

from collections.abc import Iterator

import pytest
from evalkit import EvalProject
from llm_server import LLMServer  # tests/ is on sys.path (rootdir conftest)

# ---------------------------------------------------------------------------------------------
# Fake OpenAI-compatible server (tests/llm_server.py).
# `llm_server_process`: one server subprocess for the whole test session (one per xdist worker).
# `llm_server`: the same handle, reset to its start-up settings, stats and counters before each
# test, so every test starts from the defaults.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_server_process() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm_server(llm_server_process: LLMServer) -> Iterator[LLMServer]:
    llm_server_process.reset()
    yield llm_server_process


# ---------------------------------------------------------------------------------------------
# end of the fake-server block
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester, llm_server: LLMServer) -> EvalProject:
    """A fresh pytester project pointed at the (reset) test server."""
    return EvalProject(pytester, llm_server)
