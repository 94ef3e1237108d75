from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_llmeval.dataset import DatasetError, FieldSpec, Sample, load_jsonl, select
from pytest_llmeval.suite import build_suite, load_suite_file
from pytest_llmeval.tasks import QA, Prompt


def _write(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_load_validates_and_caches(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.jsonl", {"id": "a", "x": "1"}, {"id": 7, "x": "2"})
    samples = load_jsonl(p, "t", [FieldSpec("x", (str,))], "d.jsonl")
    assert [s.id for s in samples] == ["a", "7"] and samples[1].line == 2
    assert load_jsonl(p, "t", [FieldSpec("x", (str,))], "d.jsonl") is samples
    with pytest.raises(DatasetError, match=r"^d.jsonl:1: field 'y' missing$"):
        load_jsonl(p, "t", [FieldSpec("y", (str,))], "d.jsonl")


@pytest.mark.parametrize("sid", ["has space", "ünï", "a[1]", "", True])
def test_unsafe_ids_are_refused(tmp_path: Path, sid: object) -> None:
    p = _write(tmp_path / "d.jsonl", {"id": sid})
    with pytest.raises(DatasetError, match=r"d\.jsonl:1: field .id."):
        load_jsonl(p, "t", display="d.jsonl")


def test_empty_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(DatasetError, match="dataset is empty"):
        load_jsonl(tmp_path / "e.jsonl", "t")
    (tmp_path / "b.jsonl").write_text('\n{"id": "a"}\n\n')
    assert load_jsonl(tmp_path / "b.jsonl", "t")[0].line == 2


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "x": "1"}\r\n{"id": "b", "x": "2"}\r\n')
    assert [s.id for s in load_jsonl(p, "t", [FieldSpec("x", (str,))])] == ["a", "b"]


def test_invalid_utf8_is_a_one_line_error_naming_the_line(tmp_path: Path) -> None:
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(b'{"id": "a", "x": "ok"}\n{"id": "b", "x": "caf\xe9"}\n')
    with pytest.raises(DatasetError) as err:
        load_jsonl(p, "t", display="data/latin1.jsonl")
    assert str(err.value) == (
        "data/latin1.jsonl:2: invalid UTF-8 (byte 0xe9 at col 22); save the file as UTF-8"
    )


def test_a_lone_surrogate_escape_is_a_one_line_error_naming_the_field(tmp_path: Path) -> None:
    """JSON's \\ud800 alone is no character: the run would crash writing it to the database."""
    p = tmp_path / "s.jsonl"
    p.write_text(
        '{"id": "a", "x": "\\ud83d\\ude00 a valid pair"}\n'
        '{"id": "b", "x": {"turns": ["ok", "broken \\uDC00"]}}\n'
    )
    with pytest.raises(DatasetError) as err:
        load_jsonl(p, "t", display="data/s.jsonl")
    assert str(err.value) == (
        "data/s.jsonl:2: field 'x.turns.1' has a lone surrogate escape (\\ud800-\\udfff), "
        "which is not text: write the character itself, or both halves of its pair"
    )
    p.write_text('{"id": "a", "x": "\\ud83d\\ude00 a valid pair, \\\\ud800 a backslash"}\n')
    assert load_jsonl(p, "t")[0]["x"] == "\U0001f600 a valid pair, \\ud800 a backslash"


def test_select_is_seeded_stable_and_order_preserving() -> None:
    samples = [Sample(f"s{i}", "t", {}, "x", i) for i in range(50)]
    a = select(samples, 10, seed=1)
    assert a == select(list(reversed(samples)), 10, seed=1)[::-1]
    assert [s.line for s in a] == sorted(s.line for s in a)
    # appending a sample changes at most one pick: the choice is by id, not position
    grown = select([*samples, Sample("new", "t", {}, "x", 99)], 10, seed=1)
    assert len({s.id for s in grown} - {s.id for s in a}) <= 1
    assert select(samples, 10, seed=2) != a
    assert select(samples, None, 0) == samples


def test_prompt_render_fills_fields_and_keeps_json() -> None:
    p = Prompt(system='Reply as {"a": 1}', user="Q: {question} S: {schema}")
    s = Sample("x", "t", {"question": "why?", "schema": {"type": "object"}}, "f", 1)
    assert p.fields == {"question", "schema"}
    assert p.render(s) == [
        {"role": "system", "content": 'Reply as {"a": 1}'},
        {"role": "user", "content": 'Q: why? S: {"type": "object"}'},
    ]


def test_suite_defaults_and_overrides(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "qa.jsonl", {"id": "a", "question": "q", "context": "c", "expected_answer": "x"}
    )
    suite = build_suite({"task": "qa", "dataset": "qa.jsonl"}, "s.yaml", tmp_path, tmp_path)
    assert suite.prompt == QA.prompt and suite.pass_on == ("qa_exact_match",)
    assert suite.params.max_tokens == 64 and suite.dataset == data
    suite = build_suite(
        {
            "task": "qa",
            "dataset": "qa.jsonl",
            "name": "mine",
            "params": {"temperature": 0.7, "stop": ["\n"]},
            "scorers": ["qa_f1", "qa_contains"],
            "pass_on": ["qa_contains"],
        },
        "s.yaml",
        tmp_path,
        tmp_path,
    )
    assert suite.name == "mine" and suite.params.temperature == 0.7
    assert suite.params.stop == ("\n",) and [s.metric for s in suite.scorers] == ["f1", "contains"]
    assert suite.samples()[0].task == "mine"


def test_dataset_is_found_next_to_the_suite(tmp_path: Path) -> None:
    (tmp_path / "evals").mkdir()
    _write(
        tmp_path / "evals" / "qa.jsonl",
        {"id": "a", "question": "q", "context": "c", "expected_answer": "x"},
    )
    (tmp_path / "evals" / "eval_x.yaml").write_text("task: qa\ndataset: qa.jsonl\n")
    suite = load_suite_file(tmp_path / "evals" / "eval_x.yaml", tmp_path)
    assert suite.dataset_display == "evals/qa.jsonl" and suite.source == "evals/eval_x.yaml"


def test_json_lines_take_surrounding_spaces_and_name_bad_json(tmp_path: Path) -> None:
    """The fast per-line decoder and json.loads agree: spaces around a record are fine,
    anything after it, or a broken record, is the line's one-line error."""
    p = tmp_path / "d.jsonl"
    p.write_text('  {"id": "a"}  \n{"id": 7}\t\n')
    assert [s.id for s in load_jsonl(p, "t")] == ["a", "7"]
    for line, message in [
        ('{"id": "b"} {"id": "c"}', "invalid JSON: Extra data (col 13)"),
        ('{"id": "b",}', "invalid JSON: Expecting property name enclosed in double quotes"),
        ('["b"]', "expected a JSON object, got list"),
        ('{"id": "x::y"}', "field 'id' 'x::y' contains '::'"),
    ]:
        p.write_text('{"id": "a"}\n' + line + "\n")
        with pytest.raises(DatasetError, match="^" + re.escape(f"d.jsonl:2: {message}")):
            load_jsonl(p, "t", display="d.jsonl")
