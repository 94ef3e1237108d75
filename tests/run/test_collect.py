"""Collection: both suite styles, one-line errors naming file, line and field, selection."""

from __future__ import annotations

import json

import pytest
from evalkit import EvalProject, answers, lines, qa_records, write_jsonl


def _bad_dataset(project: EvalProject, line3: str) -> pytest.RunResult:
    records = [json.dumps(r) for r in qa_records(4)]
    records[2] = line3
    (project.path / "data").mkdir(exist_ok=True)
    (project.path / "data" / "qa.jsonl").write_text("\n".join(records) + "\n")
    (project.path / "evals").mkdir(exist_ok=True)
    (project.path / "evals" / "eval_qa.yaml").write_text("task: qa\ndataset: data/qa.jsonl\n")
    return project.run()


@pytest.mark.parametrize(
    ("line3", "message"),
    [
        ('{"id": "q9", "question": ', "data/qa.jsonl:3: invalid JSON: Expecting value (col 26)"),
        (
            '{"id": "q9", "question": "?", "context": "c"}',
            "data/qa.jsonl:3: field 'expected_answer' missing (the expected answer, read by "
            "scorer qa_exact_match; name another field with `expected: FIELD`)",
        ),
        (
            '{"id": "q000", "question": "?", "context": "c", "expected_answer": "a"}',
            "data/qa.jsonl:3: field 'id' 'q000' duplicates line 1",
        ),
        (
            '{"id": "a::b", "question": "?", "context": "c", "expected_answer": "a"}',
            "data/qa.jsonl:3: field 'id' 'a::b' contains '::'",
        ),
        (
            '{"id": ["q9"], "question": "?", "context": "c", "expected_answer": "a"}',
            "data/qa.jsonl:3: field 'id' must be a string",
        ),
        (
            '{"id": "q9", "question": 7, "context": "c", "expected_answer": "a"}',
            "data/qa.jsonl:3: field 'question' must be a string, got a number (used by the qa "
            "prompt)",
        ),
        ("[1, 2]", "data/qa.jsonl:3: expected a JSON object, got list"),
    ],
)
def test_malformed_data_is_one_line_collection_error(
    project: EvalProject, line3: str, message: str
) -> None:
    result = _bad_dataset(project, line3)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(lines("*ERROR collecting evals/eval_qa.yaml*", message))
    assert "Traceback" not in result.stdout.str()
    assert project.server.stats()["requests"] == 0


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        (
            "task: qa\ndataset: data/qa.jsonl\nscorers: [qa_f1, nope]\n",
            "evals/eval_qa.yaml:3: field 'scorers.1': unknown scorer 'nope' (known: *",
        ),
        (
            "task: qa\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>> 2'\n",
            "evals/eval_qa.yaml:4: field 'thresholds.accuracy': cannot parse '>> 2'*",
        ),
        (
            "task: qa\ndataset: data/missing.jsonl\n",
            "evals/eval_qa.yaml:2: field 'dataset': file not found: data/missing.jsonl",
        ),
        ("task: qa\n", "evals/eval_qa.yaml:1: field 'dataset': missing"),
        (
            "task: qa\ndataset: data/qa.jsonl\nparams:\n  temperature: hot\n",
            "evals/eval_qa.yaml:4: field 'params.temperature': 'hot' is not of type 'number'",
        ),
        (
            "task: qa\ndataset: data/qa.jsonl\nscorer: [qa_f1]\n",
            "evals/eval_qa.yaml:3: field 'scorer': unknown key (did you mean 'scorers'? known: "
            "checks, dataset, description, expected, fewshot, id, judge, max_tool_steps, "
            "messages, model_thresholds, name, params, pass_on, prompt, repeats, scorers, "
            "solver, task, thresholds, tool_results, tools, turns)",
        ),
        (
            "task: poetry\ndataset: data/qa.jsonl\n",
            "evals/eval_qa.yaml:1: field 'task': unknown task 'poetry'*",
        ),
        ("task: qa\n  dataset: [\n", "evals/eval_qa.yaml:2: invalid YAML: *"),
        (
            "task: qa\ndataset: data/qa.jsonl\npass_on: [qa_contains]\nscorers: [qa_f1]\n",
            "evals/eval_qa.yaml:3: field 'pass_on.0': 'qa_contains' is not one of this suite's*",
        ),
    ],
)
def test_malformed_suite_is_one_line_collection_error(
    project: EvalProject, suite: str, message: str
) -> None:
    project.qa_suite(3)
    (project.path / "evals" / "eval_qa.yaml").write_text(suite)
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(lines(message))


def test_marker_errors_name_the_test(project: EvalProject) -> None:
    project.qa_suite(3)
    project.pytester.makepyfile(
        test_m="""
        import pytest

        @pytest.mark.llmeval(dataset="data/qa.jsonl", task="qa", scorers=["nope"])
        def test_a(sample):
            pass

        def test_unrelated():
            pass
    """
    )
    result = project.run("test_m.py")
    result.stdout.fnmatch_lines(lines("test_m.py::test_a: field 'scorers.0': unknown scorer*"))


