"""A model's text is untrusted: no terminal, log or report gets its control characters raw,
and the database keeps it exactly. Unit tests of the one escape, then a full run against a
server that replies with a hostile corpus, read back from every output."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import subprocess
import sys
from typing import Any
from xml.etree import ElementTree

import pytest
from evalkit import EvalProject, answers, key, lines, qa_records, user_message, write_jsonl
from llm_server import LLMServer

from pytest_llmeval.models import ModelSettings, create_model
from pytest_llmeval.models.base import Completion, GenerateParams
from pytest_llmeval.store.results import Results
from pytest_llmeval.untrusted import printable, valid_text

# Written here, not taken from the module under test: C0 but tab and newline, DEL, C1, the
# bidi controls, the Unicode line and paragraph separators, surrogates and U+FFFE/U+FFFF.
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\ud800-\udfff\ufffe\uffff]"
)
# XML 1.0's Char production, negated.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

HOSTILE = (
    "c1x? \x1b[2J\x1b[H"  # CSI: clear the screen, cursor home
    "\x1b]0;pwned\x07"  # OSC: set the window title
    "\x1b]8;;http://evil\x1b\\click me\x1b]8;;\x1b\\ "  # OSC 8: a hyperlink
    "NUL\x00 CR\rhidden BS\x08\x08 "
    "\u202eevil\u202c \u2066isolated\u2069 \u200f "  # bidi override, isolate, RLM
    "\x9b31m C1 DEL\x7f LS\u2028 tab\t nl\n "
    "lone \ud800 end"
)
# What no UTF-8 file can hold is replaced where it enters; the rest is kept exactly.
STORED = HOSTILE.replace("\ud800", "\ufffd")
SERVER_ERROR = "overloaded \x1b[31mred\x1b]8;;http://evil\x1b\\ \u202e\x00 \ud800"


# -- the escape ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\x00b", "a\\x00b"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x7f\x85\x9b", "\\x7f\\x85\\x9b"),
        ("\u202eabc\u202c", "\\u202eabc\\u202c"),
        (
            "\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
            "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c",
        ),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\ud800x\udfff", "\\ud800x\\udfff"),
        ("\ufffe\uffff", "\\ufffe\\uffff"),
        ("back\\slash stays", "back\\slash stays"),
        ("é 中文 😀 \u00a0 \ufffd", "é 中文 😀 \u00a0 \ufffd"),
    ],
)
def test_printable_escapes_controls_and_nothing_else(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(printable(raw)) == shown  # escaping twice changes nothing


def test_a_block_keeps_its_newlines_and_tabs() -> None:
    assert printable("a\n\tb\r\n\x1b", block=True) == "a\n\tb\\r\n\\x1b"


def test_clean_text_comes_back_as_is() -> None:
    text = "The code of item 3 is c3x.\n" * 10
    assert printable(text, block=True) is text


def test_no_code_point_survives_that_xml_or_a_terminal_would_act_on() -> None:
    every = "".join(map(chr, range(0x110000)))
    shown = printable(every)
    assert RAW.search(shown) is None and NOT_XML.search(shown) is None
    block = printable(every, block=True)
    assert RAW.search(block) is None and NOT_XML.search(block) is None


def test_valid_text_replaces_lone_surrogates_only() -> None:
    assert valid_text("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert valid_text(HOSTILE.replace("\ud800", "")) == HOSTILE.replace("\ud800", "")
    assert valid_text("😀") == "😀"


# -- a full run against a hostile model ----------------------------------------------------


def _cli(project: EvalProject, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval.cli", "--db", str(project.db), *args],
        capture_output=True,
    )


def _no_raw(where: str, text: str) -> None:
    found = RAW.search(text)
    if found is not None:
        near = text[max(0, found.start() - 60) : found.end() + 20]
        pytest.fail(f"{where}: raw {found[0]!r} at {found.start()}: {near!r}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# A user's own scorer, as people write them: it quotes the reply raw in its explanation, and
# raises with it.
CONFTEST = """
from pytest_llmeval.scorers import Score, scorer

@scorer("said")
def said(sample, completion):
    if completion.text.startswith("raise"):
        raise ValueError(f"cannot read {completion.text}")
    right = completion.text == sample["expected_answer"]
    return Score(float(right), right, f"the model said: {completion.text}")
