"""The suite format takes the datasets other tools use, as they are: chat messages, ids or
none, expected answers with an extract regex, few-shot turns, tools, scripted turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.dataset import DatasetError, load_jsonl
from pytest_llmeval.suite import Case, build_suite
from pytest_llmeval.suite.render import openai_tools


def _data(path: Path, *records: Any) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _suite(tmp_path: Path, **spec: Any) -> Any:
    return build_suite(spec, "evals/eval_x.yaml", tmp_path, tmp_path, default_name="x")


def _cases(suite: Any) -> list[Case]:
    samples = suite.samples()
    return [Case(suite, s, len(samples)) for s in samples]


OPENAI_EVALS_ROW = {
    "input": [
        {"role": "system", "content": "Unscramble the word."},
        {"role": "system", "name": "example_user", "content": "tca"},
        {"role": "system", "name": "example_assistant", "content": "cat"},
        {"role": "user", "content": "odg"},
    ],
    "ideal": ["dog", "god"],
}


def test_chat_messages_are_sent_as_they_are_with_the_system_prompt_first(tmp_path: Path) -> None:
    _data(tmp_path / "d.jsonl", OPENAI_EVALS_ROW)
    suite = _suite(
        tmp_path,
        dataset="d.jsonl",
        messages="input",
        expected="ideal",
        prompt={"system": "Be brief."},
        scorers=["qa_exact_match"],
    )
    (case,) = _cases(suite)
    assert case.messages == [{"role": "system", "content": "Be brief."}, *OPENAI_EVALS_ROW["input"]]
    assert case.expected == ["dog", "god"]
    assert suite.name == "x" and suite.task == "x"  # no task: the file's stem names it


def test_a_placeholder_that_meets_chat_messages_is_a_collection_error(tmp_path: Path) -> None:
    _data(tmp_path / "d.jsonl", OPENAI_EVALS_ROW)
    suite = _suite(tmp_path, dataset="d.jsonl", prompt={"user": "{input}"}, scorers=["qa_f1"])
    with pytest.raises(DatasetError) as err:
        suite.samples()
    assert str(err.value) == (
        "d.jsonl:1: field 'input' must be a string or a number or a boolean, got a list (used "
        "by the suite's prompt; chat messages: write messages: input; JSON text: write "
        "{input:json})"
    )


def test_json_text_is_asked_for_with_the_json_format(tmp_path: Path) -> None:
    _data(tmp_path / "d.jsonl", {"obj": {"a": [1, "é"]}, "expected_answer": "x"})
    suite = _suite(
        tmp_path, dataset="d.jsonl", prompt={"user": "Data: {obj:json}"}, scorers=["qa_f1"]
    )
    (case,) = _cases(suite)
    assert case.messages == [{"role": "user", "content": 'Data: {"a": [1, "é"]}'}]


def test_a_message_with_an_unknown_role_names_line_and_field(tmp_path: Path) -> None:
    bad = {"input": [{"role": "human", "content": "hi"}], "ideal": "x"}
    _data(tmp_path / "d.jsonl", OPENAI_EVALS_ROW, bad)
    suite = _suite(
        tmp_path, dataset="d.jsonl", messages="input", expected="ideal", scorers=["qa_f1"]
    )
    with pytest.raises(DatasetError, match=r"^d.jsonl:2: field 'input.0.role' must be one of "):
        suite.samples()


def test_ids_are_derived_from_content_stable_and_distinct_for_duplicates(tmp_path: Path) -> None:
    rows = [{"q": "a"}, {"q": "b"}, {"q": "a"}, {"id": "own", "q": "c"}, {"q": "a"}]
    samples = load_jsonl(_data(tmp_path / "d.jsonl", *rows), "t")
    ids = [s.id for s in samples]
    assert ids[0] != ids[1] and ids[3] == "own"
    assert ids[2] == ids[0] + "-2" and ids[4] == ids[0] + "-3"
    moved = load_jsonl(_data(tmp_path / "e.jsonl", rows[1], rows[0]), "t")
    assert [s.id for s in moved] == [ids[1], ids[0]]  # by content, not by line
    edited = load_jsonl(_data(tmp_path / "f.jsonl", {"q": "a!"}), "t")
    assert edited[0].id not in ids  # an edited sample is a new sample


def test_the_id_field_can_be_named_and_must_then_be_present(tmp_path: Path) -> None:
    _data(tmp_path / "d.jsonl", {"qid": 7, "q": "a"}, {"q": "b"})
    with pytest.raises(DatasetError) as err:
        load_jsonl(tmp_path / "d.jsonl", "t", display="d.jsonl", id_field="qid")
    assert str(err.value).startswith("d.jsonl:2: field 'qid' missing (the suite's id: field;")


def test_extract_takes_group_one_and_a_row_without_a_match_is_named(tmp_path: Path) -> None:
    rows = [
        {"q": "1+1", "answer": "One and one.\n#### 2"},
        {"q": "3", "answer": ["#### 3", "#### 3.0"]},
    ]
    _data(tmp_path / "d.jsonl", *rows)
    spec: dict[str, Any] = {
        "dataset": "d.jsonl",
        "prompt": {"user": "{q}"},
        "expected": {"field": "answer", "extract": "#### (-?[0-9.,]+)"},
        "scorers": ["qa_exact_match"],
    }
    cases = _cases(_suite(tmp_path, **spec))
    assert [c.expected for c in cases] == ["2", ["3", "3.0"]]
    _data(tmp_path / "d.jsonl", *rows, {"q": "x", "answer": "no marker"})
    with pytest.raises(DatasetError, match=r"^d.jsonl:3: field 'answer': extract '#### "):
        _suite(tmp_path, **spec).samples()


def _gsm(n: int, start: int = 0) -> list[dict[str, str]]:
    return [
        {"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"}
        for i in range(start, start + n)
    ]


def test_few_shot_turns_are_seeded_per_sample_and_answered_as_written(tmp_path: Path) -> None:
    _data(tmp_path / "train.jsonl", *_gsm(10))
    _data(tmp_path / "test.jsonl", *_gsm(3, start=50))
    spec: dict[str, Any] = {
        "dataset": "test.jsonl",
        "prompt": {"user": "Question: {question}\nAnswer:"},
        "fewshot": {"dataset": "train.jsonl", "n": 3, "seed": 1234},
        "expected": {"field": "answer", "extract": "#### (-?[0-9]+)"},
        "scorers": ["qa_exact_match"],
    }
    cases = _cases(_suite(tmp_path, **spec))
    first = cases[0].messages
    assert [m["role"] for m in first] == ["user", "assistant"] * 3 + ["user"]
    answers = {f"Question: {r['question']}\nAnswer:": r["answer"] for r in _gsm(10)}
    for user, assistant in zip(first[0:6:2], first[1:6:2], strict=True):
        assert assistant["content"] == answers[user["content"]]  # as written, not extracted
    assert first[-1]["content"] == "Question: What is 50 + 50?\nAnswer:"
    again = _cases(_suite(tmp_path, **spec))
    assert [c.messages for c in again] == [c.messages for c in cases]  # stable
    assert cases[0].messages[:-1] != cases[1].messages[:-1]  # each sample its own shots


def test_few_shot_never_shows_a_test_sample_and_says_so(tmp_path: Path) -> None:
    from pytest_llmeval.suite.model import NOTES

    _data(tmp_path / "train.jsonl", *_gsm(6))
    _data(tmp_path / "test.jsonl", *_gsm(4, start=3))  # 3, 4 and 5 are in both
    spec: dict[str, Any] = {
        "dataset": "test.jsonl",
        "prompt": {"user": "Q: {question}"},
        "fewshot": {"dataset": "train.jsonl", "n": 2, "sampler": "first_n"},
        "expected": "answer",
        "scorers": ["qa_exact_match"],
    }
    for case in _cases(_suite(tmp_path, **spec)):
        shown = [m["content"] for m in case.messages[:-1] if m["role"] == "user"]
        assert shown == ["Q: What is 0 + 0?", "Q: What is 1 + 1?"]
    assert any("3 of 6 examples in train.jsonl are also in test.jsonl" in n for n in NOTES)


def test_few_shot_as_text_follows_lm_eval_delimiters(tmp_path: Path) -> None:
    _data(tmp_path / "train.jsonl", *_gsm(4))
    _data(tmp_path / "test.jsonl", *_gsm(1, start=9))
    spec: dict[str, Any] = {
        "dataset": "test.jsonl",
        "prompt": {"user": "Q: {question}\nA:"},
        "fewshot": {"dataset": "train.jsonl", "n": 2, "sampler": "first_n", "as": "text"},
        "expected": "answer",
        "scorers": ["qa_exact_match"],
    }
    (case,) = _cases(_suite(tmp_path, **spec))
    assert case.messages == [
        {
            "role": "user",
            "content": "Q: What is 0 + 0?\nA: 0 + 0 = 0\n#### 0\n\n"
            "Q: What is 1 + 1?\nA: 1 + 1 = 2\n#### 2\n\nQ: What is 9 + 9?\nA:",
        }
    ]


def test_bfcl_functions_are_sent_as_openai_tools_with_its_type_names_mapped() -> None:
    bfcl = {
        "name": "calc_area",
        "parameters": {
            "type": "dict",
            "properties": {
                "base": {"type": "float"},
                "dims": {"type": "tuple", "items": {"type": "integer"}},
            },
            "required": ["base"],
        },
    }
    openai_style = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    tools = openai_tools([bfcl, openai_style], "d.jsonl:1", "tools")
    assert tools[1] == openai_style
    params = tools[0]["function"]["parameters"]
    assert tools[0]["type"] == "function" and params["type"] == "object"
    assert params["properties"] == {
        "base": {"type": "number"},
        "dims": {"type": "array", "items": {"type": "integer"}},
    }
    assert bfcl["parameters"]["type"] == "dict"  # the sample itself is untouched


def test_turns_and_tool_results_make_a_conversation(tmp_path: Path) -> None:
    row = {
        "question": [
            [{"role": "user", "content": "first"}],
            [{"role": "user", "content": "second"}],
        ],
        "more": ["third"],
        "results": {"lookup": {"ok": True}},
        "expected_answer": "x",
    }
    _data(tmp_path / "d.jsonl", row)
    suite = _suite(
        tmp_path,
        dataset="d.jsonl",
        messages="question",
        turns="more",
        tool_results="results",
        max_tool_steps=3,
        scorers=["qa_f1"],
    )
    (case,) = _cases(suite)
    assert case.messages == [{"role": "user", "content": "first"}]
    conv = case.conversation
    assert conv is not None
    assert conv.turns == (
        ({"role": "user", "content": "second"},),
        ({"role": "user", "content": "third"},),
    )
    assert conv.tool_results == {"lookup": {"ok": True}} and conv.max_tool_steps == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"prompt": {"user": "{q}"}},
            "evals/eval_x.yaml: a suite without a built-in task needs 'scorers' or 'checks'",
        ),
        (
            {"prompt": {"user": "{q}"}, "scorers": [{"qa_f1": {"pattern": "x"}}]},
            "evals/eval_x.yaml: field 'scorers.0.qa_f1': scorer 'qa_f1' has no option 'pattern' "
            "(its options: none)",
        ),
        (
            {"prompt": {"user": "{q}"}, "scorers": ["qa_exact_matc"]},
            "evals/eval_x.yaml: field 'scorers.0': unknown scorer 'qa_exact_matc' (did you mean "
            "'qa_exact_match'? known:",
        ),
        (
            {"prompt": {"user": "{q}"}, "scorers": ["qa_f1"], "solver": "nope"},
            "evals/eval_x.yaml: field 'solver': unknown solver 'nope' (register one in a "
            "conftest.py with @pytest_llmeval.solver(name); known:",
        ),
        (
            {"messages": "m", "fewshot": {"dataset": "d.jsonl", "n": 1}, "scorers": ["qa_f1"]},
            "evals/eval_x.yaml: field 'fewshot': needs prompt.user: the shots go through the "
            "suite's prompt",
        ),
    ],
)
def test_suite_mistakes_are_one_line(tmp_path: Path, spec: dict[str, Any], message: str) -> None:
    _data(tmp_path / "d.jsonl", {"q": "a"})
    with pytest.raises(DatasetError) as err:
        _suite(tmp_path, dataset="d.jsonl", **spec)
    assert str(err.value).startswith(message)
