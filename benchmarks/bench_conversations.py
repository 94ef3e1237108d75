"""Conversations run by the engine: N three-turn samples against N x 3 single-turn ones.

Builds a throw-away project with two suites over the same kind of data (QA samples; the
conversation suite adds two scripted user turns to each sample, each sent after the
previous reply), starts ``tests/llm_server.py`` at a fixed latency, and runs, side by side
and interleaved, a one-sample run (the fixed cost), the single-turn suite and the
conversation suite. It prints wall times and the issue's figure: the conversation run
against ``N x 3 x latency / concurrency`` (the time the server alone needs at that
concurrency) plus the fixed cost. It measures; it never asserts.

    python benchmarks/bench_conversations.py             # N=200, 100 ms, concurrency 32
    python benchmarks/bench_conversations.py --n 50 --repeat 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from evalkit import qa_records, write_jsonl  # noqa: E402
from harness import child_env, format_table, run_child  # noqa: E402
from llm_server import LLMServer  # noqa: E402


def build(root: Path, n: int) -> None:
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    convs = qa_records(n, prefix="c")
    for r in convs:
        r["followups"] = [f"Are you sure about item {r['id']}?", "Say it once more."]
    write_jsonl(root / "data" / "conv.jsonl", convs)
    write_jsonl(root / "data" / "single.jsonl", qa_records(3 * n, prefix="s"))
    write_jsonl(root / "data" / "one.jsonl", qa_records(1, prefix="o"))
    for name, data, extra in (
        ("conv", "conv.jsonl", "turns: followups\n"),
        ("single", "single.jsonl", ""),
        ("one", "one.jsonl", ""),
    ):
        d = root / f"evals_{name}"
        d.mkdir()
        (d / f"eval_{name}.yaml").write_text(
            # the server echoes: every answer misses; a threshold keeps misses out of the
            # failure path (pytest's end-of-run report of thousands of failures)
            f"task: qa\ndataset: ../data/{data}\n{extra}thresholds: {{accuracy: '>=0'}}\n",
            encoding="utf-8",
        )


def run(root: Path, server: LLMServer, suite: str, args: argparse.Namespace) -> tuple[float, str]:
    server.reset()
    server.configure(latency_ms=args.latency)
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"evals_{suite}",
        "--model", "openai/bench-model", "--llmeval-base-url", server.base_url,
        "--llmeval-db", str(root / f"{suite}.db"), "--llmeval-cache", "off",
        "--llmeval-concurrency", str(args.c),
    ]  # fmt: skip
    env = child_env(
        root,
        drop=("OPENAI_BASE_URL", "OPENAI_API_KEY"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(REPO),
    )
    child = run_child(cmd, root, env, timeout=600)
    requests = server.stats()["requests"]
    if child.returncode not in (0, 1):
        print(child.output[-3000:], file=sys.stderr)
    return child.wall_s, f"{requests} requests, exit {child.returncode}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=200, help="conversations (200); single-turn: 3n")
    p.add_argument("--latency", type=float, default=100.0, help="server latency, ms (100)")
    p.add_argument("--c", type=int, default=32, help="llmeval concurrency (32)")
    p.add_argument("--repeat", type=int, default=2, help="rounds, fastest kept (2)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llmeval-conv-") as tmp, LLMServer() as server:
        root = Path(tmp)
        build(root, args.n)
        run(root, server, "one", args)  # warm-up: bytecode, page cache
        best: dict[str, tuple[float, str]] = {}
        for _ in range(args.repeat):
            for suite in ("one", "single", "conv"):
                wall, note = run(root, server, suite, args)
                if suite not in best or wall < best[suite][0]:
                    best[suite] = (wall, note)
    fixed = best["one"][0]
    limit = args.n * 3 * args.latency / 1000 / args.c
    rows = [
        ["one-sample run (fixed cost)", f"{fixed:.2f}", "", best["one"][1]],
        [f"{3 * args.n} single-turn samples", f"{best['single'][0]:.2f}",
         f"{(best['single'][0] - fixed) / limit:.2f}x", best["single"][1]],
        [f"{args.n} three-turn conversations", f"{best['conv'][0]:.2f}",
         f"{(best['conv'][0] - fixed) / limit:.2f}x", best["conv"][1]],
    ]  # fmt: skip
    print(format_table(["run", "wall s", "(wall - fixed) / limit", "server"], rows, (1, 2)))
    target = 2 * limit + fixed
    conv = best["conv"][0]
    verdict = "PASS" if conv <= target else "MISS"
    print(
        f"\nlimit = {args.n} x 3 x {args.latency:g} ms / {args.c} = {limit:.2f} s; target: "
        f"conversations <= 2 x limit + fixed = {target:.2f} s; measured {conv:.2f} s: {verdict}"
    )
    print(f"conversations / single-turn (same {3 * args.n} calls): {conv / best['single'][0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
