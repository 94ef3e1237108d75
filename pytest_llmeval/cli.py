"""The ``llmeval`` command: work with stored runs outside pytest (never imports pytest).

    llmeval runs [--model SUBSTR] [--status STATUS] [--verdict V] [--exit CODE] [-n N]
    llmeval runs delete RUN...
    llmeval show RUN [--worst N]
    llmeval compare BASELINE CANDIDATE [--fail accuracy:-2%] [--alpha 0.05] [--md PATH]
    llmeval export RUN --format csv|json|prometheus [-o PATH]
    llmeval report RUN [--baseline RUN] --html PATH
    llmeval merge SHARD.db... --into RUN.db   (shards run with --llmeval-shard I/N)
    llmeval gate RUN [--baseline RUN|latest] [--fail M:X] [--alpha A]
    llmeval gc --keep N [--unfinished-days D] [--dry-run]
    llmeval cache stats|prune --older-than 30d [--model SUBSTR]|clear|explain NODEID --run RUN

RUN is a run id, a unique prefix of one, or ``latest`` (the newest complete, full run).
Exit codes: 0 fine, 1 ``compare`` or ``gate`` found a regression or a failed threshold, 2
usage or lookup error, 4 ``gate`` met a threshold it cannot check, 6 ``compare`` or ``gate``
of a run that was not evaluated (its samples errored beyond the error budget).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval import gate
from pytest_llmeval.export import summary
from pytest_llmeval.gate.baseline import ALPHA, MarginError
from pytest_llmeval.result import SampleResult
from pytest_llmeval.store import maintenance
from pytest_llmeval.store.results import DEFAULT_DB, Results, Run
from pytest_llmeval.store.storage import StoreError
from pytest_llmeval.untrusted import printable

STATUSES = ("running", "complete", "interrupted", "incomplete", "aborted", "errored")
VERDICTS = ("passed", "failed", "not evaluated")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmeval", description="Work with stored eval runs.")
    parser.add_argument(
        "--db", default=str(DEFAULT_DB), help=f"results database (default {DEFAULT_DB})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--model", help="only runs whose model spec contains this")
    runs.add_argument("--status", choices=STATUSES, help="only runs with this status")
    runs.add_argument(
        "--verdict",
        choices=VERDICTS,
        help="only runs whose gate gave this verdict ('not evaluated': samples errored)",
    )
    runs.add_argument(
        "--exit", dest="exitstatus", type=int, metavar="CODE", help="only runs that exited so"
    )
    runs.add_argument("-n", "--limit", type=int, default=20)
    runs.add_argument("--full", action="store_true", help="only runs that are not partial")
    runs.add_argument("--ids", action="store_true", help="print run ids only, one per line")
    runs_sub = runs.add_subparsers(dest="action")
    delete = runs_sub.add_parser(
        "delete", help="delete runs with their results; the file shrinks (VACUUM)"
    )
    delete.add_argument("refs", nargs="+", metavar="RUN")

    gc = sub.add_parser(
        "gc", help="delete old runs: keep the last N complete runs per model and their baselines"
    )
    gc.add_argument("--keep", type=int, required=True, metavar="N")
    gc.add_argument(
        "--unfinished-days",
        type=float,
        default=maintenance.UNFINISHED_DAYS,
        metavar="D",
        help="keep runs that did not complete for D days: they can be resumed "
        f"(default {maintenance.UNFINISHED_DAYS:g})",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")

    cache = sub.add_parser("cache", help="the response cache: stats, prune, clear, explain")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    stats = cache_sub.add_parser("stats", help="entries, bytes, by model, oldest")
    stats.add_argument("--json", action="store_true")
    prune = cache_sub.add_parser("prune", help="delete entries older than an age")
    prune.add_argument("--older-than", required=True, metavar="AGE", help="30d, 12h, 2w...")
    prune.add_argument("--model", metavar="SUBSTR", help="only entries of matching models")
    prune.add_argument("--dry-run", action="store_true")
    clear = cache_sub.add_parser("clear", help="delete every entry")
    clear.add_argument("--model", metavar="SUBSTR", help="only entries of matching models")
    why = cache_sub.add_parser("explain", help="why a run's request hit or missed the cache")
    why.add_argument("nodeid", metavar="NODEID", help="a node id, or a unique part of one")
    why.add_argument("--run", required=True, metavar="RUN")

    show = sub.add_parser("show", help="a run's metrics per task and slice, and worst samples")
    show.add_argument("run")
    show.add_argument("--worst", type=int, default=10, help="failed samples to list per task")

    cmp = sub.add_parser("compare", help="the baseline gate between two stored runs")
    cmp.add_argument("baseline")
    cmp.add_argument("candidate")
    cmp.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="METRIC:MARGIN",
        help="practical margin, e.g. accuracy:-2%% or qa.f1:-0.03 (repeatable)",
    )
    cmp.add_argument("--alpha", type=float, default=ALPHA)
    cmp.add_argument("--md", type=Path, help="also write the comparison as Markdown")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.add_argument(
        "--fail-underpowered",
        action="store_true",
        help="exit 1 when the comparison is too small to detect the margin",
    )
    cmp.add_argument(
        "--force",
        action="store_true",
        help="compare runs that are not complete (an errored run was not evaluated)",
    )

    cal = sub.add_parser("calibrate-judge", help="agreement of a judge with human labels")
    cal.add_argument("--judge-model", required=True, metavar="SPEC")
    cal.add_argument("--judge-base-url", metavar="URL")
    cal.add_argument("--rubric", default="qa_default", help="built-in name or YAML path")
    cal.add_argument(
        "--data",
        type=Path,
        default=Path("data/qa/judge_calibration.jsonl"),
        help="labelled set (default data/qa/judge_calibration.jsonl)",
    )
    cal.add_argument("--concurrency", type=int, default=8)
    cal.add_argument("--json", action="store_true", help="print the report as JSON")
    cal.add_argument("--min-kappa", type=float, help="exit 1 when kappa is below this")

    export = sub.add_parser("export", help="write a run's samples and metrics to a file")
    export.add_argument("run")
    export.add_argument("--format", required=True, choices=sorted(_exporters()))
    export.add_argument("-o", "--output", type=Path, help="file (default: stdout)")

    merge = sub.add_parser(
        "merge", help="merge shard runs (pytest --llmeval-shard I/N) into one run"
    )
    merge.add_argument(
        "sources", nargs="+", metavar="DB[:RUN]", help="each shard's database (its newest "
        "shard run, or the run named after a colon)",
    )  # fmt: skip
    merge.add_argument("--into", type=Path, required=True, metavar="DB", help="where to write")

    gate_cmd = sub.add_parser(
        "gate",
        help="apply a stored run's thresholds and a baseline comparison: the pytest "
        "session's verdict and exit code, for a merged run",
    )
    gate_cmd.add_argument("run")
    gate_cmd.add_argument("--baseline", metavar="RUN", help="a run id, prefix or latest")
    gate_cmd.add_argument("--fail", action="append", default=[], metavar="METRIC:MARGIN")
    gate_cmd.add_argument("--alpha", type=float, default=ALPHA)
    gate_cmd.add_argument("--fail-underpowered", action="store_true")

    report = sub.add_parser("report", help="a run as one self-contained HTML page")
    report.add_argument("run")
    report.add_argument(
        "--baseline", metavar="RUN", help="compare with this run (default: the run's own baseline)"
    )
    report.add_argument("--html", type=Path, required=True, metavar="PATH", help="file to write")
    report.add_argument("--worst", type=int, default=10, help="failed samples to show per task")
    return parser


def _exporters() -> dict[str, Any]:
    from pytest_llmeval.export import EXPORTERS

    return EXPORTERS


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "merge":  # writes a database of its own
        try:
            return cmd_merge(args)
        except (StoreError, LookupError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
            print(f"llmeval merge: {printable(message)}", file=sys.stderr)
            return 2
    if args.command == "calibrate-judge":  # needs a judge, not a results database
        try:
            return cmd_calibrate(args)
        except (LookupError, ValueError) as exc:
            print(f"llmeval: {printable(str(exc))}", file=sys.stderr)
            return 2
    try:
        with Results(args.db) as results:
            handler = {
                "runs": cmd_runs,
                "show": cmd_show,
                "compare": cmd_compare,
                "export": cmd_export,
                "report": cmd_report,
                "gc": cmd_gc,
                "cache": cmd_cache,
                "gate": cmd_gate,
            }[args.command]
            return handler(results, args)
    except (StoreError, LookupError, MarginError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
        print(f"llmeval: {printable(message)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `llmeval ... | head` stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def cmd_runs(results: Results, args: argparse.Namespace) -> int:
    import socket

    if args.action == "delete":
        _print(maintenance.delete(results.store, args.refs))
        return 0

    results.store.sweep_stale(socket.gethostname())  # a killed job's run shows as aborted
    runs = results.runs(
        None if args.full else args.limit,
        model=args.model,
        status=args.status,
        verdict=args.verdict,
        exitstatus=args.exitstatus,
    )
    if args.full:
        runs = [r for r in runs if not r.partial][: args.limit]
    if args.ids:
        print("\n".join(r.id for r in runs))
        return 0
    if not runs:
        print("no runs" + (" match" if args.status or args.verdict or args.model else ""))
        return 0
    print(
        f"{'run':24}  {'status':11}  {'verdict':13}  {'exit':>4}  {'n':>6}  {'model':32}  started"
    )
    for r in runs:
        status = r.status + ("*" if r.partial else "")
        code = "" if r.exitstatus is None else str(r.exitstatus)
        print(
            f"{r.id:24}  {status:11}  {r.verdict or '-':13}  {code:>4}  {r.n_results:>6}  "
            f"{printable(str(r.model))[:32]:32}  {r.started_at[:19]}"
        )
    if any(r.partial for r in runs):
        print("* partial: not every sample of every suite ran")
    reasons = [r for r in runs if r.reason and r.status != "complete"]
    for r in reasons[:5]:
        print(f"{r.id}: {r.status}: {printable(str(r.reason))}")
    return 0


def cmd_show(results: Results, args: argparse.Namespace) -> int:
    run = results.run(args.run)
    print(_header(run))
    for line in _sent_lines(run.params or {}):
        print(line)
    for task, slices in run.metrics.items():
        checked = run.verdict != "not evaluated"
        for line in summary.task_table(task, slices, run.verdicts, checked=checked):
            print(line)
        worst = summary.worst(results.samples(run.id), task, args.worst)
        if worst:
            print(f"  worst samples ({len(worst)} shown):")
            for row in worst:
                why = row.error or _first_failure(row)
                print(f"    {row.sample_id}: {printable(why)}")
        print()
    if run.verdict == "not evaluated":
        print(f"gate: NOT EVALUATED: {printable(str(run.reason))}")
    elif run.verdicts:
        failed = [v for v in run.verdicts if not v["passed"]]
        print(
            f"gate: {'FAILED' if failed else 'PASSED'} "
            f"({len(run.verdicts) - len(failed)}/{len(run.verdicts)} thresholds met)"
        )
    if run.comparison:
        for line in summary.baseline_lines(run.comparison):
            print(line)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    import time

    from pytest_llmeval.store.merge import merge
    from pytest_llmeval.store.storage import new_run_id

    started = time.perf_counter()
    run = merge(args.sources, args.into, new_run_id())
    print(
        f"merged {len(args.sources)} shards into run {run.id} in {args.into}: "
        f"{run.n_results} rows, {len(run.suites)} suite(s) ({time.perf_counter() - started:.1f} s)"
    )
    print(f"gate it: llmeval --db {args.into} gate {run.id} [--baseline RUN]")
    return 0


def cmd_gate(results: Results, args: argparse.Namespace) -> int:
    """The pytest session's gate over a stored run: thresholds, the paired comparison with
    ``--baseline``, the same summary and exit code; the verdict is stored with the run."""
    from pytest_llmeval.gate.baseline import compare
    from pytest_llmeval.gate.stored import gate_stored

    run = results.run(args.run)
    rows = results.samples(run.id)
    comparison = None
    if args.baseline:
        base = results.run(args.baseline, run.model if args.baseline == "latest" else None)
        if base.id == run.id:
            raise LookupError(f"--baseline {args.baseline} is the run itself ({run.id})")
        comparison = compare(
            results.samples(base.id), rows, args.fail, args.alpha,
            baseline_label=base.id, candidate_label=run.id,
            baseline_model=base.model, candidate_model=run.model,
        )  # fmt: skip
    findings = gate_stored(
        run.params or {}, run.verdicts, rows, run.metrics, run.partial, comparison,
        args.fail_underpowered,
    )  # fmt: skip
    d = findings.decision
    result = {
        "run_id": run.id,
        "status": d.status,
        "partial": d.partial,
        "verdict": d.verdict,
        "reason": d.reason,
        "db": str(results.path),
        "model": run.model,
        "metrics": run.metrics,
        "verdicts": [{**v.as_dict(), "info": False} for v in findings.verdicts],
        "misses": {t: n for t, n in _count(rows, missed=True).items()},
        "errors": {t: n for t, n in _count(rows, missed=False).items()},
        "exitstatus": d.exitstatus,
        "baseline": comparison.as_dict() if comparison is not None else None,
    }
    for line in summary.render(result):
        print(line)
    results.store.update_run(
        run.id,
        verdict=d.verdict,
        exitstatus=d.exitstatus,
        reason=d.reason,
        verdicts=result["verdicts"],
        baseline=comparison.baseline_label if comparison is not None else None,
        comparison=result["baseline"],
    )
    return d.exitstatus


def cost_deltas(base: Run, cand: Run) -> list[str]:
    """What each run cost and its tokens, per task the runs share."""
    lines = []
    for task in sorted(set(base.metrics) & set(cand.metrics)):
        parts = []
        for metric, label, money in (
            ("cost_usd_total", "cost", True),
            ("prompt_tokens_total", "prompt tokens", False),
            ("completion_tokens_total", "completion tokens", False),
        ):
            a, b = base.metric(task, metric), cand.metric(task, metric)
            if a is None or b is None:
                continue
            change = f" ({(b - a) / a:+.0%})" if a else ""
            parts.append(f"{label} {_amount(a, money)} -> {_amount(b, money)}{change}")
        if parts:
            lines.append(f"{task}: " + "; ".join(parts))
    return lines


def _amount(value: float, money: bool) -> str:
    return f"${value:.4f}" if money else f"{value:,.0f}"


def _count(rows: Sequence[SampleResult], missed: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if (missed and r.passed is False and not r.error) or (not missed and r.eval_error):
            out[r.task] = out.get(r.task, 0) + 1
    return out


def cmd_compare(results: Results, args: argparse.Namespace) -> int:
    from pytest_llmeval.export.comparison import to_markdown, to_text

    base, cand = results.run(args.baseline), results.run(args.candidate)
    if not args.force:
        from pytest_llmeval.store.results import check_baseline

        check_baseline(base, Path.cwd(), hint="compare on the data it ran on")
        if cand.status == "errored":
            print(
                f"llmeval: run {cand.id} was not evaluated ({printable(str(cand.reason))}); "
                "--force to compare it anyway",
                file=sys.stderr,
            )
            return 6
    comparison = results.compare(base.id, cand.id, args.fail, args.alpha)
    if args.json:
        print(json.dumps(comparison.as_dict(), indent=2))
    else:
        for line in to_text(comparison):
            print(line)
        for line in cost_deltas(base, cand):
            print(line)
    if args.md:
        args.md.write_text(to_markdown(comparison), encoding="utf-8")
    return 1 if gate.regressed(comparison, args.fail_underpowered) else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from pytest_llmeval.judge import Rubric, calibration
    from pytest_llmeval.models import ModelSettings, check_settings, parse_spec

    parse_spec(args.judge_model, "--judge-model")
    settings = ModelSettings(args.judge_model, base_url=args.judge_base_url)
    check_settings(settings, flag="--judge-model", url_flag="--judge-base-url")
    if not args.data.is_file():
        raise ValueError(f"--data {args.data}: no such file")
    report = calibration.calibrate(
        settings,
        calibration.load(args.data),
        Rubric.load(args.rubric),
        concurrency=args.concurrency,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print(calibration.render(report))  # judge errors quote the judge: escaped
    kappa = report.get("kappa")
    return 1 if args.min_kappa is not None and (kappa is None or kappa < args.min_kappa) else 0


def cmd_export(results: Results, args: argparse.Namespace) -> int:
    from pytest_llmeval.export import export

    run = results.run(args.run)
    if args.output is None:
        export(args.format, run, results.samples(run.id), sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as fh:
            export(args.format, run, results.samples(run.id), fh)
    return 0


def cmd_report(results: Results, args: argparse.Namespace) -> int:
    from pytest_llmeval.export.html import plots, write_report

    path = write_report(results, args.run, args.html, baseline=args.baseline, top=args.worst)
    note = "" if plots.available() else " (no plots: pip install 'pytest-llmeval[report]')"
    print(f"wrote {path}{note}")
    return 0


def cmd_gc(results: Results, args: argparse.Namespace) -> int:
    _print(maintenance.gc(results.store, args.keep, args.unfinished_days, args.dry_run))
    return 0


def cmd_cache(results: Results, args: argparse.Namespace) -> int:
    store = results.store
    if args.action == "stats":
        stats = maintenance.cache_stats(store)
        _print([json.dumps(stats.as_dict(), indent=2)] if args.json else stats.lines())
    elif args.action == "prune":
        age = maintenance.parse_age(args.older_than)
        _print(maintenance.prune_cache(store, age, args.model, args.dry_run))
    elif args.action == "clear":
        _print(maintenance.prune_cache(store, None, args.model))
    else:
        from pytest_llmeval.store.explain import explain

        _print(explain(store, args.run, args.nodeid))
    return 0


def _print(lines: list[str]) -> None:
    print("\n".join(printable(line, block=True) for line in lines))


def _header(run: Run) -> str:
    commit = (
        f", commit {run.git_commit[:10]}{'+dirty' if run.git_dirty else ''}"
        if run.git_commit
        else ""
    )
    partial = " (partial)" if run.partial else ""
    code = "" if run.exitstatus is None else f", exit {run.exitstatus}"
    why = ""
    if run.reason and run.status != "complete":
        why = f"\n{run.status}: {printable(run.reason)}"
    return (
        f"run {run.id}: {run.status}{partial}{code}, model {printable(str(run.model))}, "
        f"{run.n_results} samples, started {run.started_at[:19]}{commit}{why}"
    )


def _sent_lines(params: Mapping[str, Any]) -> list[str]:
    """What was actually sent, by role: each distinct request shape with its count, and what
    the server refused and what went instead (``runs.params``)."""
    lines = []
    for role, shapes in (params.get("sent") or {}).items():
        for shape in shapes:
            fields = ", ".join(
                f"{k}={json.dumps(v, sort_keys=True)}" for k, v in shape["fields"].items()
            )
            lines.append(f"sent ({role}, {shape['requests']} requests): {fields}")
    for role, adapted in (params.get("adapted") or {}).items():
        for a in adapted:
            why = printable(str(a["reason"]))  # the server's own words
            lines.append(f"adapted ({role}): {a['param']}: {a['action']} ({why})")
    return lines


def _first_failure(row: SampleResult) -> str:
    for name, score in row.scores.items():
        if isinstance(score, dict) and score.get("passed") is False:
            return f"{name}: {score.get('explanation') or score.get('value')}"
    return "missed"


if __name__ == "__main__":
    raise SystemExit(main())
