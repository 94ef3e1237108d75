"""What the benchmark scripts share: one timed child run in a clean environment, and the
plain-text table they print. No benchmark logic lives here."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Options a developer's shell may carry that would change what the child measures.
_DROP = ("PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE")


@dataclass(frozen=True)
class Child:
    output: str
    returncode: int  # -1 when it ran past its timeout
    wall_s: float
    cpu_s: float  # user + system time of the child and its own children (xdist workers)
    timed_out: bool


def child_env(root: Path, drop: Iterable[str] = (), **extra: str) -> dict[str, str]:
    """This environment without the options that would skew a run. Bytecode is cached (as
    for any user) inside the temporary project: warm-up runs compile, timed runs do not,
    and nothing is written into the repository."""
    env = {**os.environ, **extra}
    for name in (*_DROP, *drop):
        env.pop(name, None)
    env["PYTHONPYCACHEPREFIX"] = str(root / ".pycache")
    return env


def run_child(cmd: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> Child:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, returncode, timed_out = proc.stdout, proc.returncode, False
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or ""
        output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        output += f"\n[bench] timed out after {timeout:g} s"
        returncode, timed_out = -1, True
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Child(output, returncode, wall, cpu, timed_out)


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Iterable[int]) -> str:
    """Columns padded to fit; the ``numeric`` column indexes are right-aligned."""
    right = set(numeric)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), sep, *(line(row) for row in rows)])
