"""Real third-party OpenAI-compatible servers, started once per test session on a free
loopback port and serving the same tiny random Llama (tests/tinymodel.py):

* ``transformers_server``: ``transformers serve`` (needs ``transformers[serving]``, in ``[dev]``);
* ``llama_cpp_server``: llama.cpp's server from llama-cpp-python, on a GGUF converted from that
  model at test time. It skips, saying why, unless ``llama_cpp`` with its ``[server]`` extra
  is installed and the converter from its sdist is cached: ``scripts/build_llama_cpp_wheel.sh``
  does both (the wheel compiles once, for 6 to 13 minutes on 2 cores).

A test module that needs them says ``pytest_plugins = ["servers"]``: registered as a plugin,
these session fixtures are shared by every module, so each server starts once. Test modules
also import names from here before pytest registers it, hence PYTEST_DONT_REWRITE (this module
asserts nothing; without the marker pytest warns that it cannot rewrite it).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tinymodel

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-llmeval"
#: The context llama.cpp's server is started with: the tiny model's own (max_position_embeddings)
LLAMA_N_CTX = 1024
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Served:
    """A running server: what to pass as ``--model openai/<model>`` and ``--llmeval-base-url``."""

    name: str  # the server and its version, for messages
    base_url: str
    model: str  # the model name the server answers to
    log: Path  # its stdout and stderr

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(
    command: list[str], ready_url: str, log: Path, what: str, timeout: float = 90
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``ready_url`` answers, stop it with SIGTERM at the end.

    Output goes to a file, not a pipe: nobody reads a pipe while tests run, and a server
    that logs every request would block once the pipe's buffer fills.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    pytest.fail(f"{what} did not start ({' '.join(command)}):\n{tail}")
                time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a tokenizer trained on the project's data, saved like a
    real checkpoint (config, safetensors, tokenizer, chat template)."""
    pytest.importorskip("transformers")
    import torch

    torch.set_num_threads(1)
    return tinymodel.build(tmp_path_factory.mktemp("tiny") / "model")


@contextlib.contextmanager
def transformers_serving(model: Path, root: Path) -> Iterator[Served]:
    """``transformers serve`` pinned to ``model``: it answers to the model's path only."""
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    exe = shutil.which("transformers") or str(Path(sys.executable).with_name("transformers"))
    if not Path(exe).exists():
        pytest.skip("the transformers command is not installed")
    port = free_port()
    log = root / "server.log"
    command = [exe, "serve", str(model), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--device", "cpu"]
    with running(command, f"http://127.0.0.1:{port}/health", log, "transformers serve"):
        yield Served(
            name=f"transformers serve {importlib.metadata.version('transformers')}",
            base_url=f"http://127.0.0.1:{port}/v1",
            model=str(model),
            log=log,
        )


@pytest.fixture(scope="session")
def transformers_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """``transformers serve`` pinned to the tiny model."""
    with transformers_serving(tiny_model, tmp_path_factory.mktemp("transformers-serve")) as served:
        yield served


def llama_cpp_source(version: str) -> Path:
    """Where ``scripts/build_llama_cpp_wheel.sh`` unpacked the converter of that version."""
    return Path(os.environ.get("LLMEVAL_LLAMA_CPP_SRC") or CACHE / f"llama.cpp-{version}")


def llama_cpp_missing() -> str | None:
    """Why the llama.cpp server cannot run here, or None when it can."""
    hint = "run scripts/build_llama_cpp_wheel.sh (one build of 6-13 min, then cached)"
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed: {hint}"
    for module in ("sse_starlette", "starlette_context", "pydantic_settings", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            return f"llama-cpp-python's [server] extra is missing ({module}): {hint}"
    version = importlib.metadata.version("llama_cpp_python")
    source = llama_cpp_source(version)
    if not (source / "convert_hf_to_gguf.py").exists():
        return f"llama.cpp's GGUF converter for {version} is not in {source}: {hint}"
    return None


def convert_to_gguf(model: Path, out: Path) -> Path:
    """The HF checkpoint as an f32 GGUF, with llama.cpp's own converter (scripts/gguf_convert.py)."""
    source = llama_cpp_source(importlib.metadata.version("llama_cpp_python"))
    script = REPO / "scripts" / "gguf_convert.py"
    done = subprocess.run(
        [sys.executable, str(script), str(source), str(model), str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    if done.returncode != 0 or not out.exists():
        pytest.fail(f"GGUF conversion failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def llama_cpp_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) on the tiny model
    converted to GGUF, with a context of ``LLAMA_N_CTX`` tokens and one thread."""
    reason = llama_cpp_missing()
    if reason:
        pytest.skip(reason)
    tiny_model: Path = request.getfixturevalue("tiny_model")  # only once it can be served
    root = tmp_path_factory.mktemp("llama-cpp")
    gguf = convert_to_gguf(tiny_model, root / "tiny-f32.gguf")
    port = free_port()
    alias = "tiny-gguf"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    command += ["--model_alias", alias, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(LLAMA_N_CTX), "--n_threads", "1", "--n_threads_batch", "1"]
    with running(command, f"http://127.0.0.1:{port}/v1/models", root / "server.log", "llama.cpp"):
        yield Served(
            name=f"llama-cpp-python {importlib.metadata.version('llama_cpp_python')} server",
            base_url=f"http://127.0.0.1:{port}/v1",
            model=alias,
            log=root / "server.log",
        )
