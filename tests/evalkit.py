"""Helpers to build small eval projects inside pytester and script the test server."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from llm_server import LLMServer

from pytest_llmeval.dataset import Sample
from pytest_llmeval.tasks import TASKS, Prompt


def qa_records(n: int, prefix: str = "q") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i:03d}",
            "question": f"What is the code of item {i}?",
            "context": f"Item {i} has code c{i}x. Item {i + 1000} has code d{i}.",
            "expected_answer": f"c{i}x",
            "reference_facts": [f"Item {i} has code c{i}x."],
            "slice": ["factual" if i % 3 else "reasoning", "easy" if i % 2 else "hard"],
            "difficulty": "easy" if i % 2 else "hard",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def user_message(record: Mapping[str, Any], task: str = "qa", prompt: Prompt | None = None) -> str:
    """The last user message the plugin sends for ``record`` (the server's script key)."""
    sample = Sample(str(record["id"]), task, dict(record), "x", 1)
    return (prompt or TASKS[task].prompt).render(sample)[-1]["content"]


def key(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def answers(
    records: Iterable[Mapping[str, Any]],
    wrong: Iterable[str] = (),
    task: str = "qa",
    field: str = "expected_answer",
) -> dict[str, Any]:
    """A server script answering every record correctly except the ids in ``wrong``."""
    wrong = set(wrong)
    replies = {}
    for r in records:
        value = r[field]
        good = value if isinstance(value, str) else json.dumps(value)
        replies[key(user_message(r, task))] = "wrong answer" if r["id"] in wrong else good
    return {"replies": replies}


class EvalProject:
    """A pytester project wired to the test server and its own results database."""

    def __init__(self, pytester: pytest.Pytester, server: LLMServer) -> None:
        self.pytester = pytester
        self.server = server
        self.path = pytester.path
        self.db = pytester.path / "results.db"
        pytester.makeini("[pytest]\n")

    def qa_suite(
        self,
        n: int = 10,
        wrong: Iterable[str] = (),
        name: str = "eval_qa.yaml",
        extra: str = "",
        dataset: str = "data/qa.jsonl",
    ) -> list[dict[str, Any]]:
        records = qa_records(n)
        write_jsonl(self.path / dataset, records)
        (self.path / "evals").mkdir(exist_ok=True)
        (self.path / "evals" / name).write_text(f"task: qa\ndataset: {dataset}\n{extra}")
        self.server.configure(script=answers(records, wrong))
        return records

    def args(self, *extra: str, model: str = "openai/test-model", cache: bool = False) -> list[str]:
        """Command line for the server's model; pytest's cache (--lf) only when asked."""
        nocache = [] if cache else ["-p", "no:cacheprovider"]
        return [
            "--model",
            model,
            "--llmeval-base-url",
            self.server.base_url,
            "--llmeval-db",
            str(self.db),
            *nocache,
            *extra,
        ]

    def run(self, *extra: str, **kw: Any) -> pytest.RunResult:
        return self.pytester.runpytest(*self.args(*extra, **kw))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def runs(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY started_at")]

    def results(self, run_id: str | None = None) -> list[dict[str, Any]]:
        run_id = run_id or self.runs()[-1]["id"]
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT * FROM results WHERE run_id = ? ORDER BY sample_id", (run_id,)
            ).fetchall()
            return [dict(r) for r in rows]


def lines(*patterns: str) -> list[str]:
    """fnmatch patterns where ``[`` is literal (our output is full of brackets)."""
    return [p.replace("[", "[[]") for p in patterns]
