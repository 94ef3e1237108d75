"""The SQLite run store: schema, migrations and queries. No pytest here.

One file holds every run. Only one process writes during a session (the pytest
controller), in batched transactions; WAL lets the ``llmeval`` command read meanwhile,
and the busy timeout covers a second session writing the same file.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_llmeval.result import COLUMNS, SampleResult
from pytest_llmeval.store.cache import canonical

SCHEMA_VERSION = 8

# Each entry upgrades the schema from version i to i+1; never edit a released entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        heartbeat_at TEXT,
        status TEXT NOT NULL CHECK (status IN
            ('running', 'complete', 'interrupted', 'incomplete', 'aborted')),
        partial INTEGER NOT NULL DEFAULT 0,
        exitstatus INTEGER,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        git_commit TEXT,
        git_dirty INTEGER,
        datasets TEXT NOT NULL DEFAULT '{}',
        host TEXT,
        pid INTEGER,
        plugin_version TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        verdicts TEXT NOT NULL DEFAULT '[]',
        n_results INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE results (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        nodeid TEXT NOT NULL,
        task TEXT NOT NULL,
        sample_id TEXT NOT NULL,
        dataset TEXT,
        slices TEXT NOT NULL DEFAULT '[]',
        difficulty TEXT,
        prompt TEXT,
        output TEXT,
        expected TEXT,
        scores TEXT NOT NULL DEFAULT '{}',
        passed INTEGER,
        error TEXT,
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached INTEGER NOT NULL DEFAULT 0,
        finish_reason TEXT,
        worker TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, nodeid)
    );
    CREATE INDEX results_by_sample ON results (run_id, task, sample_id);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        task TEXT NOT NULL,
        slice TEXT NOT NULL DEFAULT '',
        metric TEXT NOT NULL,
        value REAL,
        lo REAL,
        hi REAL,
        n INTEGER NOT NULL,
        method TEXT,
        PRIMARY KEY (run_id, task, slice, metric)
    );
    CREATE INDEX runs_by_start ON runs (started_at);
    """,
    # 2: the response cache, and a cached row's original latency beside its own.
    """
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        response TEXT NOT NULL,
        latency_ms REAL,
        run_id TEXT,
        created_at TEXT NOT NULL
    );
    ALTER TABLE results ADD COLUMN original_latency_ms REAL;
    ALTER TABLE results ADD COLUMN cache_key TEXT;
    """,
    # 3: the baseline a run was gated against, and that comparison.
    """
    ALTER TABLE runs ADD COLUMN baseline TEXT;
    ALTER TABLE runs ADD COLUMN comparison TEXT;
    """,
    # 4: LLM judges: what kind of error a row has, and the judge's own cost and reply.
    """
    ALTER TABLE results ADD COLUMN error_kind TEXT;
    ALTER TABLE results ADD COLUMN judged INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE results ADD COLUMN judge_output TEXT;
    ALTER TABLE results ADD COLUMN judge_latency_ms REAL;
    ALTER TABLE results ADD COLUMN judge_prompt_tokens INTEGER;
    ALTER TABLE results ADD COLUMN judge_completion_tokens INTEGER;
    """,
    # 5: outcomes that tell the truth. `errored` (samples errored beyond the error budget:
    # never a baseline), the gate's verdict and the reason a run did not complete, and the
    # answers of a run as they arrive (what --llmeval-resume reuses). SQLite cannot change
    # a CHECK constraint in place: the runs table is rebuilt (foreign keys are off while
    # migrating, so its results stay).
    """
    CREATE TABLE runs_v5 (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        heartbeat_at TEXT,
        status TEXT NOT NULL CHECK (status IN
            ('running', 'complete', 'interrupted', 'incomplete', 'aborted', 'errored')),
        partial INTEGER NOT NULL DEFAULT 0,
        exitstatus INTEGER,
        model TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        git_commit TEXT,
        git_dirty INTEGER,
        datasets TEXT NOT NULL DEFAULT '{}',
        host TEXT,
        pid INTEGER,
        plugin_version TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        verdicts TEXT NOT NULL DEFAULT '[]',
        n_results INTEGER NOT NULL DEFAULT 0,
        baseline TEXT,
        comparison TEXT
    );
    INSERT INTO runs_v5 SELECT * FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v5 RENAME TO runs;
    CREATE INDEX runs_by_start ON runs (started_at);
    ALTER TABLE runs ADD COLUMN verdict TEXT;
    ALTER TABLE runs ADD COLUMN reason TEXT;
    ALTER TABLE runs ADD COLUMN n_errors INTEGER NOT NULL DEFAULT 0;
    UPDATE runs SET n_errors =
        (SELECT COUNT(*) FROM results WHERE run_id = runs.id AND error IS NOT NULL);
    ALTER TABLE runs ADD COLUMN suites TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE runs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE results ADD COLUMN repeat INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE answers (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        request_id TEXT NOT NULL,
        response TEXT NOT NULL,
        latency_ms REAL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, request_id)
    );
    """,
    # 6: repeats: a sample's K tries are K rows of one item, so a row is keyed by its try too
    # (the table is rebuilt: SQLite cannot change a primary key in place).
    """
    CREATE TABLE results_v6 (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        nodeid TEXT NOT NULL,
        task TEXT NOT NULL,
        sample_id TEXT NOT NULL,
        dataset TEXT,
        slices TEXT NOT NULL DEFAULT '[]',
        difficulty TEXT,
        prompt TEXT,
        output TEXT,
        expected TEXT,
        scores TEXT NOT NULL DEFAULT '{}',
        passed INTEGER,
        error TEXT,
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached INTEGER NOT NULL DEFAULT 0,
        finish_reason TEXT,
        worker TEXT,
        created_at TEXT NOT NULL,
        original_latency_ms REAL,
        cache_key TEXT,
        error_kind TEXT,
        judged INTEGER NOT NULL DEFAULT 0,
        judge_output TEXT,
        judge_latency_ms REAL,
        judge_prompt_tokens INTEGER,
        judge_completion_tokens INTEGER,
        repeat INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, nodeid, repeat)
    );
    INSERT INTO results_v6 SELECT * FROM results;
    DROP TABLE results;
    ALTER TABLE results_v6 RENAME TO results;
    CREATE INDEX results_by_sample ON results (run_id, task, sample_id);
    """,
    # 7: a cache entry keeps its key's components (model identity and params as JSON, the
    # messages' hash, the repeat index), so a miss can be explained; older entries keep
    # NULLs. Indexes for pruning by age and for finding an entry's nearest neighbours.
    """
    ALTER TABLE cache ADD COLUMN identity TEXT;
    ALTER TABLE cache ADD COLUMN params TEXT;
    ALTER TABLE cache ADD COLUMN messages_sha TEXT;
    ALTER TABLE cache ADD COLUMN repeat INTEGER;
    CREATE INDEX cache_by_created ON cache (created_at);
    CREATE INDEX cache_by_messages ON cache (messages_sha);
    """,
    # 8: the functions a model called, a conversation's every message (as JSON), and what
    # the model's and the judge's calls cost
    """
    ALTER TABLE results ADD COLUMN tool_calls TEXT;
    ALTER TABLE results ADD COLUMN transcript TEXT;
    ALTER TABLE results ADD COLUMN cost_usd REAL;
    ALTER TABLE results ADD COLUMN judge_cost_usd REAL;
    """,
]