def test_custom_task_with_own_prompt_and_scorers(project: EvalProject) -> None:
    write_jsonl(
        project.path / "data" / "t.jsonl",
        [{"id": f"t{i}", "word": f"w{i}", "expected_answer": f"W{i}"} for i in range(4)],
    )
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_upper.yaml").write_text(
        "task: upper\nname: shout\ndataset: data/t.jsonl\n"
        "prompt:\n  user: 'Uppercase {word}'\nscorers: [qa_exact_match]\n"
        "params:\n  max_tokens: 5\n"
    )
    project.server.configure(script={"replies": {f"Uppercase w{i}": f"W{i}" for i in range(3)}})
    result = project.run()
    result.assert_outcomes(passed=3, failed=1)
    assert project.server.requests()[0]["max_tokens"] == 5
    assert {r["task"] for r in project.results()} == {"shout"}


def test_prompt_field_missing_from_a_sample(project: EvalProject) -> None:
    write_jsonl(project.path / "data" / "t.jsonl", [{"id": "t0", "word": "a"}, {"id": "t1"}])
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_x.yaml").write_text(
        "task: upper\ndataset: data/t.jsonl\nprompt:\n  user: 'Say {word}'\nscorers: [qa_f1]\n"
        "expected: word\n"
    )
    result = project.run()
    result.stdout.fnmatch_lines(
        lines("data/t.jsonl:2: field 'word' missing (used by the suite's prompt)")
    )


def test_selection_k_m_lf_and_partial_runs(project: EvalProject) -> None:
    project.qa_suite(10, wrong={"q003"})
    result = project.run("-k", "q001 or q002")
    result.assert_outcomes(passed=2)
    assert project.server.stats()["requests"] == 2
    run = project.runs()[-1]
    assert run["status"] == "complete" and run["partial"] == 1
    result = project.run("-m", "llmeval", "-k", "qa")
    result.assert_outcomes(passed=9, failed=1)
    assert project.runs()[-1]["partial"] == 0
    result = project.run("-m", "not llmeval")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_last_failed_reruns_only_misses(project: EvalProject) -> None:
    project.qa_suite(6, wrong={"q002", "q004"})
    project.run(cache=True)
    result = project.run("--lf", cache=True)
    result.assert_outcomes(failed=2)
    assert {r["sample_id"] for r in project.results()} == {"q002", "q004"}


def test_exitfirst_stops_and_marks_incomplete(project: EvalProject) -> None:
    project.qa_suite(6, wrong={"q001"})
    result = project.run("-x")
    result.assert_outcomes(passed=1, failed=1)
    assert project.runs()[-1]["status"] == "incomplete"


def test_limit_picks_the_same_samples_every_time(project: EvalProject) -> None:
    project.qa_suite(20)
    project.run("--llmeval-limit", "5")
    project.run("--llmeval-limit", "5")
    project.run("--llmeval-limit", "5", "--llmeval-seed", "3")
    a, b, c = ({r["sample_id"] for r in project.results(run["id"])} for run in project.runs())
    assert len(a) == 5 and a == b and a != c
    assert all(run["partial"] == 1 for run in project.runs())


def test_junitxml_and_json_report(project: EvalProject) -> None:
    project.qa_suite(4, wrong={"q001"}, extra="thresholds:\n  accuracy: '>=0.9'\n")
    result = project.run("--junitxml=junit.xml", "--json-report", "--json-report-file=report.json")
    assert result.ret == 1
    junit = (project.path / "junit.xml").read_text()
    assert '<property name="llmeval.exact_match" value="1.0"' in junit
    assert 'name="gate[qa.accuracy]"' in junit and "does not meet &gt;=0.9" in junit
    report = json.loads((project.path / "report.json").read_text())
    assert report["exitcode"] == 1
    llm = report["llmeval"]
    assert llm["metrics"]["qa"][""]["accuracy"]["value"] == 0.75
    assert llm["verdicts"][0]["passed"] is False and llm["status"] == "complete"
    assert report["summary"]["failed"] == 1 and report["summary"]["missed"] == 1


def test_scripts_answer_by_model(project: EvalProject) -> None:
    records = qa_records(3)
    write_jsonl(project.path / "data" / "qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals" / "eval_qa.yaml").write_text("task: qa\ndataset: data/qa.jsonl\n")
    good = answers(records)
    project.server.configure(script={"models": {"good": good, "bad": {"default": "no"}}})
    assert project.run(model="openai/good").ret == 0
    assert project.run(model="openai/bad").ret == 1
    assert [r["model"] for r in project.runs()] == ["openai/good", "openai/bad"]


def test_the_collector_gets_its_gc_back_however_collection_ends() -> None:
    """A suite is built with the cyclic GC paused; a bad file must not leave it off."""
    import gc

    from pytest_llmeval.run.collect import _gc_paused

    assert gc.isenabled()
    with pytest.raises(ValueError), _gc_paused():
        assert not gc.isenabled()
        raise ValueError("bad suite")
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
