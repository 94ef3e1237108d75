from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pytest_llmeval.result import Call, SampleResult
from pytest_llmeval.store.storage import SCHEMA_VERSION, Store, StoreError, new_run_row


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "sub" / "r.db")
    conn = store.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "results", "metrics"} <= tables
    store.close()
    Store(tmp_path / "sub" / "r.db").close()  # reopening migrates nothing twice


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "r.db").close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade pytest-llmeval"):
        Store(tmp_path / "r.db")
    with pytest.raises(StoreError, match="upgrade pytest-llmeval"):
        Store(tmp_path / "r.db", readonly=True)


def test_readonly_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results database"):
        Store(tmp_path / "missing.db", readonly=True)


def test_runs_results_and_metrics_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    store.create_run(new_run_row("r1", model="openai/x", params={"t": 0}, datasets={"a": "h"}))
    rows = [
        SampleResult(
            nodeid=f"n{i}",
            task="qa",
            sample_id=f"s{i}",
            slices=("easy",),
            scores={"f1": {"value": 1.0}},
            passed=True,
            model=Call(output="x", latency_ms=1.5),
        )
        for i in range(3)
    ]
    store.add_results("r1", rows)
    store.add_results("r1", rows[:1])  # a rerun of the same item replaces its row
    store.save_metrics(
        "r1",
        [
            {
                "task": "qa",
                "slice": "",
                "metric": "accuracy",
                "value": 1.0,
                "lo": 0.4,
                "hi": 1.0,
                "n": 3,
                "method": "wilson",
            }
        ],
    )
    store.update_run("r1", status="complete", metrics={"qa": {}}, partial=0)
    run = store.get_run("r1")
    assert run is not None
    assert run["status"] == "complete" and run["n_results"] == 3 and run["params"] == {"t": 0}
    results = store.results("r1")
    assert results[0].slices == ("easy",) and results[0].passed is True
    assert results[0] == rows[0].with_(worker="main")  # the result round-trips whole
    assert results[0]["slices"] == ["easy"]  # and reads as the stored row
    assert store.metrics("r1")[0]["lo"] == 0.4
    assert [r["id"] for r in store.list_runs(status="complete")] == ["r1"]
    assert store.list_runs(model="nomatch") == []


def test_status_is_constrained(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.create_run(new_run_row("r1", status="done"))


def test_stale_running_runs_are_aborted(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    store.create_run(new_run_row("dead", pid=2**22 + 12345))  # no such process
    store.create_run(new_run_row("alive"))  # this process
    store.create_run(new_run_row("silent", host="elsewhere", heartbeat_at="2020-01-01T00:00:00.0Z"))
    assert store.sweep_stale(new_run_row("x")["host"]) == 2
    status = {r["id"]: r["status"] for r in store.list_runs()}
    assert status == {"dead": "aborted", "alive": "running", "silent": "aborted"}


def test_a_version_5_database_migrates_and_keys_rows_by_their_try(tmp_path: Path) -> None:
    """An older database keeps its rows, and a sample's tries become rows of their own."""
    from pytest_llmeval.store.storage import MIGRATIONS

    db = tmp_path / "r.db"
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:5]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 5")
        conn.execute(
            "INSERT INTO runs (id, started_at, status) VALUES ('r0', '2026-01-01', 'complete')"
        )
        conn.execute(
            "INSERT INTO results (run_id, nodeid, task, sample_id, passed, created_at) "
            "VALUES ('r0', 'e.yaml::q1', 'qa', 'q1', 1, '2026-01-01')"
        )
    store = Store(db)
    assert [r.sample_id for r in store.results("r0")] == ["q1"]
    tries = [
        SampleResult(nodeid="e.yaml::q1", task="qa", sample_id="q1", passed=k != 1, repeat=k)
        for k in range(3)
    ]
    store.add_results("r0", tries)
    rows = store.results("r0")
    assert sorted((r.repeat, r.passed) for r in rows) == [(0, True), (1, False), (2, True)]
    store.close()