RESULT_COLUMNS = ("run_id", *COLUMNS, "created_at")  # the result's own, and the row's keys
_JSON_RESULT = {"slices", "scores", "tool_calls", "transcript"}
_OPEN_LOCK = threading.Lock()
HEARTBEAT_S = 15.0  # a running session touches its run row this often
STALE_AFTER_S = 300.0  # a running row silent for this long belongs to a dead process
_JSON_RUN = {"params", "datasets", "metrics", "verdicts", "comparison", "suites"}


class StoreError(RuntimeError):
    """The results database cannot be opened or is from a newer version."""


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # sorts as text: stored times compare with < in SQL


def utcnow() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def utc_ago(days: float) -> str:
    """The stored form of the time ``days`` ago."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime(TIME_FORMAT)


class Store:
    """A connection to the results database (one per process, used from one thread)."""

    def __init__(self, path: Path | str, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no results database at {self.path}")
                uri = f"file:{self.path.resolve().as_posix()}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, timeout=30.0)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                # Switching a new file to WAL answers "locked" at once, without waiting on
                # the busy timeout, when another connection of this process opens it at
                # the same moment (the recorder and the engine's cache lookup): one at a time.
                with _OPEN_LOCK:
                    self.conn.execute("PRAGMA journal_mode = WAL")
                    self.conn.execute("PRAGMA synchronous = NORMAL")
                    self._migrate()  # with foreign keys off: a migration may rebuild a table
                    self.conn.execute("PRAGMA foreign_keys = ON")
            else:
                self._check_version()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    # -- schema -------------------------------------------------------------------------
    def _check_version(self) -> int:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this pytest-llmeval reads up "
                f"to {SCHEMA_VERSION}: upgrade pytest-llmeval"
            )
        return version

    def _migrate(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._check_version()
            for i in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[i]):
                    self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # -- writes (controller only) ---------------------------------------------------------
    def create_run(self, run: Mapping[str, Any]) -> None:
        row = {k: _dump(v) if k in _JSON_RUN else v for k, v in run.items()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction():
            self.conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))

    def add_results(self, run_id: str, results: Sequence[SampleResult]) -> None:
        if not results:
            return
        now = utcnow()
        values = []
        for r in results:
            full = {**r.columns(), "run_id": run_id, "created_at": now}
            values.append(
                tuple(
                    _dump(full[c]) if c in _JSON_RESULT and full.get(c) is not None else full.get(c)
                    for c in RESULT_COLUMNS
                )
            )
        marks = ", ".join("?" for _ in RESULT_COLUMNS)
        with self.transaction():
            self.conn.executemany(
                f"INSERT OR REPLACE INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({marks})",
                values,
            )
            self.conn.execute(
                "UPDATE runs SET heartbeat_at = ?, "
                "n_results = (SELECT COUNT(*) FROM results WHERE run_id = ?) WHERE id = ?",
                (now, run_id, run_id),
            )

    def update_run(self, run_id: str, **fields: Any) -> None:
        row = {k: _dump(v) if k in _JSON_RUN else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in row)
        with self.transaction():
            self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*row.values(), run_id))

    def save_metrics(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT INTO metrics (run_id, task, slice, metric, value, lo, hi, n, method) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        r["task"],
                        r.get("slice", ""),
                        r["metric"],
                        r.get("value"),
                        r.get("lo"),
                        r.get("hi"),
                        r["n"],
                        r.get("method"),
                    )
                    for r in rows
                ],
            )

    def put_cache(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Store responses under their cache keys, with the key's components when the entry
        has them (``parts``, see ``cache.key_parts``); a refresh overwrites."""
        if not entries:
            return
        now = utcnow()
        rows = []
        for e in entries:
            parts = e.get("parts") or {}
            rows.append(
                (
                    e["key"],
                    e["model"],
                    _dump(e["response"]),
                    e.get("latency_ms"),
                    e.get("run_id"),
                    now,
                    canonical(parts["identity"]) if "identity" in parts else None,
                    canonical(parts["params"]) if "params" in parts else None,
                    parts.get("messages_sha"),
                    parts.get("repeat"),
                )
            )
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO cache (key, model, response, latency_ms, run_id, "
                "created_at, identity, params, messages_sha, repeat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def get_cache(
        self, keys: Sequence[str], max_age_days: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """The cached entries among ``keys`` (missing keys are absent from the result);
        with ``max_age_days``, older entries count as missing."""
        found: dict[str, dict[str, Any]] = {}
        young = "" if max_age_days is None else " AND created_at >= ?"
        since = () if max_age_days is None else (utc_ago(max_age_days),)
        for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.conn.execute(
                f"SELECT key, response, latency_ms FROM cache WHERE key IN ({marks}){young}",
                (*chunk, *since),
            ):
                found[row["key"]] = {
                    "response": json.loads(row["response"]),
                    "latency_ms": row["latency_ms"],
                }
        return found

    def heartbeat(self, run_id: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (utcnow(), run_id))

    def put_answers(self, run_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """A run's answers as they arrive, before their items score them: what
        ``--llmeval-resume`` reuses after Ctrl-C or a kill, at any temperature."""
        if not entries:
            return
        now = utcnow()
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO answers (run_id, request_id, response, latency_ms, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (run_id, e["request_id"], _dump(e["response"]), e.get("latency_ms"), now)
                    for e in entries
                ],
            )

    def answers(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {
            row["request_id"]: {
                "response": json.loads(row["response"]),
                "latency_ms": row["latency_ms"],
            }
            for row in self.conn.execute(
                "SELECT request_id, response, latency_ms FROM answers WHERE run_id = ?", (run_id,)
            )
        }

    def delete_answers(self, run_id: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM answers WHERE run_id = ?", (run_id,))

    def sweep_stale(self, host: str, stale_after_s: float = STALE_AFTER_S) -> int:
        """Mark ``running`` runs whose process is gone (same host) or whose heartbeat went
        silent as ``aborted``: a job killed by its CI timeout leaves such a row."""
        now = datetime.now(UTC)
        aborted = 0
        for row in self.conn.execute(
            "SELECT id, host, pid, heartbeat_at, started_at FROM runs WHERE status = 'running'"
        ).fetchall():
            beat = _parse_time(row["heartbeat_at"] or row["started_at"])
            silent = (now - beat).total_seconds() > stale_after_s
            gone = row["host"] == host and row["pid"] and not _pid_alive(int(row["pid"]))
            if gone or silent:
                self.update_run(
                    row["id"],
                    status="aborted",
                    finished_at=utcnow(),
                    reason=f"the process ended without finishing the run (last heartbeat "
                    f"{(row['heartbeat_at'] or row['started_at'])[:19]}Z)",
                )
                aborted += 1
        return aborted

    def transaction(self) -> _Transaction:
        """One write transaction: ``with store.transaction(): ...``."""
        return _Transaction(self.conn)

    # -- reads ----------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def list_runs(
        self,
        limit: int | None = 20,
        model: str | None = None,
        status: str | None = None,
        verdict: str | None = None,
        exitstatus: int | None = None,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if model:
            where.append("model LIKE ?")
            args.append(f"%{model}%")
        if status:
            where.append("status = ?")
            args.append(status)
        if verdict:
            where.append("verdict = ?")
            args.append(verdict)
        if exitstatus is not None:
            where.append("exitstatus = ?")
            args.append(exitstatus)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_run(r) for r in self.conn.execute(sql, args).fetchall()]

    def resolve(self, ref: str, model: str | None = None) -> str:
        """A run id from ``latest`` (the newest complete, full run without errored samples;
        of ``model`` when given), a full id or a unique prefix; LookupError with a one-line
        reason otherwise."""
        if ref == "latest":
            where, args = "status = 'complete' AND partial = 0 AND n_errors = 0", []
            if model is not None:
                where += " AND model = ?"
                args.append(model)
            row = self.conn.execute(
                f"SELECT id FROM runs WHERE {where} ORDER BY started_at DESC, id DESC LIMIT 1",
                args,
            ).fetchone()
            if row is None:
                of = f" of model {model}" if model is not None else ""
                raise LookupError(
                    f"no complete, full run without errors{of} yet to use as 'latest'"
                )
            return str(row["id"])
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE id = ? OR id LIKE ? ORDER BY id", (ref, ref + "%")
        ).fetchall()
        ids = [r["id"] for r in rows]
        if ref in ids:
            return ref
        if len(ids) == 1:
            return str(ids[0])
        if len(ids) > 1:
            raise LookupError(f"run {ref!r} is ambiguous: {', '.join(ids[:5])}")
        recent = ", ".join(r["id"] for r in self.list_runs(5)) or "none"
        raise LookupError(f"unknown run id {ref!r} (recent runs: {recent})")

    def results(self, run_id: str) -> list[SampleResult]:
        rows = self.conn.execute(
            "SELECT * FROM results WHERE run_id = ? ORDER BY task, sample_id", (run_id,)
        ).fetchall()
        return [SampleResult.from_columns(_result(r)) for r in rows]

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT task, slice, metric, value, lo, hi, n, method FROM metrics "
            "WHERE run_id = ? ORDER BY task, slice, metric",
            (run_id,),
        ).fetchall()
        return [dict(r) for r in rows]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: take the write lock up front, so a second writer
    waits on the busy timeout instead of failing half-way through a batch."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def new_run_id() -> str:
    """Sortable and unique: ``20261127T101530Z-3f9a``."""
    import secrets

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def new_run_row(run_id: str, **fields: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": run_id,
        "started_at": now,
        "heartbeat_at": now,
        "status": "running",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **fields,
    }


def git_info(root: Path) -> dict[str, Any]:
    """Commit and dirty flag of the project at ``root`` (the run row's ``git_commit`` and
    ``git_dirty``), both None outside a git checkout. Also read by the finetune manifest,
    which must not import pytest: so it lives here, not in ``run/``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"git_commit": commit.stdout.strip(), "git_dirty": int(bool(dirty.stdout.strip()))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _run(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for k in _JSON_RUN:
        d[k] = json.loads(d[k]) if d.get(k) else ([] if k in ("verdicts", "suites") else {})
    d["partial"] = bool(d["partial"])
    if d.get("git_dirty") is not None:
        d["git_dirty"] = bool(d["git_dirty"])
    return d


def _result(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for k in _JSON_RESULT:
        d[k] = json.loads(d[k]) if d.get(k) else ({} if k == "scores" else [])
    if d["passed"] is not None:
        d["passed"] = bool(d["passed"])
    d["cached"] = bool(d["cached"])
    d["judged"] = bool(d.get("judged"))
    return d


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
