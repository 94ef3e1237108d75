"""The response cache's upkeep on a real database made by real runs: entries keep their key's
components, ``--llmeval-cache-ttl``, and ``llmeval cache stats|prune|clear|explain``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from evalkit import EvalProject, write_jsonl

from pytest_llmeval.store.cache import messages_hash

OLD = "2020-01-01T00:00:00.000000Z"


def llmeval(project: EvalProject, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def ok(project: EvalProject, *args: str) -> str:
    done = llmeval(project, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_ids(project: EvalProject) -> list[str]:
    return [r["id"] for r in project.runs()]


def requests(project: EvalProject) -> int:
    return int(project.server.stats()["requests"])


def test_entries_keep_their_keys_components(project: EvalProject) -> None:
    project.qa_suite(3)
    project.run().assert_outcomes(passed=3)
    entries = project.query("SELECT identity, params, messages_sha, repeat, key FROM cache")
    rows = {r["cache_key"]: r for r in project.results()}
    assert len(entries) == 3 and set(rows) == {e[4] for e in entries}
    for identity, params, sha, repeat, key in entries:
        ident = json.loads(identity)
        assert ident["provider"] == "openai" and ident["model"] == "test-model"
        assert ident["base_url"] == project.server.base_url.rstrip("/")
        assert json.loads(params)["temperature"] == 0
        # the messages' hash is what the stored prompt hashes to: explain relies on it
        assert sha == messages_hash(json.loads(rows[key]["prompt"]))
        assert repeat == 0


def test_explain_names_the_param_that_differs_then_the_hit(project: EvalProject) -> None:
    project.qa_suite(3)
    project.run().assert_outcomes(passed=3)
    project.run("--max-tokens", "100").assert_outcomes(passed=3)
    first, second = run_ids(project)
    out = ok(project, "cache", "explain", "q001", "--run", second)
    lines = out.splitlines()
    assert lines[0] == f"evals/eval_qa.yaml::q001 in run {second}: missed the cache", out
    assert f"same messages; run {first}" in out
    assert "params differ in max_tokens (max_tokens: 100 here, " in out
    assert "model identity differs" not in out and "messages differ" not in out
    assert "now: a rerun would hit (entry written by this run" in out
    # the first run missed too: nothing was cached before it
    out = ok(project, "cache", "explain", "q001", "--run", first)
    assert "no entry written before the run shares its messages or its model" in out
    # the same settings again: a hit, from the first run's entry
    project.run().assert_outcomes(passed=3)
    third = run_ids(project)[-1]
    out = ok(project, "cache", "explain", "q001", "--run", third)
    assert f"in run {third}: hit: answered from the cache" in out.splitlines()[0]
    assert f"now: a rerun would hit (entry written by run {first}" in out


def test_explain_names_the_model_identity_and_the_messages(project: EvalProject) -> None:
    records = project.qa_suite(3)
    project.run().assert_outcomes(passed=3)
    project.run(model="openai/other-model").assert_outcomes(passed=3)
    other = run_ids(project)[-1]
    out = ok(project, "cache", "explain", "q002", "--run", other)
    assert 'model identity differs in model (model: "other-model" here, "test-model"' in out
    assert "params differ" not in out

    records[2]["question"] = "What is the code of item 2, exactly?"
    write_jsonl(project.path / "data/qa.jsonl", records)
    project.run()
    edited = run_ids(project)[-1]
    hits = {r["sample_id"]: r["cached"] for r in project.results(edited)}
    assert hits == {"q000": 1, "q001": 1, "q002": 0}
    out = ok(project, "cache", "explain", "q002", "--run", edited)
    assert "(same model identity;" in out and "messages differ (sha256 " in out
    assert "params differ" not in out and "model identity differs" not in out


def test_explain_names_the_repeat(project: EvalProject) -> None:
    project.qa_suite(2)
    project.run().assert_outcomes(passed=2)
    project.run("--llmeval-repeats", "2")
    out = ok(project, "cache", "explain", "q001", "--run", run_ids(project)[-1])
    first, second = out.split("\n\n")
    assert "(try 0)" in first and "hit: answered from the cache" in first
    assert "(try 1)" in second and "missed the cache" in second
    assert "repeat differs: 1 here, 0 in the entry" in second


def test_explain_says_why_a_request_was_not_cached(project: EvalProject) -> None:
    project.qa_suite(2)
    project.run("--temperature", "0.7")
    out = ok(project, "cache", "explain", "q001", "--run", run_ids(project)[-1])
    assert "not cached: --llmeval-cache auto reads and keeps only greedy" in out
    project.run("--llmeval-cache", "off")
    out = ok(project, "cache", "explain", "q001", "--run", run_ids(project)[-1])
    assert "not cached: the run had --llmeval-cache off" in out


def test_explain_refuses_an_unknown_run_or_node_in_one_line(project: EvalProject) -> None:
    project.qa_suite(2)
    project.run()
    run = run_ids(project)[-1]
    for args, message in (
        (["q999", "--run", run], f"llmeval: run {run} has no result for node id 'q999'"),
        (["q00", "--run", run], "llmeval: node id 'q00' is ambiguous in run"),
        (["q001", "--run", "nope"], "llmeval: unknown run id 'nope'"),
    ):
        done = llmeval(project, "cache", "explain", *args)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr


def test_ttl_skips_older_entries_and_refreshes_them(project: EvalProject) -> None:
    project.qa_suite(3)
    project.run().assert_outcomes(passed=3)
    project.query("UPDATE cache SET created_at = ?", OLD)  # entries from 2020
    before = requests(project)
    project.run().assert_outcomes(passed=3)  # no TTL: any age is read
    assert requests(project) == before
    assert [r["cached"] for r in project.results()] == [1, 1, 1]

    project.run("--llmeval-cache-ttl", "30").assert_outcomes(passed=3)
    assert requests(project) == before + 3
    assert [r["cached"] for r in project.results()] == [0, 0, 0]
    assert project.query("SELECT COUNT(*) FROM cache WHERE created_at > ?", OLD) == [(3,)]
    out = ok(project, "cache", "explain", "q000", "--run", run_ids(project)[-1])
    assert "missed the cache (it read only entries younger than 30 days)" in out
    # refreshed: the next run with the TTL hits, and so does an ini TTL
    project.pytester.makeini("[pytest]\nllmeval_cache_ttl = 0.5\n")
    project.run().assert_outcomes(passed=3)
    assert requests(project) == before + 3
    assert json.loads(project.runs()[-1]["params"])["cache_ttl"] == 0.5


@pytest.mark.parametrize("ttl", ["0", "-3"])
def test_a_ttl_that_is_not_positive_is_a_usage_error(project: EvalProject, ttl: str) -> None:
    project.qa_suite(1)
    result = project.run(f"--llmeval-cache-ttl={ttl}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --llmeval-cache-ttl: must be > 0, got {ttl}*"])


def _stats(project: EvalProject) -> dict[str, Any]:
    return json.loads(ok(project, "cache", "stats", "--json"))  # type: ignore[no-any-return]


def test_stats_prune_and_clear(project: EvalProject) -> None:
    project.qa_suite(40)
    project.run()
    project.run(model="openai/other-model")
    stats = _stats(project)
    assert stats["entries"] == 80 and stats["without_parts"] == 0
    assert {m["model"]: m["entries"] for m in stats["by_model"]} == {
        "openai/test-model": 40,
        "openai/other-model": 40,
    }
    total = project.query("SELECT SUM(LENGTH(response)) FROM cache")[0][0]
    assert stats["bytes"] > total and stats["file_bytes"] >= os.path.getsize(project.db)
    text = ok(project, "cache", "stats")
    assert text.startswith("cache: 80 entries, ")
    assert [ln.split()[:2] for ln in text.splitlines()[2:]] == [
        ["openai/other-model", "40"],
        ["openai/test-model", "40"],
    ]
    # half of each model's entries from 2020; prune only the old ones of one model
    project.query(
        "UPDATE cache SET created_at = ? WHERE messages_sha IN (SELECT messages_sha "
        "FROM cache WHERE model = 'openai/test-model' ORDER BY key LIMIT 20)",
        OLD,
    )
    assert project.query("SELECT COUNT(*) FROM cache WHERE created_at = ?", OLD) == [(40,)]
    dry = ok(project, "cache", "prune", "--older-than", "30d", "--dry-run")
    assert dry.strip() == "would remove 40 of 80 cache entries older than 30 days (dry run)"
    out = ok(project, "cache", "prune", "--older-than", "4w", "--model", "other")
    assert out.splitlines()[0] == (
        "removed 20 of 80 cache entries older than 28 days of models matching 'other'; 60 left"
    )
    assert out.splitlines()[1].startswith("database ")
    left = project.query("SELECT model, created_at = ? FROM cache", OLD)
    assert left.count(("openai/test-model", 1)) == 20 and len(left) == 60
    assert ("openai/other-model", 1) not in left
    ok(project, "cache", "prune", "--older-than", "30d")
    assert _stats(project)["entries"] == 40

    size = os.path.getsize(project.db)
    out = ok(project, "cache", "clear")
    assert out.splitlines()[0] == "removed 40 of 40 cache entries; 0 left"
    assert _stats(project)["entries"] == 0 and os.path.getsize(project.db) < size
    assert ok(project, "cache", "stats").startswith("cache: empty; database ")
    # the runs are untouched
    assert len(project.runs()) == 2 and len(project.results()) == 40


def test_a_bad_age_is_one_line(project: EvalProject) -> None:
    project.qa_suite(1)
    project.run()
    done = llmeval(project, "cache", "prune", "--older-than", "soon")
    assert done.returncode == 2
    assert done.stderr == (
        "llmeval: --older-than: expected an age such as 30d, 12h or 2w, got 'soon'\n"
    )
    assert project.query("SELECT COUNT(*) FROM cache") == [(1,)]


def test_an_older_database_keeps_its_entries_without_components(project: EvalProject) -> None:
    """A version-6 database (entries with no components) migrates; explain says what it
    cannot know."""
    project.qa_suite(3)
    project.run().assert_outcomes(passed=3)
    with sqlite3.connect(project.db) as conn:  # back to the version-6 layout, entries kept
        conn.executescript(
            "DROP INDEX cache_by_created; DROP INDEX cache_by_messages;"
            "ALTER TABLE cache DROP COLUMN identity; ALTER TABLE cache DROP COLUMN params;"
            "ALTER TABLE cache DROP COLUMN messages_sha; ALTER TABLE cache DROP COLUMN repeat;"
            "ALTER TABLE results DROP COLUMN tool_calls; ALTER TABLE results DROP COLUMN transcript;"
            "ALTER TABLE results DROP COLUMN cost_usd; ALTER TABLE results DROP COLUMN judge_cost_usd;"
            "PRAGMA user_version = 6;"
        )
    keys = project.query("SELECT key FROM cache ORDER BY key")
    stats = _stats(project)  # the command migrates the file
    assert stats["entries"] == 3 and stats["without_parts"] == 3
    assert project.query("PRAGMA user_version")[0][0] >= 7
    assert project.query("SELECT key FROM cache ORDER BY key") == keys
    assert "3 entries predate stored key components" in ok(project, "cache", "stats")

    first = run_ids(project)[0]
    out = ok(project, "cache", "explain", "q001", "--run", first)
    assert "predates stored key components: its model identity and params are unknown" in out
    assert "model identity unknown" in out and "repeat 0" in out
    project.run("--max-tokens", "100").assert_outcomes(passed=3)
    out = ok(project, "cache", "explain", "q001", "--run", run_ids(project)[-1])
    assert "nearest entry" in out and "(same model; " in out
    assert "it predates stored key components: which one differs is unknown" in out
