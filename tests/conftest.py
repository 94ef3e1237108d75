from __future__ import annotations

from collections.abc import Iterator

# Imported here, before any pytester in-process run: those runs restore sys.modules
# afterwards, and numpy (imported lazily by the plugin's statistics) cannot be imported twice.
import jsonschema  # noqa: F401
import numpy  # noqa: F401
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
        _warm_up_openai(server.base_url)
        yield server


def _warm_up_openai(base_url: str) -> None:
    """Import everything the openai SDK loads lazily on its first request, now.

    pytester's in-process runs restore ``sys.modules`` afterwards; a transport module first
    imported inside one would be re-imported later with new exception classes, and the
    SDK's ``except`` clauses would stop matching (seen as a raw ReadTimeout).
    """
    import asyncio

    import openai

    messages = [{"role": "user", "content": "warm-up"}]
    with openai.OpenAI(base_url=base_url, api_key="test") as client:
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]

    async def once() -> None:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="test") as client:
            await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]

    asyncio.run(once())


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
