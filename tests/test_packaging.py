"""Packaging: the lower-bounds constraints file, the supported Pythons, constraints.txt."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "lower_bounds.py"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lower_bounds", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    return [Requirement(r) for r in reqs]


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "=="
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_every_lower_bound_is_pinned_to_itself() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True
    ).stdout
    pins = _pins(out)
    expected: dict[str, Version] = {}
    for req in _requirements():
        if canonicalize_name(req.name) == canonicalize_name(PYPROJECT["project"]["name"]):
            continue
        for spec in req.specifier:
            if spec.operator == ">=":
                name = canonicalize_name(req.name)
                expected[name] = max(
                    expected.get(name, Version(spec.version)), Version(spec.version)
                )
    assert {"pytest", "openai", "torch", "transformers", "trl", "mypy"} <= expected.keys()
    assert {n: Version(v) for n, v in pins.items()} == expected
    assert "[" not in out  # openai[aiohttp]>=X pins openai==X: constraints take no extras


def test_lower_bounds_parsing() -> None:
    lb = _script()
    pyproject = {
        "project": {
            "name": "pytest_llmeval",
            "dependencies": [
                "openai[aiohttp]>=1.98",
                "pytest-xdist>=3.5",
                "pyyaml>=6,<7",
                "pandas",
            ],
            "optional-dependencies": {
                "a": ["prometheus_client >= 0.20", "tomli>=2.0; python_version < '3.11'"],
                "b": ["Prometheus-Client>=0.21", "pytest-llmeval[a]", "ruff>=0.5,!=0.6.0"],
                "c": ["prometheus-client>=0.3"],  # lower than 0.21: the higher bound wins
            },
        }
    }
    assert lb.constraints(pyproject).splitlines() == [
        "openai==1.98",
        "pytest-xdist==3.5",
        "pyyaml==6",
        "Prometheus-Client==0.21",
        "tomli==2.0 ; python_version < '3.11'",
        "ruff==0.5",
    ]
    assert "openai" not in lb.constraints(pyproject, {"openai"})


def test_supported_pythons_agree() -> None:
    """requires-python, the classifiers and the CI matrix name the same Pythons."""
    project = PYPROJECT["project"]
    floor = re.fullmatch(r">=\s*3\.(\d+)", project["requires-python"])
    assert floor is not None, project["requires-python"]
    minors = sorted(
        int(m[1])
        for c in project["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert minors == list(range(int(floor[1]), int(floor[1]) + len(minors)))
    assert minors == [11, 12, 13]
    ci = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    matrix = ci["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert matrix == [f"3.{m}" for m in minors]
    lower = ci["jobs"]["lower-bounds"]
    steps = "\n".join(s.get("run", "") for s in lower["steps"])
    assert "scripts/lower_bounds.py" in steps and "-c lower.txt" in steps
    assert any(s.get("with", {}).get("python-version") == f"3.{minors[0]}" for s in lower["steps"])


def test_constraints_txt_satisfies_the_bounds() -> None:
    """The pinned known-good set (.ci/run) lies within every declared range."""
    pins = {
        canonicalize_name(n): v
        for n, v in re.findall(
            r"^([A-Za-z0-9._-]+)==(\S+)", (REPO / "constraints.txt").read_text(), re.M
        )
    }
    for req in _requirements():
        name = canonicalize_name(req.name)
        if name in pins and req.specifier:
            assert SpecifierSet(str(req.specifier)).contains(pins[name]), (req, pins[name])
