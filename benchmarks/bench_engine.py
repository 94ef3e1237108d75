"""Benchmark the pytest-llmeval engine against the test server, next to a plain harness.

Builds a throw-away project (a QA suite of N samples and a plain parametrized pytest file
that calls the openai SDK synchronously and commits one SQLite row per test), starts
``tests/llm_server.py`` with latency, runs every scenario as a ``python -m pytest``
subprocess and prints one table of wall time, throughput, CPU and ratios, then the issue's
targets as PASS/MISS. It measures; it never asserts on absolute times.

    python benchmarks/bench_engine.py            # the default run (N=1000)
    python benchmarks/bench_engine.py --quick    # a smoke run (N=200, fewer scenarios)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from evalkit import answers, qa_records, write_jsonl  # noqa: E402
from harness import child_env, format_table, run_child  # noqa: E402
from llm_server import LLMServer  # noqa: E402

from pytest_llmeval.dataset import Sample  # noqa: E402
from pytest_llmeval.tasks import TASKS  # noqa: E402

MODEL = "bench-model"
GROUPS = (
    "concurrency",
    "xdist",
    "cache",
    "plain",
    "fast",
    "overhead",
    "ratelimit",
    "startup",
    "cpuscore",
    "collect",
)

# collect: the plain harness's collection of the same records, as pytest's own baseline
PLAIN_COLLECT_TEST = """\
import json

import pytest

RECORDS = [json.loads(line) for line in open("data/big.jsonl", encoding="utf-8")]


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_qa(record):
    pass
"""

# A scorer that costs CPU (a busy loop of --scorer-ms per sample) beside the exact match: the
# workload where xdist workers should pay off, since the controller's one process scores
# every sample itself otherwise.
CPU_CONFTEST = """\
from __future__ import annotations

import os
import time

from pytest_llmeval.scorers import Score, scorer

COST_S = float(os.environ.get("BENCH_SCORER_MS", "5")) / 1000


@scorer("cpu_cost")
def cpu_cost(sample, completion):
    end = time.thread_time() + COST_S
    while time.thread_time() < end:
        pass
    return Score(1.0, True)
"""

# The naive harness the issue compares against: one synchronous client per module, one
# request per test, one SQLite commit per row. The prompts are the plugin's own (rendered
# by the benchmark into plain_prompts.json) so both harnesses ask the server the same thing.
PLAIN_TEST = """\
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import openai
import pytest

