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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
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
GROUPS = ("concurrency", "xdist", "cache", "plain", "fast", "overhead", "ratelimit")

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


def build_project(root: Path, records: list[dict[str, Any]]) -> None:
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    write_jsonl(root / "data" / "qa.jsonl", records)
    (root / "evals").mkdir()
    (root / "evals" / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\n", encoding="utf-8"
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
    else:
        db = root / s.db
        cmd += ["evals", "--model", f"openai/{MODEL}", "--llmeval-base-url", base_url]
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


def run_scenario(
    s: Scenario, root: Path, server: LLMServer, timeout: float, tail: int = 40
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
    for i, s in enumerate(out):  # a fresh results database per scenario unless shared
        s.db = s.db or f"run{i:02d}.db"
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
    for r in results:
        s = r.scenario
        if (
            s.group == group
            and s.kind == kind
            and all(getattr(s, k) == v for k, v in attrs.items())
        ):
            return r
    return None


def targets(results: list[Result], args: argparse.Namespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(key: str, what: str, value: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        out.append({"target": key, "what": what, "measured": value, "verdict": verdict})

    c = args.c
    a = find(results, "concurrency", concurrency=c) or find(results, "cache", db="cache.db")
    if a and a.ok and a.limit_s:
        ratio = a.wall_s / a.limit_s
        add(
            "a",
            f"{a.scenario.n} @{a.scenario.latency_ms:g} ms, c={c}, one process: "
            f"wall <= 2.0x limit ({a.limit_s:.2f} s)",
            f"{a.wall_s:.2f} s = {ratio:.2f}x",
            ratio <= 2.0,
        )
    else:
        add("a", "wall <= 2.0x limit", "not run" if a is None else "failed", None)

    b = find(results, "fast", concurrency=c)
    for label, seconds in (
        ("whole-command wall", b.wall_s if b else None),
        ("pytest session time", b.pytest_s if b else None),
    ):
        if b and b.ok and seconds:
            rate = b.scenario.n / seconds
            add(
                "b",
                f"{b.scenario.n} @{b.scenario.latency_ms:g} ms: >= 200 samples/s ({label})",
                f"{rate:.1f} samples/s ({seconds:.2f} s)",
                rate >= 200,
            )
        else:
            add("b", f">= 200 samples/s ({label})", "not run" if b is None else "failed", None)

    one = find(results, "concurrency", concurrency=c)
    xd = find(results, "xdist", workers=8) or find(results, "xdist")
    if one and xd and one.ok and xd.ok:
        ratio = xd.wall_s / one.wall_s
        add(
            "c",
            f"-n {xd.scenario.workers} vs one process at total c={c}: wall ratio "
            f"<= {args.target_xdist_ratio:g} (-n {xd.scenario.workers} / one process)",
            f"{xd.wall_s:.2f} s / {one.wall_s:.2f} s = {ratio:.2f}x",
            ratio <= args.target_xdist_ratio,
        )
    else:
        add("c", "-n 8 vs one process", "not run", None)

    warm = find(results, "cache", name="llmeval warm")
    if warm and warm.ok:
        hits = warm.engine.get("from_cache")
        add(
            "d",
            f"warm-cache rerun of {warm.scenario.n}: wall <= 3 s",
            f"{warm.wall_s:.2f} s ({hits} from cache)",
            warm.wall_s <= 3.0,
        )
    else:
        add("d", "warm-cache rerun <= 3 s", "not run" if warm is None else "failed", None)

    e = find(results, "overhead", concurrency=c)
    if e and e.ok:
        per = e.wall_s * 1000 / e.scenario.n
        session = "" if e.pytest_s is None else f", {e.pytest_s * 1000 / e.scenario.n:.2f} session"
        add(
            "e",
            f"0 ms overhead per sample <= {args.target_overhead_ms:g} ms (whole-command wall)",
            f"{per:.2f} ms wall{session}, {e.cpu_ms_per_sample:.2f} ms CPU",
            per <= args.target_overhead_ms,
        )
    else:
        add("e", "0 ms overhead", "not run" if e is None else "failed", None)
    return out


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
    p.add_argument("--target-xdist-ratio", type=float, default=1.0, help="(c) threshold (1.0)")
    p.add_argument(
        "--target-overhead-ms",
        type=float,
        default=5.0,
        help="(e) threshold, ms/sample (5.0: the per-sample budget that 200 samples/s allows)",
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
    args.n = args.n or 1000
    args.concurrency = args.concurrency or [8, 32, 64]
    args.workers = args.workers or [4, 8]
    args.plain_workers = args.plain_workers if args.plain_workers is not None else [8]
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
                run_scenario(s, root, server, args.timeout)
            print("warm-up done", file=sys.stderr)
        for i, s in enumerate(scenarios, 1):
            r = run_scenario(s, root, server, args.timeout)
            results.append(r)
            print(
                f"[{i}/{len(scenarios)}] {s.name} @{s.latency_ms:g} ms: {r.wall_s:.2f} s "
                f"({r.passed} passed){'' if r.ok else ' FAILED'}",
                file=sys.stderr,
            )
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
    print("Targets:")
    verdicts = targets(results, args)
    for t in verdicts:
        print(f"  ({t['target']}) {t['verdict']:4}  {t['what']}: {t['measured']}")
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
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
