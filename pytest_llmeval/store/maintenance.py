"""Keeping the results database small: cache statistics and pruning, and deleting runs
(``llmeval cache ...``, ``llmeval gc``, ``llmeval runs delete``). No pytest here.

Every operation that deletes ends with ``VACUUM`` and a truncating WAL checkpoint, so the
file on disk shrinks (SQLite otherwise keeps freed pages for reuse), and reports the file's
size before and after. Deletion is one transaction: an error leaves everything in place.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.store.storage import Store, utc_ago

UNFINISHED_DAYS = 7.0  # gc keeps a run that did not complete this long: it can be resumed
_UNITS = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0}
_ENTRY_BYTES = (  # what an entry stores, in bytes of UTF-8
    "LENGTH(CAST(key AS BLOB)) + LENGTH(CAST(model AS BLOB)) + LENGTH(CAST(response AS BLOB))"
    " + COALESCE(LENGTH(CAST(identity AS BLOB)), 0) + COALESCE(LENGTH(CAST(params AS BLOB)), 0)"
    " + COALESCE(LENGTH(messages_sha), 0)"
)
RUN_TABLES = ("results", "answers", "metrics")  # a run's rows besides its own


def parse_age(text: str, flag: str = "--older-than") -> float:
    """``30d``, ``12h``, ``2w``, ``90m`` or a plain number of days -> days."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*", text)
    if found is None:
        raise ValueError(f"{flag}: expected an age such as 30d, 12h or 2w, got {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2) or "d"]


def file_size(path: Path) -> int:
    """The database's bytes on disk: the file and its write-ahead log."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def compact(store: Store) -> None:
    """Give freed pages back to the file system."""
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def shrink_line(before: int, after: int) -> str:
    return f"database {human(before)} -> {human(after)} ({before:,} -> {after:,} bytes)"


# -- the response cache ----------------------------------------------------------------------
@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    oldest: str | None
    newest: str | None
    without_parts: int  # written before entries kept their key's components
    by_model: list[dict[str, Any]]  # model, entries, bytes, oldest, newest
    file_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        if not self.entries:
            return [f"cache: empty; database {human(self.file_bytes)}"]
        out = [
            f"cache: {self.entries:,} entries, {human(self.bytes)}, oldest {_t(self.oldest)}, "
            f"newest {_t(self.newest)}; database {human(self.file_bytes)}",
            f"{'model':40}  {'entries':>8}  {'bytes':>9}  {'oldest':19}  newest",
        ]
        for m in self.by_model:
            out.append(
                f"{(m['model'] or '-')[:40]:40}  {m['entries']:>8,}  {human(m['bytes']):>9}  "
                f"{_t(m['oldest']):19}  {_t(m['newest'])}"
            )
        if self.without_parts:
            out.append(
                f"{self.without_parts:,} entries predate stored key components "
                "(cache explain cannot compare with them)"
            )
        return out


def cache_stats(store: Store) -> CacheStats:
    total = store.conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM({_ENTRY_BYTES}), 0), MIN(created_at), MAX(created_at), "
        "COALESCE(SUM(identity IS NULL), 0) FROM cache"
    ).fetchone()
    by_model = [
        dict(r)
        for r in store.conn.execute(
            f"SELECT model, COUNT(*) AS entries, SUM({_ENTRY_BYTES}) AS bytes, "
            "MIN(created_at) AS oldest, MAX(created_at) AS newest FROM cache "
            "GROUP BY model ORDER BY entries DESC, model"
        )
    ]
    return CacheStats(
        total[0], total[1], total[2], total[3], total[4], by_model, file_size(store.path)
    )


def prune_cache(
    store: Store, older_than_days: float | None, model: str | None = None, dry_run: bool = False
) -> list[str]:
    """Delete cache entries written more than ``older_than_days`` ago (None: every entry),
    of models whose spec contains ``model`` when given."""
    where, args = ["1"], []
    if older_than_days is not None:
        where.append("created_at < ?")
        args.append(utc_ago(older_than_days))
    if model:
        where.append("instr(model, ?) > 0")
        args.append(model)
    sql = " AND ".join(where)
    total = int(store.conn.execute("SELECT COUNT(*) FROM cache").fetchone()[0])
    n = int(store.conn.execute(f"SELECT COUNT(*) FROM cache WHERE {sql}", args).fetchone()[0])
    which = (f" older than {_days(older_than_days)}" if older_than_days is not None else "") + (
        f" of models matching {model!r}" if model else ""
    )
    if dry_run:
        return [f"would remove {n:,} of {total:,} cache entries{which} (dry run)"]
    before = file_size(store.path)
    with store.transaction():
        store.conn.execute(f"DELETE FROM cache WHERE {sql}", args)
    compact(store)
    return [
        f"removed {n:,} of {total:,} cache entries{which}; {total - n:,} left",
        shrink_line(before, file_size(store.path)),
    ]


# -- runs ------------------------------------------------------------------------------------
@dataclass
class GcPlan:
    """What ``gc`` keeps (run id -> why) and deletes, newest first."""

    keep: dict[str, str] = field(default_factory=dict)
    delete: list[dict[str, Any]] = field(default_factory=list)


def plan_gc(store: Store, keep: int, unfinished_days: float = UNFINISHED_DAYS) -> GcPlan:
    """Per model (the exact spec): its last ``keep`` complete runs, the run that
    ``--llmeval-baseline=latest`` picks; any run still running; any run that did not
    complete and started less than ``unfinished_days`` ago (it can be resumed); and every
    run that a kept run was gated against. The rest goes."""
    if keep < 0:
        raise ValueError(f"--keep: expected a number of runs >= 0, got {keep}")
    store.sweep_stale(socket.gethostname())  # a killed session's run is not 'running'
    runs = store.list_runs(limit=None)  # newest first
    plan = GcPlan()
    complete: dict[str | None, int] = {}
    latest: set[str | None] = set()
    young = utc_ago(unfinished_days)
    for r in runs:
        model = r["model"]
        if r["status"] == "complete":
            complete[model] = complete.get(model, 0) + 1
            if complete[model] <= keep:
                plan.keep[r["id"]] = f"one of the last {keep} complete runs of {model}"
            elif model not in latest and not r["partial"] and not r["n_errors"]:
                plan.keep[r["id"]] = f"what --llmeval-baseline=latest picks for {model}"
            if not r["partial"] and not r["n_errors"]:
                latest.add(model)
        elif r["status"] == "running":
            plan.keep[r["id"]] = "running"
        elif r["started_at"] >= young:
            plan.keep[r["id"]] = f"{r['status']}, started within {_days(unfinished_days)}"
    for r in runs:  # one level: a kept baseline's own baseline is not kept for its sake
        if r["id"] in plan.keep and not plan.keep[r["id"]].startswith("baseline of"):
            for base in _baselines(r):
                if base not in plan.keep:
                    plan.keep[base] = f"baseline of {r['id']}"
    plan.delete = [r for r in runs if r["id"] not in plan.keep]
    return plan


def gc(
    store: Store, keep: int, unfinished_days: float = UNFINISHED_DAYS, dry_run: bool = False
) -> list[str]:
    plan = plan_gc(store, keep, unfinished_days)
    ids = [r["id"] for r in plan.delete]
    kept = f"keeping {len(plan.keep)} run{'s' * (len(plan.keep) != 1)}"
    if dry_run:
        out = [f"would delete {len(ids)} run{'s' * (len(ids) != 1)}, {kept} (dry run)"]
        out += [f"  delete {r['id']}  {r['status']:11}  {r['model']}" for r in plan.delete]
        out += [f"  keep   {run_id}  {why}" for run_id, why in plan.keep.items()]
        return out
    before = file_size(store.path)
    counts = delete_runs(store, ids)
    compact(store)
    return [
        f"deleted {len(ids)} run{'s' * (len(ids) != 1)} ({_rows(counts)}), {kept}",
        shrink_line(before, file_size(store.path)),
    ]


def delete_runs(store: Store, ids: Sequence[str]) -> dict[str, int]:
    """Delete runs with their results, answers and metrics rows, in one transaction; how
    many rows went, per table. Cache entries stay: they serve any later run."""
    counts = dict.fromkeys(("runs", *RUN_TABLES), 0)
    with store.transaction():
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            marks = ", ".join("?" for _ in chunk)
            for table in RUN_TABLES:
                counts[table] += store.conn.execute(
                    f"DELETE FROM {table} WHERE run_id IN ({marks})", chunk
                ).rowcount
            counts["runs"] += store.conn.execute(
                f"DELETE FROM runs WHERE id IN ({marks})", chunk
            ).rowcount
    return counts


def delete(store: Store, refs: Iterable[str]) -> list[str]:
    """``llmeval runs delete``: every ref must name a run that is not running, else nothing
    is deleted (ValueError or LookupError, one line)."""
    store.sweep_stale(socket.gethostname())
    ids = list(dict.fromkeys(store.resolve(ref) for ref in refs))
    runs = [store.get_run(i) or {} for i in ids]
    for r in runs:
        if r["status"] == "running":
            raise ValueError(
                f"run {r['id']} is running (pid {r['pid']} on {r['host']}, heartbeat "
                f"{_t(r['heartbeat_at'])}): a session is writing it; nothing deleted"
            )
    before = file_size(store.path)
    counts = delete_runs(store, ids)
    compact(store)
    out = [
        f"deleted run{'s' * (len(ids) != 1)} {', '.join(ids)} ({_rows(counts)})",
        shrink_line(before, file_size(store.path)),
    ]
    gone = set(ids)
    for r in store.list_runs(limit=None):
        named = gone.intersection(_baselines(r))
        if named:
            out.append(f"note: run {r['id']} was gated against {', '.join(sorted(named))}")
    return out


def _baselines(run: dict[str, Any]) -> set[str]:
    """The runs a run was compared with: its ``baseline`` column and its comparison's."""
    found = {run.get("baseline")}
    comparison = run.get("comparison") or {}
    if isinstance(comparison, dict):
        found.add(comparison.get("baseline_label"))
    return {b for b in found if isinstance(b, str) and b}


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[t]:,} {t} rows" for t in RUN_TABLES)


def _days(days: float) -> str:
    return f"{days:g} day{'s' * (days != 1)}"


def _t(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"