"""


def _hostile_project(project: EvalProject) -> None:
    records = qa_records(7)
    records[4]["expected_answer"] = "c4x\x1b[8m"  # a dataset's text reaches JUnit too
    write_jsonl(project.path / "data/qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals/eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nscorers: [said, qa_exact_match]\npass_on: [said]\n"
        "thresholds:\n  accuracy: '>=0.9'\n"
    )
    project.pytester.makeconftest(CONFTEST)
    script = answers(records)
    script["replies"][key(user_message(records[1]))] = HOSTILE
    script["replies"][key(user_message(records[2]))] = "wrong \x1b]8;;http://evil\x1b\\"
    script["replies"][key(user_message(records[3]))] = {"status": 500, "message": SERVER_ERROR}
    script["replies"][key(user_message(records[6]))] = "raise \x1b[5m\u202e"
    project.server.configure(script=script)


def test_a_hostile_model_reaches_no_output_raw_and_the_database_exactly(
    project: EvalProject,
) -> None:
    _hostile_project(project)
    budget = ("--llmeval-max-retries", "0", "--llmeval-max-error-rate", "0.5")
    first = project.run(*budget)
    assert first.ret == 1  # the gate fails: 3 of 5 evaluated samples right, 2 errors
    base = project.runs()[-1]["id"]
    result = project.run(
        *budget,
        "-v",
        "-rA",
        f"--llmeval-baseline={base}",
        "--llmeval-compare-md=cmp.md",
        "--junitxml=j.xml",
        "--json-report",
        "--json-report-file=r.json",
        "--llmeval-export=csv:out.csv",
        "--llmeval-report=html:report.html",
    )
    assert result.ret == 1
    # failed: the gate item
    assert result.parseoutcomes() == {"passed": 3, "errors": 2, "failed": 1, "missed": 2}
    out, err = result.stdout.str(), result.stderr.str()
    _no_raw("stdout", out)
    _no_raw("stderr", err)
    # shown escaped, where a user looks: the miss line, the error item, the summary
    result.stdout.fnmatch_lines(
        lines(
            "*q001 MISSED*",
            "*q003 ERROR*",
            "*q006 ERROR*",
            "missed samples:",
            "  [qa] q001 missed (data/qa.jsonl:2)",
            "    said: the model said: c1x? \\x1b[2J\\x1b[H\\x1b]0;pwned\\x07*",
            "*got:      c1x? \\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x1b]8;;http://evil\\x1b\\click me*",
        )
    )
    assert "scorer 'said' raised ValueError: cannot read raise \\x1b[5m\\u202e" in out
    assert "\\u202eevil\\u202c \\u2066isolated\\u2069 \\u200f" in out
    assert "NUL\\x00 CR\\rhidden BS\\x08\\x08" in out and "tab\\t nl\\n" in out
    assert "HTTP 500 from " in out and "overloaded \\x1b[31mred\\x1b]8;;http://evil" in out
    assert "\\u202e\\x00 \\ud800" in out  # the server's lone surrogate, shown as its escape

    # JUnit: well-formed XML, nothing raw in any attribute or text
    junit = (project.path / "j.xml").read_text(encoding="utf-8")
    _no_raw("junit", junit)
    root = ElementTree.fromstring(junit)
    texts = [v for e in root.iter() for v in (e.text or "", *e.attrib.values())]
    for text in texts:
        _no_raw("junit (parsed)", text)
    assert any("\\x1b]0;pwned\\x07" in t for t in texts)  # the miss, escaped, not dropped
    expected = [
        p.get("value") for p in root.iter("property") if p.get("name") == "llmeval.expected"
    ]
    assert "c4x\\x1b[8m" in expected

    # json-report: the file, and every string in it once decoded
    text = (project.path / "r.json").read_text(encoding="utf-8")
    _no_raw("json-report", text)
    report = json.loads(text)
    for text in _strings(report):
        _no_raw("json-report", text)
    assert any("\\x1b]8;;http://evil" in t for t in _strings(report["tests"]))

    md = (project.path / "cmp.md").read_text(encoding="utf-8")
    _no_raw("markdown", md)
    assert md.startswith("### ")

    with (project.path / "out.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for cell in row.values():
            _no_raw("csv", cell)
    by_id = {r["sample_id"]: r for r in rows}
    assert by_id["q001"]["output"] == printable(STORED, block=True)  # newline and tab kept

    html = (project.path / "report.html").read_text(encoding="utf-8")
    _no_raw("html", html)
    assert "\\x1b]8;;http://evil\\x1b\\click me" in html

    # the database: the reply exactly, through the public Results API
    run_id = project.runs()[-1]["id"]
    with Results(project.db) as results:
        samples = {r.sample_id: r for r in results.samples(run_id)}
    assert samples["q001"].output == STORED
    assert samples["q001"].output.encode("utf-8") == STORED.encode("utf-8")
    assert samples["q002"].output == "wrong \x1b]8;;http://evil\x1b\\"
    # the scorer saw that same text (its explanation quotes it; stored as it made it)
    assert samples["q001"].scores["said"]["explanation"] == f"the model said: {STORED}"
    error = samples["q003"].error or ""
    assert error.startswith("HTTP 500") and "\\x1b[31mred" in error  # a reason, as shown

    # the command line reads the same rows
    printed = {}
    for args in (("show", run_id, "--worst", "5"), ("compare", base, run_id)):
        done = _cli(project, *args)
        printed[args[0]] = done.stdout.decode("utf-8") + done.stderr.decode("utf-8")
        assert done.returncode in (0, 1), printed[args[0]]
        _no_raw(args[0], printed[args[0]])
    shown = printed["show"]
    assert "q003: HTTP 500" in shown and "\\x1b[31mred" in shown
    assert "q001: said: the model said: c1x? \\x1b[2J" in shown  # stored raw, shown escaped


def test_a_hostile_judge_reaches_no_output_raw_and_the_database_exactly(
    project: EvalProject,
) -> None:
    rationale = "Wrong \x1b]8;;http://evil\x1b\\code\x1b]8;;\x1b\\ \u202eexif\x00\rok\nfine"
    valid = json.dumps(
        {"correctness": 1, "completeness": 1, "format_compliance": 5, "rationale": rationale}
    )
    invalid = "not JSON \x1b[2J\x9b5m \u2066x\u2069 \x00"
    records = qa_records(3)
    write_jsonl(project.path / "data/qa.jsonl", records)
    (project.path / "evals").mkdir()
    (project.path / "evals/eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\njudge: qa_default\n"
    )
    models = {"test-model": answers(records), "judge": {"default": valid}}
    project.server.configure(script={"models": {**models, "judge2": {"default": invalid}}})
    shown = {
        # the rationale of a miss (a suite without thresholds: F), escaped
        "openai/judge": "judge: Wrong \\x1b]8;;http://evil\\x1b\\code\\x1b]8;;\\x1b\\ \\u202eexif",
        # an invalid verdict is an error, and its message does not quote the reply
        "openai/judge2": "judge error: invalid verdict after 1 attempts: reply is not JSON",
    }
    for judge, reply in (("openai/judge", valid), ("openai/judge2", invalid)):
        result = project.run(
            "--judge-model", judge, "--judge-base-url", project.server.base_url,
            "--junitxml=j.xml", "--judge-repairs", "0", "-rA",
        )  # fmt: skip
        out = result.stdout.str()
        _no_raw("stdout", out + result.stderr.str())
        assert shown[judge] in out
        junit = (project.path / "j.xml").read_text(encoding="utf-8")
        _no_raw("junit", junit)
        assert shown[judge] in "".join(ElementTree.fromstring(junit).itertext()) + junit
        with Results(project.db) as results:
            rows = results.samples(project.runs()[-1]["id"])
        assert [r.judge.output if r.judge else None for r in rows] == [reply] * 3


@pytest.mark.parametrize("transport", ["wire", "sdk"])
def test_a_reply_and_its_tool_calls_arrive_exactly_but_for_lone_surrogates(
    llm_server: LLMServer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a reply enters, on both transports: controls kept, a lone surrogate (which the
    database could not store) replaced, in the text and in a call's name and arguments."""
    monkeypatch.setenv("LLMEVAL_OPENAI_TRANSPORT", transport)
    weather = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
    args = '{"city": "Par\x1b]8;;http://evil\x1b\\is \ud800"}'
    reply = {"content": HOSTILE, "tool_calls": [{"name": "get_weather", "arguments": args}]}
    llm_server.configure(script={"replies": {"go": reply}})
    model = create_model(ModelSettings("openai/test-model", base_url=llm_server.base_url))

    async def ask() -> Completion:
        try:
            return await model.agenerate(
                [{"role": "user", "content": "go"}], GenerateParams(tools=(weather,))
            )
        finally:
            await model.aclose()

    comp = asyncio.run(ask())
    assert comp.text == STORED
    assert [(c.name, c.arguments) for c in comp.tool_calls] == [
        ("get_weather", args.replace("\ud800", "\ufffd"))
    ]
