"""Print a pip constraints file that pins every dependency to its declared lower bound.

    python scripts/lower_bounds.py > lower.txt
    pip install torch==2.13.0 && pip install -c lower.txt -e '.[dev]'

Reads ``pyproject.toml`` (the core dependencies and every extra) and prints ``name==X`` for
each requirement with a ``>=X`` bound: the oldest versions the project says it works with,
which the CI's lower-bounds job installs and tests. Extras are dropped from the name
(``openai[aiohttp]>=1.90`` pins ``openai==1.90``), environment markers are kept, and a
package named twice is pinned to the higher of its bounds. ``--exclude NAME`` leaves a
package out (the CI installs torch on its own). Standard library only, so it runs before
anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Collection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name, [extras], version specifiers, ; marker  (PEP 508 without URLs)
_REQUIREMENT = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*
        (?:\[(?P<extras>[^\]]*)\])?\s*
        (?P<specs>[^;]*?)\s*
        (?:;\s*(?P<marker>.+?))?\s*$""",
    re.VERBOSE,
)
_LOWER = re.compile(r"^>=\s*([0-9][A-Za-z0-9.+!-]*)$")


def normalize(name: str) -> str:
    """The PEP 503 form of a project name (``prometheus_client`` == ``prometheus-client``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0]))


def requirements(pyproject: dict[str, object]) -> list[str]:
    """The core dependencies and those of every extra, in file order."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return reqs


def lower_bounds(pyproject: dict[str, object]) -> dict[str, tuple[str, str, str | None]]:
    """``{normalized name: (name as written, lower bound, marker)}`` for every ``>=`` bound."""
    self_name = normalize(str(pyproject["project"]["name"]))  # type: ignore[index]
    bounds: dict[str, tuple[str, str, str | None]] = {}
    for req in requirements(pyproject):
        m = _REQUIREMENT.match(req)
        if m is None:
            raise ValueError(f"cannot parse requirement {req!r}")
        key = normalize(m["name"])
        if key == self_name:  # pytest-llmeval[local,...]: the project's own extras
            continue
        for spec in filter(None, (s.strip() for s in m["specs"].split(","))):
            low = _LOWER.match(spec)
            if low is None:
                continue
            version = low[1]
            seen = bounds.get(key)
            if seen is None or _version_key(version) > _version_key(seen[1]):
                bounds[key] = (m["name"], version, m["marker"])
    return bounds


def constraints(pyproject: dict[str, object], exclude: Collection[str] = ()) -> str:
    lines = []
    for key, (name, version, marker) in lower_bounds(pyproject).items():
        if key in exclude:
            continue
        lines.append(f"{name}=={version}" + (f" ; {marker}" if marker else ""))
    return "".join(line + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", nargs="?", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="leave this package out (repeatable)",
    )
    args = parser.parse_args(argv)
    with args.pyproject.open("rb") as f:
        data = tomllib.load(f)
    sys.stdout.write(constraints(data, {normalize(n) for n in args.exclude}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
