"""Why a request missed the response cache (``llmeval cache explain NODEID --run RUN``).

A run's stored row gives the request's messages (its ``prompt``) and repeat index, and its
``cache_key``; the cache entry under that key (written when the answer arrived) gives the
model identity and params. These components are compared with the nearest entry written
before the run started: one with the same messages first, else one of the same model
identity, else of the same model spec. The answer names the component that differs (the model identity's and the
params' differing keys, the messages, the repeat) or says that the request hit, or that a
rerun would. No pytest here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from pytest_llmeval.store.cache import canonical, messages_hash
from pytest_llmeval.store.storage import Store

PARTS = ("identity", "params", "messages_sha", "repeat")
_NAMES = {
    "identity": "model identity",
    "params": "params",
    "messages_sha": "messages",
    "repeat": "repeat",
}
_CANDIDATES = 200  # entries compared per query: the nearest is among the newest of them


def explain(store: Store, run_ref: str, nodeid: str) -> list[str]:
    """The explanation, one block per stored try of the node in the run; LookupError
    (one line) for an unknown run or node id."""
    run = store.get_run(store.resolve(run_ref))
    assert run is not None
    rows = _rows(store, run["id"], nodeid)
    out: list[str] = []
    for row in rows:
        if out:
            out.append("")
        out += _explain(store, run, row, len(rows) > 1)
    return out


def _rows(store: Store, run_id: str, nodeid: str) -> list[sqlite3.Row]:
    """The run's rows of ``nodeid``: the exact node id, else the one node id ending with or
    containing it (``test_qa.py::test_answer[q001]`` or just ``q001``)."""
    query = "SELECT * FROM results WHERE run_id = ? AND nodeid = ? ORDER BY repeat"
    rows = store.conn.execute(query, (run_id, nodeid)).fetchall()
    if rows:
        return rows
    like = [
        r[0]
        for r in store.conn.execute(
            "SELECT DISTINCT nodeid FROM results WHERE run_id = ? AND instr(nodeid, ?) > 0 "
            "ORDER BY nodeid",
            (run_id, nodeid),
        )
    ]
    ending = [n for n in like if n.endswith(nodeid)]
    found = ending if len(ending) == 1 else like
    if len(found) == 1:
        return store.conn.execute(query, (run_id, found[0])).fetchall()
    if found:
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise LookupError(
            f"node id {nodeid!r} is ambiguous in run {run_id}: {', '.join(found[:3])}{more}"
        )
    n = store.conn.execute("SELECT COUNT(*) FROM results WHERE run_id = ?", (run_id,)).fetchone()
    raise LookupError(f"run {run_id} has no result for node id {nodeid!r} ({n[0]} results)")


def _explain(store: Store, run: Mapping[str, Any], row: sqlite3.Row, several: bool) -> list[str]:
    params = run.get("params") or {}
    mode, ttl = params.get("cache", "auto"), params.get("cache_ttl")
    try_ = f" (try {row['repeat']})" if several else ""
    head = f"{row['nodeid']}{try_} in run {run['id']}"
    key = row["cache_key"]
    entry = _entry(store, key) if key else None
    if row["output"] is None and row["error"]:
        return [f"{head}: errored before an answer, nothing to cache: {_line(row['error'])}"]
    if not key:
        if mode == "off":
            why = "the run had --llmeval-cache off"
        elif mode == "auto":
            why = (
                "--llmeval-cache auto reads and keeps only greedy (temperature 0) answers, "
                "and this request was sampled (--llmeval-cache on caches it)"
            )
        else:
            why = "its answer was over 64 KiB, or came from a direct call to the model fixture"
        return [f"{head}: not cached: {why}"]

    mine = _components(row, entry)
    out = []
    if row["cached"]:
        out.append(f"{head}: hit: answered from the cache (entry {key[:12]})")
    elif mode == "refresh":
        out.append(f"{head}: missed: --llmeval-cache refresh never reads, it overwrites")
    else:
        read = f" (it read only entries younger than {ttl:g} days)" if ttl else ""
        out.append(f"{head}: missed the cache{read}")
    out.append(f"  its key {key[:12]}:")
    out += [f"    {line}" for line in _describe(mine)]
    if entry is not None and entry["identity"] is None:
        out.append(
            f"  entry {key[:12]} predates stored key components: its model identity and "
            "params are unknown"
        )
    if not row["cached"]:
        out += _nearest(store, key, mine, entry, before=run["started_at"])
    if entry is None:
        out.append("  now: no entry has its key (pruned or cleared): a rerun would miss")
    else:
        by = "this run" if entry["run_id"] == run["id"] else f"run {entry['run_id']}"
        out.append(f"  now: a rerun would hit (entry written by {by} at {_t(entry['created_at'])})")
    return out


def _nearest(
    store: Store, key: str, mine: Mapping[str, Any], entry: sqlite3.Row | None, before: str
) -> list[str]:
    """Among the entries written ``before`` the run (those it could have hit), the one
    that differs from ``mine`` in the fewest components."""
    tiers = [
        ("messages_sha = ?", mine.get("messages_sha"), "same messages"),
        ("identity = ?", _json(mine.get("identity")), "same model identity"),
        ("model = ?", entry["model"] if entry is not None else None, "same model"),
    ]
    for where, value, label in tiers:
        if value is None:
            continue
        found = store.conn.execute(
            f"SELECT * FROM cache WHERE {where} AND key != ? AND created_at < ? "
            f"ORDER BY created_at DESC LIMIT {_CANDIDATES}",
            (value, key, before),
        ).fetchall()
        if not found:
            continue
        best = min(found, key=lambda e: _distance(mine, _stored_parts(e)))
        theirs = _stored_parts(best)
        where_from = f"run {best['run_id']}, {best['model']}, written {_t(best['created_at'])}"
        out = [f"  nearest entry {best['key'][:12]} ({label}; {where_from}):"]
        if best["identity"] is None:
            out.append("    it predates stored key components: which one differs is unknown")
            return out
        diffs = _differences(mine, theirs)
        out += [f"    {d}" for d in diffs] or [
            "    same components: the key was computed differently (another pytest-llmeval)"
        ]
        return out
    return [
        "  no entry written before the run shares its messages or its model: "
        "nothing it could have hit"
    ]


def _components(row: sqlite3.Row, entry: sqlite3.Row | None) -> dict[str, Any]:
    """The request's components: the entry's where it has them, else what the row gives
    (the messages' hash from its prompt, its repeat)."""
    parts = _stored_parts(entry) if entry is not None else dict.fromkeys(PARTS)
    if parts["messages_sha"] is None:
        try:
            messages = json.loads(row["prompt"] or "")
        except ValueError:  # cut at 64 KiB
            messages = None
        if isinstance(messages, list):
            parts["messages_sha"] = messages_hash(messages)
    if parts["repeat"] is None:
        parts["repeat"] = row["repeat"]
    return parts


def _stored_parts(entry: sqlite3.Row) -> dict[str, Any]:
    return {
        "identity": json.loads(entry["identity"]) if entry["identity"] else None,
        "params": json.loads(entry["params"]) if entry["params"] else None,
        "messages_sha": entry["messages_sha"],
        "repeat": entry["repeat"],
    }


def _distance(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> int:
    """Components that differ; an unknown one counts as differing, so entries with every
    component stored come first."""
    return sum(
        1 if mine[p] is None or theirs[p] is None or mine[p] != theirs[p] else 0 for p in PARTS
    )


def _differences(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    out = []
    for part in PARTS:
        a, b = mine[part], theirs[part]
        name = _NAMES[part]
        if a is None:
            out.append(f"{name}: unknown here (its entry is gone), {_short(b)} in the entry")
        elif a == b:
            continue
        elif isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(k for k in {*a, *b} if a.get(k, _UNSET) != b.get(k, _UNSET))
            detail = "; ".join(f"{k}: {_v(a, k)} here, {_v(b, k)} in the entry" for k in keys)
            verb = "differ" if part == "params" else "differs"
            out.append(f"{name} {verb} in {', '.join(keys)} ({detail})")
        elif part == "messages_sha":
            out.append(f"messages differ (sha256 {a[:12]} here, {str(b)[:12]} in the entry)")
        else:
            out.append(f"{name} differs: {a} here, {b} in the entry")
    return out


def _describe(parts: Mapping[str, Any]) -> list[str]:
    return [f"{_NAMES[p]} {_short(parts[p]) if parts[p] is not None else 'unknown'}" for p in PARTS]


_UNSET = object()


def _v(d: Mapping[str, Any], k: str) -> str:
    return "unset" if k not in d else json.dumps(d[k], ensure_ascii=False)


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:  # a hash
        return value[:12]
    return canonical(value)


def _json(value: Any) -> str | None:
    return None if value is None else canonical(value)


def _entry(store: Store, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = store.conn.execute(
        "SELECT * FROM cache WHERE key = ?", (key,)
    ).fetchone()
    return row


def _line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _t(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"
