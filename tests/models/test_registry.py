"""Providers of one's own: the ``pytest_llmeval_make_model`` hook (its documented example,
run verbatim) and the ``pytest_llmeval.providers`` entry point group of a packaged
provider, both driven end to end with pytester; and the usage errors of a spec that no
provider takes."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest
from evalkit import EvalProject

from pytest_llmeval import hookspecs
from pytest_llmeval.models import ModelSettings, SpecError, check_settings, identity, registry


def hook_example() -> str:
    """The code block of the hook's docstring, exactly as the docs show it."""
    doc = inspect.getdoc(hookspecs.pytest_llmeval_make_model) or ""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("::")) + 1
    block = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def _args(project: EvalProject, spec: str, *extra: str) -> list[str]:
    return [
        "evals/",
        "--model",
        spec,
        "--llmeval-db",
        str(project.db),
        "-p",
        "no:cacheprovider",
        "--max-tokens",
        "40",
        *extra,
    ]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_hook_docstring_example_runs_verbatim(project: EvalProject, workers: list[str]) -> None:
    example = hook_example()
    assert example.startswith("# conftest.py") and "class EchoModel" in example
    project.pytester.makeconftest(example)
    records = project.qa_suite(3)
    result = project.pytester.runpytest_subprocess(*_args(project, "mine/echo", *workers))
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3, result.stdout.str()
    assert "error" not in outcomes and "errors" not in outcomes
    run = project.runs()[-1]
    assert run["model"] == "mine/echo" and run["status"] == "complete"
    rows = project.results()
    assert [r["sample_id"] for r in rows] == [r["id"] for r in records]
    for row in rows:
        # the echo of the prompt: its first 40 characters, which hold the question's start
        assert row["error"] is None and len(row["output"]) == 40
    # its identity is part of every cache key: a rerun is served from the cache
    again = project.pytester.runpytest_subprocess(*_args(project, "mine/echo", "-rA"))
    assert again.ret == result.ret
    assert [r["output"] for r in project.results()] == [r["output"] for r in rows]
    assert all(r["cached"] for r in project.results())


def test_a_provider_nobody_takes_is_a_usage_error_before_any_test_runs(
    project: EvalProject,
) -> None:
    project.pytester.makeconftest(hook_example())
    project.qa_suite(2)
    result = project.pytester.runpytest_subprocess(*_args(project, "mien/echo"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--model 'mien/echo': unknown provider 'mien' (known: openai/, hf/, embedded/" in err
    assert "no pytest_llmeval_make_model hook built it" in err
    assert "Traceback" not in err
    assert project.server.request_log() == []


ENTRY_POINT_PROVIDER = '''
"""A provider in its own package: declared with registry.Provider."""
from pytest_llmeval.models import Completion, SpecError
from pytest_llmeval.models.registry import Provider


class Reverse:
    def __init__(self, settings):
        self.spec = settings.spec

    def identity(self):
        return {"provider": "reverse", "model": "x"}

    async def agenerate(self, messages, params):
        return Completion(text=messages[-1]["content"][::-1][:20], finish_reason="stop")

    async def aclose(self):
        pass


def check(settings, flag, url_flag):
    if settings.name != "x":
        raise SpecError(f"{flag} {settings.spec!r}: reverse/ has one model, reverse/x")


PROVIDER = Provider("reverse", build=Reverse, check=check)
# a plain model class also registers (all else defaults)
PLAIN = Reverse
# a declaration under the wrong name
WRONG = Provider("other", build=Reverse)
'''


def _install_package(site: Path) -> None:
    """A provider package as pip would leave it: a module and its dist-info."""
    site.mkdir()
    (site / "reverse_provider.py").write_text(ENTRY_POINT_PROVIDER)
    info = site / "reverse_provider-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reverse-provider\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pytest_llmeval.providers]\n"
        "reverse = reverse_provider:PROVIDER\n"
        "plain = reverse_provider:PLAIN\n"
        "wrong = reverse_provider:WRONG\n"
        "missing = no_such_module:PROVIDER\n"
        # a package cannot take a built-in provider's name
        "hf = reverse_provider:PROVIDER\n"
    )


def test_a_packaged_provider_registers_through_an_entry_point(
    project: EvalProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = project.path / "site"
    _install_package(site)
    monkeypatch.syspath_prepend(str(site))  # this process (the registry calls below)
    monkeypatch.setenv("PYTHONPATH", str(site))  # pytest's subprocesses
    project.qa_suite(2)

    result = project.pytester.runpytest_subprocess(*_args(project, "reverse/x", "-n", "2"))
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2, result.stdout.str()
    rows = project.results()
    assert all(r["error"] is None and len(r["output"]) == 20 for r in rows)
    assert project.runs()[-1]["model"] == "reverse/x"

    # its own check runs before any test
    result = project.pytester.runpytest_subprocess(*_args(project, "reverse/y"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--model 'reverse/y': reverse/ has one model, reverse/x" in result.stderr.str()

    # the registry, as the llmeval command sees it (no pytest involved)
    assert registry.names()[:3] == ["openai", "hf", "embedded"]
    assert {"reverse", "plain", "wrong", "missing"} <= set(registry.names())
    assert registry.names().count("hf") == 1
    plain = registry.find("plain")
    assert plain is not None and plain.name == "plain"
    assert identity(ModelSettings("plain/m")) == {"provider": "plain", "model": "m"}
    with pytest.raises(SpecError, match=r"declares provider 'other', not 'wrong'"):
        check_settings(ModelSettings("wrong/x"))
    with pytest.raises(
        SpecError,
        match=r"provider 'missing' \(no_such_module:PROVIDER, "
        r"entry point of reverse-provider\) cannot be imported",
    ):
        check_settings(ModelSettings("missing/x"))
    # hf/ stays the built-in provider
    hf = registry.find("hf")
    assert hf is not None and hf.options and hf.name == "hf"
    # local-model options belong to the providers that take them
    with pytest.raises(SpecError, match=r"adapter only apply to hf/ models \(not reverse/\)"):
        check_settings(ModelSettings("reverse/x", options={"adapter": "a"}))


def test_the_readme_shows_the_hook_example_that_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"```python\n{hook_example()}```" in readme