HERE = Path(__file__).parent
RECORDS = [
    json.loads(line)
    for line in (HERE / "data" / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
][: int(os.environ["BENCH_PLAIN_N"])]
PROMPTS = json.loads((HERE / "plain_prompts.json").read_text(encoding="utf-8"))
CLIENT = openai.OpenAI(base_url=os.environ["BENCH_BASE_URL"], api_key="x", max_retries=2)
MODEL = os.environ["BENCH_MODEL"]
DB = sqlite3.connect(os.environ["BENCH_PLAIN_DB"], timeout=60)
DB.execute(
    "CREATE TABLE IF NOT EXISTS results "
    "(id TEXT, output TEXT, expected TEXT, passed INTEGER, latency_ms REAL)"
)
DB.commit()


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_qa(record):
    start = time.perf_counter()
    response = CLIENT.chat.completions.create(
        model=MODEL, messages=PROMPTS[record["id"]], temperature=0.0, max_tokens=64
    )
    latency = (time.perf_counter() - start) * 1000
    text = (response.choices[0].message.content or "").strip()
    passed = text.lower() == record["expected_answer"].lower()
    DB.execute(
        "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
        (record["id"], text, record["expected_answer"], int(passed), latency),
    )
    DB.commit()
    assert passed, f"expected {record['expected_answer']!r}, got {text!r}"
"""


@dataclass
class Scenario:
    name: str
    kind: str  # "llmeval" or "plain"
    group: str
    latency_ms: float
    n: int
    workers: int = 1
    concurrency: int = 1
    cache: str = "off"  # llmeval --llmeval-cache; "" leaves the default
    db: str = ""  # results db file inside the project (plan() gives each its own by default)
    max_inflight: int = 0
    retry_after_ms: int | None = None
    run_n: int = 0  # samples actually run (plain baseline may run fewer and extrapolate)
    limit: int = 0  # llmeval --llmeval-limit (the warm-up runs only)
    code: str = "after"  # "before" (--before DIR on PYTHONPATH) or "after" (this checkout)
    suite: str = "evals"  # the path pytest is given
    label: str = ""  # the scenario's name without the code


@dataclass
class Result:
    scenario: Scenario
    ok: bool = False
    passed: int = 0
    wall_s: float = 0.0
    pytest_s: float | None = None
    cpu_s: float = 0.0
    extrapolated_from: int | None = None  # run on this many samples, scaled to N
    engine_line: str = ""
    engine: dict[str, int] = field(default_factory=dict)
    server_requests: int | None = None
    server_by_status: dict[int, int] = field(default_factory=dict)
    returncode: int = 0

    @property
    def samples_per_s(self) -> float:
        return self.scenario.n / self.wall_s if self.wall_s else 0.0

    @property
    def limit_s(self) -> float | None:
        s = self.scenario
        if not s.latency_ms:
            return None
        # A server that admits fewer requests at once than we send bounds throughput instead.
        slots = min(s.concurrency, s.max_inflight) if s.max_inflight else s.concurrency
        return s.n * s.latency_ms / 1000 / slots

    @property
    def cpu_ms_per_sample(self) -> float:
        return self.cpu_s * 1000 / self.scenario.n


# ---- the project ---------------------------------------------------------------------------


def build_collect_project(root: Path, n: int) -> None:
    """A large suite for the collection scenario, and the plain file over the same records."""
    write_jsonl(root / "data" / "big.jsonl", qa_records(n, prefix="b"))
    (root / "evals_big").mkdir(exist_ok=True)
    (root / "evals_big" / "eval_big.yaml").write_text(
        "task: qa\ndataset: ../data/big.jsonl\n", encoding="utf-8"
    )
    (root / "test_plain_big.py").write_text(PLAIN_COLLECT_TEST, encoding="utf-8")


def build_project(root: Path, records: list[dict[str, Any]]) -> None:
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    write_jsonl(root / "data" / "qa.jsonl", records)
    write_jsonl(root / "data" / "one.jsonl", records[:1])
    (root / "evals").mkdir()
    (root / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\n", encoding="utf-8"
    )
    # startup: the same suite with one sample; cpuscore: with a CPU-heavy scorer
    (root / "evals_one").mkdir()
    (root / "evals_one" / "eval_one.yaml").write_text(
        "task: qa\ndataset: ../data/one.jsonl\n", encoding="utf-8"
    )
    (root / "evals_cpu").mkdir()
    (root / "evals_cpu" / "conftest.py").write_text(CPU_CONFTEST, encoding="utf-8")
    (root / "evals_cpu" / "eval_cpu.yaml").write_text(
        "task: qa\ndataset: ../data/qa.jsonl\nscorers: [qa_exact_match, cpu_cost]\n",
        encoding="utf-8",
    )
    prompt = TASKS["qa"].prompt
    prompts = {
        str(r["id"]): prompt.render(Sample(str(r["id"]), "qa", dict(r), "x", 1)) for r in records
    }
    (root / "plain_prompts.json").write_text(json.dumps(prompts), encoding="utf-8")
    (root / "test_plain.py").write_text(PLAIN_TEST, encoding="utf-8")


def command(s: Scenario, root: Path, base_url: str) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if s.kind == "plain":
        # The plain harness does not use the plugin, so it does not load it either.
        cmd += ["test_plain.py", "-p", "no:llmeval"]
    elif s.kind == "version":
        cmd = [sys.executable, "-m", "pytest", "--version"]
    elif s.kind == "plaincollect":
        cmd += ["--co", "test_plain_big.py", "-p", "no:llmeval"]
    elif s.kind == "collect":
        cmd += ["--co", "evals_big", "--model", f"openai/{MODEL}"]
        cmd += ["--llmeval-base-url", base_url]
    else:
        db = root / s.db
        cmd += [s.suite, "--model", f"openai/{MODEL}", "--llmeval-base-url", base_url]
        cmd += ["--llmeval-db", str(db), "--llmeval-concurrency", str(s.concurrency)]
        if s.cache:
            cmd += ["--llmeval-cache", s.cache]
        if s.limit:
            cmd += ["--llmeval-limit", str(s.limit)]
    if s.workers > 1:
        cmd += ["-n", str(s.workers)]
    return cmd


# ---- running -------------------------------------------------------------------------------

ENGINE_RE = re.compile(r"^llmeval engine: .*$", re.MULTILINE)
COUNT_RE = re.compile(r"(\d+) (planned|prefetched|cold|from cache|model calls|wasted)")
SUMMARY_RE = re.compile(r"^=*\s*(\d+ \w+.*) in (\d+(?:\.\d+)?)s\b", re.MULTILINE)


def parse_engine(line: str) -> dict[str, int]:
    out = {name.replace(" ", "_"): int(value) for value, name in COUNT_RE.findall(line)}
    if m := re.search(r"concurrency (\d+)", line):
        out["concurrency"] = int(m.group(1))
    if m := re.search(r"cut to (\d+) after (\d+)", line):
        out["min_concurrency"], out["rate_limited"] = int(m.group(1)), int(m.group(2))
    return out


def code_path(s: Scenario, args: argparse.Namespace) -> str:
    return str(args.before) if s.code == "before" else str(REPO)


def run_scenario(
    s: Scenario,
    root: Path,
    server: LLMServer,
    timeout: float,
    tail: int = 40,
    args: argparse.Namespace | None = None,
) -> Result:
    server.reset()
    server.configure(
        latency_ms=s.latency_ms, max_inflight=s.max_inflight, retry_after_ms=s.retry_after_ms
    )
    run_n = s.run_n or s.n
    env = child_env(
        root,
        drop=("OPENAI_BASE_URL", "OPENAI_API_KEY"),
        BENCH_BASE_URL=server.base_url,
        BENCH_MODEL=MODEL,
        BENCH_PLAIN_N=str(run_n),
        BENCH_PLAIN_DB=str(root / s.db),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        BENCH_SCORER_MS=str(args.scorer_ms if args else 5.0),
        # the code under test: this checkout, or --before's (main's) for the side by side
        PYTHONPATH=code_path(s, args) if args else str(REPO),
    )
    cmd = command(s, root, server.base_url)
    child = run_child(cmd, root, env, timeout)
    output, wall, cpu = child.output, child.wall_s, child.cpu_s
    result = Result(scenario=s, wall_s=wall, cpu_s=cpu, returncode=child.returncode)
    summaries = SUMMARY_RE.findall(output)
    if summaries:
        counts, seconds = summaries[-1]
        result.pytest_s = float(seconds)
        if m := re.search(r"(\d+) passed", counts):
            result.passed = int(m.group(1))
    if m := ENGINE_RE.search(output):
        result.engine_line = m.group(0).strip()
        result.engine = parse_engine(result.engine_line)
    stats = server.stats()
    result.server_requests = int(stats["requests"])
    result.server_by_status = dict(stats["by_status"])
    result.ok = result.passed == run_n
    if s.kind == "version":
        result.ok = child.returncode == 0
    if s.kind in ("collect", "plaincollect"):
        m = re.search(r"(\d+) tests? collected", output)
        result.passed = int(m.group(1)) if m else 0
        result.ok = result.passed == run_n
    if run_n != s.n and result.ok:
        # Scale the time to N samples: clearly an estimate, flagged in the table.
        result.extrapolated_from = run_n
        result.wall_s = wall * s.n / run_n
        result.cpu_s = cpu * s.n / run_n
        if result.pytest_s is not None:
            result.pytest_s = result.pytest_s * s.n / run_n
    if not result.ok:
        lines = output.rstrip().splitlines()
        print(
            f"\n!!! scenario {s.name!r} FAILED: {result.passed}/{run_n} passed, "
            f"exit code {result.returncode}\n    command: {' '.join(cmd)}\n--- last {tail} lines ---",
            file=sys.stderr,
        )
        print("\n".join(lines[-tail:]), file=sys.stderr)
        print("--- end ---\n", file=sys.stderr)
    return result


# ---- the plan ------------------------------------------------------------------------------


def plan(args: argparse.Namespace) -> list[Scenario]:
    n, lat, fast = args.n, args.latency, args.fast_latency
    groups = set(args.scenarios)
    out: list[Scenario] = []
    if "concurrency" in groups:
        for c in args.concurrency:
            out.append(Scenario(f"llmeval c={c}", "llmeval", "concurrency", lat, n, 1, c))
    if "xdist" in groups:
        for w in args.workers:
            out.append(Scenario(f"llmeval -n {w}", "llmeval", "xdist", lat, n, w, args.c))
    if "cache" in groups:
        c = args.c
        out.append(Scenario("llmeval cold", "llmeval", "cache", lat, n, 1, c, "", "cache.db"))
        out.append(Scenario("llmeval warm", "llmeval", "cache", lat, n, 1, c, "", "cache.db"))
    if "plain" in groups:
        base_n = min(args.baseline_n or n, n)
        out.append(Scenario("plain", "plain", "plain", lat, n, run_n=base_n))
        for w in args.plain_workers:
            out.append(Scenario(f"plain -n {w}", "plain", "plain", lat, n, w, w))
    if "fast" in groups:
        out.append(Scenario(f"llmeval c={args.c}", "llmeval", "fast", fast, n, 1, args.c))
        out.append(Scenario("plain", "plain", "fast", fast, n))
    if "overhead" in groups:
        out.append(Scenario(f"llmeval c={args.c}", "llmeval", "overhead", 0.0, n, 1, args.c))
        out.append(Scenario("plain", "plain", "overhead", 0.0, n))
    if "ratelimit" in groups:
        out.append(
            Scenario(
                f"llmeval 429 cap {args.max_inflight}",
                "llmeval",
                "ratelimit",
                fast,
                n,
                1,
                args.c,
                max_inflight=args.max_inflight,
                retry_after_ms=args.retry_after_ms,
            )
        )
    if "startup" in groups:
        out.append(Scenario("pytest --version", "version", "startup", 0.0, 1))
        out.append(
            Scenario(
                "llmeval 1 sample", "llmeval", "startup", fast, 1, 1, args.c, suite="evals_one"
            )
        )
    if "collect" in groups:
        k = args.collect_n
        out.append(Scenario(f"collect {k}", "collect", "collect", 0.0, k))
        out.append(Scenario(f"plain collect {k}", "plaincollect", "collect", 0.0, k))
    if "cpuscore" in groups:
        for w in (1, *args.cpu_workers):
            name = f"llmeval cpu scorer -n {w}" if w > 1 else "llmeval cpu scorer"
            out.append(Scenario(name, "llmeval", "cpuscore", fast, n, w, args.c, suite="evals_cpu"))
    for i, s in enumerate(out):  # a fresh results database per scenario unless shared
        s.db = s.db or f"run{i:02d}.db"
        s.label = s.name
    if args.before:
        both: list[Scenario] = []
        for s in out:
            if s.kind in ("llmeval", "version", "collect"):
                before = replace(s, code="before", db=f"before-{s.db}")
                before.name = f"{s.name} [before]"
                both.append(before)
            both.append(s)
        out = both
    return out


def warmups(scenarios: list[Scenario], args: argparse.Namespace) -> list[Scenario]:
    """One small run of each harness that the plan uses, at 0 ms."""
    n = min(20, args.n)
    out: list[Scenario] = []
    kinds = {s.kind for s in scenarios}
    if "llmeval" in kinds:
        out.append(Scenario("warm-up llmeval", "llmeval", "warmup", 0.0, n, 1, args.c, limit=n))
    if "plain" in kinds:
        out.append(Scenario("warm-up plain", "plain", "warmup", 0.0, n))
    if any(s.workers > 1 for s in scenarios):
        out.append(Scenario("warm-up xdist", "llmeval", "warmup", 0.0, n, 2, args.c, limit=n))
    if args.before:
        out += [replace(s, code="before") for s in out if s.kind == "llmeval"]
    for i, s in enumerate(out):
        s.db = f"warmup{i}.db"
    return out


# ---- reporting -----------------------------------------------------------------------------


def baseline_for(results: list[Result], r: Result) -> Result | None:
    for b in results:
        s = b.scenario
        if (
            b.ok
            and s.kind == "plain"
            and s.workers == 1
            and s.latency_ms == r.scenario.latency_ms
            and s.n == r.scenario.n
        ):
            return b
    return None


def notes(r: Result) -> str:
    s, e = r.scenario, r.engine
    parts: list[str] = []
    if not r.ok:
        parts.append(f"FAILED ({r.passed}/{s.run_n or s.n} passed, exit {r.returncode})")
    if r.extrapolated_from:
        parts.append(f"EXTRAPOLATED from n={r.extrapolated_from}")
    if e:
        parts.append(
            f"prefetched {e.get('prefetched', '?')}, cold {e.get('cold', '?')}, "
            f"cache hits {e.get('from_cache', '?')}, calls {e.get('model_calls', '?')}"
        )
        if "min_concurrency" in e:
            parts.append(f"cut to {e['min_concurrency']} after {e['rate_limited']} 429s")
    if s.group == "ratelimit" and r.server_requests is not None:
        parts.append(f"server requests/N {r.server_requests / s.n:.2f}")
        parts.append(f"limit at the server's cap of {s.max_inflight}")
    return "; ".join(parts)


def fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    head = (
        "scenario",
        "workers",
        "conc",
        "lat ms",
        "N",
        "wall s",
        "pytest s",
        "samples/s",
        "wall/limit",
        "CPU ms/sample",
        "speedup",
        "notes",
    )
    rows: list[tuple[str, ...]] = []
    for r in results:
        s = r.scenario
        base = baseline_for(results, r)
        speedup = base.wall_s / r.wall_s if base and r.ok and r.wall_s else None
        limit = r.limit_s
        mark = "~" if r.extrapolated_from else ""
        smark = "~" if r.extrapolated_from or (base and base.extrapolated_from) else ""
        rows.append(
            (
                s.name,
                str(s.workers),
                str(s.concurrency),
                f"{s.latency_ms:g}",
                str(s.n),
                mark + fmt(r.wall_s, ".2f"),
                mark + fmt(r.pytest_s, ".2f"),
                mark + fmt(r.samples_per_s, ".1f"),
                mark + fmt(r.wall_s / limit if limit else None, ".2f"),
                mark + fmt(r.cpu_ms_per_sample, ".2f"),
                "" if speedup is None else f"{smark}{speedup:.1f}x",
                notes(r),
            )
        )
    return format_table(head, rows, numeric=range(1, 11))


def find(results: list[Result], group: str, kind: str = "llmeval", **attrs: Any) -> Result | None:
    attrs.setdefault("code", "after")
    for r in results:
        s = r.scenario
        if (
            s.group == group
            and s.kind == kind
            and all(getattr(s, k) == v for k, v in attrs.items())
        ):
            return r
    return None


@dataclass
class Figure:
    key: str
    what: str
    target: str
    values: dict[str, float | None]  # code -> the figure
    texts: dict[str, str]  # code -> how it was measured
    ok: Callable[[float], bool]
    unit: str = ""
    higher_is_better: bool = False


def figures(results: list[Result], args: argparse.Namespace) -> list[Figure]:
    """The issue's figures, for each code measured (before = --before, after = this one)."""
    c = args.c
    out: list[Figure] = []

    def add(key: str, what: str, target: str, ok: Callable[[float], bool], unit: str,
            measure: Callable[[str], tuple[float, str] | None]) -> None:  # fmt: skip
        values: dict[str, float | None] = {}
        texts: dict[str, str] = {}
        for code in ("before", "after"):
            got = measure(code)
            values[code], texts[code] = got if got else (None, "not run")
        out.append(Figure(key, what, target, values, texts, ok, unit, key == "2"))

    def limit_ratio(code: str) -> tuple[float, str] | None:
        a = find(results, "concurrency", concurrency=c, code=code)
        if not (a and a.ok and a.limit_s):
            return None
        return a.wall_s / a.limit_s, f"{a.wall_s:.2f} s, limit {a.limit_s:.2f} s"

    def rate(code: str) -> tuple[float, str] | None:
        b = find(results, "fast", concurrency=c, code=code)
        if not (b and b.ok):
            return None
        return b.samples_per_s, f"{b.wall_s:.2f} s for {b.scenario.n}"

    def startup(code: str) -> tuple[float, str] | None:
        one = find(results, "startup", code=code)
        floor = find(results, "startup", kind="version", code=code)
        if not (one and one.ok):
            return None
        extra = f", pytest --version {floor.wall_s:.2f} s" if floor and floor.ok else ""
        return one.wall_s, f"{one.wall_s:.2f} s wall{extra}"

    def xdist(code: str) -> tuple[float, str] | None:
        one = find(results, "concurrency", concurrency=c, code=code)
        xd = find(results, "xdist", workers=8, code=code) or find(results, "xdist", code=code)
        if not (one and xd and one.ok and xd.ok):
            return None
        w = xd.scenario.workers
        return xd.wall_s / one.wall_s, f"-n {w} {xd.wall_s:.2f} s / {one.wall_s:.2f} s"

    def cpu_xdist(code: str) -> tuple[float, str] | None:
        one = find(results, "cpuscore", workers=1, code=code)
        many = [r for r in results if r.scenario.group == "cpuscore" and r.scenario.code == code
                and r.scenario.workers > 1 and r.ok]  # fmt: skip
        if not (one and one.ok and many):
            return None
        eight = [r for r in many if r.scenario.workers == 8]
        best = eight[0] if eight else min(many, key=lambda r: r.wall_s)
        return best.wall_s / one.wall_s, (
            f"-n {best.scenario.workers} {best.wall_s:.2f} s / {one.wall_s:.2f} s "
            f"({args.scorer_ms:g} ms scorer)"
        )

    def warm(code: str) -> tuple[float, str] | None:
        w = find(results, "cache", label="llmeval warm", code=code)
        if not (w and w.ok):
            return None
        return w.wall_s, f"{w.wall_s:.2f} s ({w.engine.get('from_cache')} from cache)"

    def overhead(code: str) -> tuple[float, str] | None:
        e = find(results, "overhead", concurrency=c, code=code)
        if not (e and e.ok):
            return None
        per = e.wall_s * 1000 / e.scenario.n
        return per, f"{per:.2f} ms wall, {e.cpu_ms_per_sample:.2f} ms CPU"

    add("1", f"{args.n} @{args.latency:g} ms, c={c}, one process: wall / limit", "<= 1.5x",
        lambda v: v <= 1.5, "x", limit_ratio)  # fmt: skip
    add("2", f"{args.n} @{args.fast_latency:g} ms: samples/s on wall time", ">= 300",
        lambda v: v >= 300, "/s", rate)  # fmt: skip
    add("3", "one-sample run: wall s (the fixed cost)", "<= 1.5 s", lambda v: v <= 1.5, " s",
        startup)  # fmt: skip
    add("4", f"-n 8 / one process at total c={c}, {args.latency:g} ms", "<= 1.25x",
        lambda v: v <= 1.25, "x", xdist)  # fmt: skip

    def cpu_xdist_best(code: str) -> tuple[float, str] | None:
        one = find(results, "cpuscore", workers=1, code=code)
        many = [r for r in results if r.scenario.group == "cpuscore" and r.scenario.code == code
                and r.scenario.workers > 1 and r.ok]  # fmt: skip
        if not (one and one.ok and many):
            return None
        best = min(many, key=lambda r: r.wall_s)
        return best.wall_s / one.wall_s, f"-n {best.scenario.workers} {best.wall_s:.2f} s"

    add("4c", "CPU-heavy scorer: best -n W / one process", "(info)", lambda v: True, "x",
        cpu_xdist_best)  # fmt: skip
    add("4b", "CPU-heavy scorer: -n 8 / one process", "< 1.0x", lambda v: v < 1.0, "x",
        cpu_xdist)  # fmt: skip

    def collect(code: str) -> tuple[float, str] | None:
        r = find(results, "collect", kind="collect", code=code)
        plain = find(results, "collect", kind="plaincollect")
        if not (r and r.ok):
            return None
        extra = f", plain parametrize {plain.wall_s:.2f} s" if plain and plain.ok else ""
        return r.wall_s, f"{r.wall_s:.2f} s for {r.scenario.n}{extra}"

    add("5", f"collect {args.collect_n} samples (--co): wall s", "<= 5 s",
        lambda v: v <= 5.0, " s", collect)  # fmt: skip
    add("6", f"warm-cache rerun of {args.n}: wall s", "<= 2 s", lambda v: v <= 2.0, " s", warm)
    add("e", "framework cost at 0 ms: wall ms/sample", "(info)", lambda v: True, " ms",
        overhead)  # fmt: skip
    return out


def targets(results: list[Result], args: argparse.Namespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in figures(results, args):
        after = f.values["after"]
        verdict = "n/a" if after is None else ("PASS" if f.ok(after) else "MISS")
        before = f.values["before"]
        gain = (
            (after / before if f.higher_is_better else before / after) if before and after else None
        )
        change = "" if gain is None else f"{gain:.2f}x"
        out.append(
            {
                "target": f.key,
                "what": f.what,
                "goal": f.target,
                "before": None if before is None else round(before, 3),
                "after": None if after is None else round(after, 3),
                "before_text": f.texts["before"],
                "measured": f.texts["after"],
                "better by": change,
                "verdict": verdict,
            }
        )
    return out


def targets_table(verdicts: list[dict[str, Any]]) -> str:
    head = (
        "#",
        "figure",
        "target",
        "before",
        "after",
        "better by",
        "verdict",
        "after: measured",
    )
    rows = [
        (
            t["target"],
            t["what"],
            t["goal"],
            "" if t["before"] is None else f"{t['before']:.2f}",
            "" if t["after"] is None else f"{t['after']:.2f}",
            t["better by"],
            t["verdict"],
            t["measured"],
        )
        for t in verdicts
    ]
    return format_table(head, rows, numeric=(3, 4, 5))


# ---- main ----------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def group_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(names) - set(GROUPS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown groups {sorted(unknown)}; known: {GROUPS}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=None, help="samples per run (default 1000, quick 200)")
    p.add_argument("--latency", type=float, default=100.0, help="main latency, ms (100)")
    p.add_argument("--fast-latency", type=float, default=20.0, help="fast latency, ms (20)")
    p.add_argument("--c", type=int, default=32, help="llmeval concurrency of the targets (32)")
    p.add_argument("--concurrency", type=int_list, default=None, help="one-process sweep (8,32,64)")
    p.add_argument("--workers", type=int_list, default=None, help="xdist workers (4,8)")
    p.add_argument("--plain-workers", type=int_list, default=None, help="plain xdist (8)")
    p.add_argument(
        "--baseline-n",
        type=int,
        default=None,
        help="run the single-process plain baseline at the main latency on this many samples "
        "and extrapolate to N (default: all N; quick: 50)",
    )
    p.add_argument("--max-inflight", type=int, default=8, help="server cap in the 429 run (8)")
    p.add_argument("--retry-after-ms", type=int, default=20, help="retry-after-ms on 429 (20)")
    p.add_argument(
        "--scenarios", type=group_list, default=list(GROUPS), help=f"groups: {','.join(GROUPS)}"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: N=200, fewer scenarios")
    p.add_argument(
        "--before",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run every llmeval scenario with DIR (a checkout of main) first on "
        "PYTHONPATH, interleaved, and print the before/after of each figure",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each scenario, interleaved; the fastest counts",
    )
    p.add_argument("--collect-n", type=int, default=100_000, help="collect: samples (100000)")
    p.add_argument("--scorer-ms", type=float, default=5.0, help="cpuscore: CPU ms/sample (5)")
    p.add_argument(
        "--cpu-workers", type=int_list, default=None, help="cpuscore: xdist workers (2,8)"
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-command limit, s (900)")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary project")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up runs")
    args = p.parse_args(argv)
    if args.quick:
        args.n = args.n or 200
        args.concurrency = args.concurrency or [32]
        args.workers = args.workers or [4]
        args.plain_workers = args.plain_workers if args.plain_workers is not None else []
        args.baseline_n = args.baseline_n or 50
        args.collect_n = min(args.collect_n, 10_000)
    args.n = args.n or 1000
    args.concurrency = args.concurrency or [8, 32, 64]
    args.workers = args.workers or [4, 8]
    args.plain_workers = args.plain_workers if args.plain_workers is not None else [8]
    args.cpu_workers = args.cpu_workers or [2, 8]
    if args.c not in args.concurrency:
        args.concurrency.append(args.c)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = plan(args)
    records = qa_records(args.n)
    results: list[Result] = []
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="llmeval_bench_")
    root = Path(tmp)
    build_project(root, records)
    if "collect" in args.scenarios:
        build_collect_project(root, args.collect_n)
    print(
        f"bench_engine: N={args.n}, {len(scenarios)} scenarios, project {root}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    with LLMServer(script=answers(records)) as server:
        if not args.no_warmup:
            # Untimed: fills the OS file cache and writes .pyc files, so the first timed
            # scenario does not pay for what the later ones get for free.
            for s in warmups(scenarios, args):
                run_scenario(s, root, server, args.timeout, args=args)
            print("warm-up done", file=sys.stderr)
        best: dict[int, Result] = {}
        for rep in range(args.repeat):
            # interleaved: every scenario (before and after) once, then again
            for i, s in enumerate(scenarios, 1):
                # a cache pair gets a fresh database each round, so "cold" stays cold
                run = replace(s, db=f"rep{rep}-{s.db}") if s.group == "cache" else s
                r = run_scenario(run, root, server, args.timeout, args=args)
                r.scenario = s
                kept = best.get(i)
                if kept is None or (r.ok, -r.wall_s) > (kept.ok, -kept.wall_s):
                    best[i] = r
                print(
                    f"[{rep + 1}.{i}/{len(scenarios)}] {s.name} @{s.latency_ms:g} ms: "
                    f"{r.wall_s:.2f} s ({r.passed} passed){'' if r.ok else ' FAILED'}",
                    file=sys.stderr,
                )
        results = [best[i] for i in sorted(best)]
    total = time.perf_counter() - started
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)

    print()
    print(table(results))
    print()
    print(
        "wall/limit: whole-command wall over N x latency / concurrency (the physical limit; "
        "the server's in-flight cap where lower); "
        "speedup: vs the plain single-process baseline at the same latency; "
        "~: extrapolated from fewer samples"
    )
    print()
    print(
        f"Targets (issue 15), fastest of {args.repeat} interleaved run(s)"
        + (f"; before = {args.before}, after = {REPO}" if args.before else "")
        + ":"
    )
    verdicts = targets(results, args)
    print(targets_table(verdicts))
    print(f"\ntotal benchmark time {total:.1f} s")

    if args.json:
        payload = {
            "args": {k: v for k, v in vars(args).items() if k != "json"},
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "total_s": total,
            "results": [
                {
                    **asdict(r),
                    "samples_per_s": r.samples_per_s,
                    "limit_s": r.limit_s,
                    "cpu_ms_per_sample": r.cpu_ms_per_sample,
                }
                for r in results
            ],
            "targets": verdicts,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
