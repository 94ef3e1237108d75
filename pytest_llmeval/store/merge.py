"""Shards run on many machines, merged into one run: ``llmeval merge A.db B.db ...``.

Each shard (``pytest --llmeval-shard I/N``) is a run in its own database. Merging checks
that the shards belong together (one model, the same parameters, datasets and plugin
version, every shard of the same N exactly once, no sample twice), then writes one run
holding every row, with its metrics recomputed over all of them. ``llmeval gate`` then
applies the thresholds and the baseline comparison to it. No pytest here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.gate import aggregate
from pytest_llmeval.store.results import Results, Run
from pytest_llmeval.store.storage import RESULT_COLUMNS, Store, utcnow

# run params that differ from shard to shard, or from run to run of the same setup
_OWN = frozenset({"shard", "sent", "adapted", "baseline", "concurrency"})


class MergeError(ValueError):
    """The shards do not make one run; the message names which and why."""


@dataclass(frozen=True)
class Shard:
    db: Path
    run: Run
    index: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.db} (run {self.run.id}, shard {self.index}/{self.count})"


def find_shard(source: str) -> Shard:
    """``PATH`` (its newest shard run) or ``PATH:RUN``."""
    path, _, ref = source.partition(":") if not Path(source).exists() else (source, "", "")
    db = Path(path)
    with Results(db) as results:
        if ref:
            run = results.run(ref)
        else:
            runs = [r for r in results.runs(limit=None) if (r.params or {}).get("shard")]
            if not runs:
                raise MergeError(f"{db}: no shard run (run pytest with --llmeval-shard I/N)")
            run = runs[0]
    shard = (run.params or {}).get("shard")
    if not shard:
        raise MergeError(f"{db}: run {run.id} is not a shard (no --llmeval-shard)")
    i, n = (int(x) for x in str(shard).split("/"))
    return Shard(db, run, i, n)


def check(shards: Sequence[Shard]) -> None:
    """Refuse shards that do not make one run, naming which."""
    if not shards:
        raise MergeError("nothing to merge")
    first = shards[0]
    counts = {s.count for s in shards}
    if len(counts) > 1:
        raise MergeError("shards of different splits: " + ", ".join(f"{s.name}" for s in shards))
    seen: dict[int, Shard] = {}
    for s in shards:
        if s.index in seen:
            raise MergeError(f"shard {s.index}/{s.count} twice: {seen[s.index].name} and {s.name}")
        seen[s.index] = s
    missing = sorted(set(range(1, first.count + 1)) - set(seen))
    if missing:
        raise MergeError(
            f"missing shard(s) {', '.join(f'{i}/{first.count}' for i in missing)} "
            f"(given: {', '.join(sorted(f'{i}/{first.count}' for i in seen))})"
        )
    for s in shards:
        if s.run.status != "complete":
            raise MergeError(
                f"{s.name} is {s.run.status}"
                + (f" ({s.run.reason})" if s.run.reason else "")
                + ": resume it (--llmeval-resume) or run it again before merging"
            )
        for what, a, b in (
            ("model", first.run.model, s.run.model),
            ("plugin version", first.run.plugin_version, s.run.plugin_version),
            ("parameters", _setup(first.run), _setup(s.run)),
            ("datasets", dict(first.run.datasets), dict(s.run.datasets)),
            ("suites", sorted(first.run.suites), sorted(s.run.suites)),
        ):
            if a != b:
                raise MergeError(
                    f"{s.name} and {first.name} differ in {what}: {_show(b)} against {_show(a)}"
                )


def _setup(run: Run) -> dict[str, Any]:
    return {k: v for k, v in (run.params or {}).items() if k not in _OWN}


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def merge(sources: Sequence[str], into: Path, run_id: str) -> Run:
    """Merge shard runs into one run in ``into`` (created if need be); returns it."""
    shards = [find_shard(src) for src in sources]
    check(sorted(shards, key=lambda s: s.index))
    first = shards[0].run
    store = Store(into)
    try:
        params = {**_setup(first), "merged_from": [f"{s.db}:{s.run.id}" for s in shards]}
        row = {
            "id": run_id,
            "started_at": min(s.run.started_at for s in shards),
            "finished_at": max(s.run.finished_at or s.run.started_at for s in shards),
            "heartbeat_at": utcnow(),
            "status": "complete",
            "partial": int(any(_partial_beyond_shard(s) for s in shards)),
            "model": first.model,
            "params": params,
            "git_commit": first.git_commit,
            "git_dirty": first.git_dirty,
            "datasets": dict(first.datasets),
            "plugin_version": first.plugin_version,
            "suites": sorted(first.suites),
            # the thresholds each shard showed (for information): what the gate applies
            "verdicts": [dict(v, info=True) for v in first.verdicts],
        }
        store.create_run(row)
        cols = ", ".join(c for c in RESULT_COLUMNS if c != "run_id")
        for s in shards:  # SQLite copies the rows itself: no Python object per row
            store.conn.execute("ATTACH DATABASE ? AS shard", (str(s.db.resolve()),))
            try:
                with store.transaction():
                    store.conn.execute(
                        f"INSERT INTO results (run_id, {cols}) "
                        f"SELECT ?, {cols} FROM shard.results WHERE run_id = ?",
                        (run_id, s.run.id),
                    )
                    # the shard's answers serve the next run from the merged database
                    store.conn.execute(
                        "INSERT OR IGNORE INTO cache SELECT * FROM shard.cache WHERE run_id = ?",
                        (s.run.id,),
                    )
            finally:
                store.conn.execute("DETACH DATABASE shard")
        twice = store.conn.execute(
            "SELECT task, sample_id, repeat, COUNT(*) FROM results WHERE run_id = ? "
            "GROUP BY task, sample_id, repeat HAVING COUNT(*) > 1 LIMIT 3",
            (run_id,),
        ).fetchall()
        if twice:
            store.conn.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
            store.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            store.conn.commit()
            names = ", ".join(f"{t}/{sid}" for t, sid, _, _ in twice)
            raise MergeError(f"samples in more than one shard (overlapping shards): {names}")
        rows = store.results(run_id)
        metrics = aggregate.summarize(rows)
        store.save_metrics(run_id, aggregate.rows_for_storage(metrics))
        store.update_run(
            run_id,
            metrics=metrics,
            n_results=len(rows),
            n_errors=sum(1 for r in rows if r.budget_error),
        )
        found = store.get_run(run_id)
    finally:
        store.close()
    assert found is not None
    return Run.from_row(found)


def _partial_beyond_shard(s: Shard) -> bool:
    """A shard of a seeded sample (--llmeval-limit): the merged run is that sample, partial
    like any limited run."""
    return (s.run.params or {}).get("limit") is not None
