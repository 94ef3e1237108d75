"""Build a demo run with the test server, render its HTML report and screenshot it.

    python scripts/report_screenshot.py [--out docs/report.png] [--html report.html]

Writes a small eval project into a temporary directory (a QA suite, a JSON-extraction suite
on the first samples of the shipped test split and a judged QA suite), serves it with
``tests/llm_server.py`` (two models and a judge), evaluates a baseline model and then a
candidate gated against it, renders the candidate's report with
:func:`pytest_llmeval.export.html.write_report` and screenshots it with headless Chromium.
The PNG is shrunk below 300 KB (it is shown in the README).

``write_demo_project`` and ``screenshot`` are also used by ``tests/export/test_report.py`` and
``tests/store/test_notebook.py``, so the picture in the docs is the page the tests check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"

BASELINE_MODEL = "baseline-model"
CANDIDATE_MODEL = "candidate-model"
JUDGE_MODEL = "judge"
XSS = "<script>alert('llmeval')</script> c5x"

# Chromium flags for a quiet, offline, headless run (no first-run UI, no network services).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
)


def _tests_on_path() -> None:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def _verdict(c: int, m: int, f: int, why: str) -> str:
    return json.dumps(
        {"correctness": c, "completeness": m, "format_compliance": f, "rationale": why}
    )


def _judge_key(record: Mapping[str, Any], answer: str) -> str:
    """The server's script key for the judge prompt grading ``answer`` to ``record``."""
    _tests_on_path()
    from evalkit import key

    from pytest_llmeval.judge import Rubric, build_messages

    messages = build_messages(
        Rubric.load("qa_default"),
        question=str(record["question"]),
        answer=answer,
        reference=record["expected_answer"],
        context=record["context"],
        facts=tuple(record["reference_facts"]),
    )
    return key(messages[-1]["content"])


def _json_answers(records: Sequence[Mapping[str, Any]], broken: bool) -> dict[str, str]:
    """Replies for JSON-extraction records: right, or (``broken``) a few typical mistakes."""
    out = {}
    for i, r in enumerate(records):
        expected = dict(r["expected_output"])
        text = json.dumps(expected)
        if broken and i % 4 == 1:  # a wrong value, a missing field and an extra one
            keys = list(expected)
            expected[keys[0]] = "Unknown <b>name</b>"
            expected.pop(keys[-1])
            expected["notes"] = "see attachment"
            text = "Here is the JSON:\n```json\n" + json.dumps(expected, indent=2) + "\n```"
        elif broken and i % 4 == 3:
            text = "I cannot extract that."
        out[str(r["id"])] = text
    return out


def write_demo_project(root: Path, n_qa: int = 40, n_json: int = 16) -> dict[str, Any]:
    """Suites and data under ``root``; returns the test server's script for two models
    (``baseline-model``, ``candidate-model``: worse, with an HTML-looking answer and broken
    JSON) and the judge (``judge``)."""
    _tests_on_path()
    from evalkit import key, qa_records, user_message, write_jsonl

    qa = qa_records(n_qa)
    je_all = (REPO / "data" / "json_extraction" / "test.jsonl").read_text().splitlines()
    je = [json.loads(line) for line in je_all[:n_json]]
    write_jsonl(root / "data" / "qa.jsonl", qa)
    write_jsonl(root / "data" / "je.jsonl", je)
    evals = root / "evals"
    evals.mkdir(parents=True, exist_ok=True)
    (evals / "eval_qa.yaml").write_text(
        "task: qa\ndataset: data/qa.jsonl\nthresholds:\n  accuracy: '>=0.8'\n  f1: '>=0.85'\n"
    )
    (evals / "eval_json.yaml").write_text(
        "task: json_extraction\ndataset: data/je.jsonl\n"
        "thresholds:\n  accuracy: '>=0.7'\n  parse_rate: '>=0.9'\n"
    )
    (evals / "eval_qa_judged.yaml").write_text(
        "task: qa\nname: qa_judged\ndataset: data/qa.jsonl\njudge: qa_default\n"
        "thresholds:\n  judge_score: '>=3.5'\n"
    )
    ids = [str(r["id"]) for r in qa]
    wrong = {
        BASELINE_MODEL: {i: "wrong answer" for i in ids[7::13]},
        CANDIDATE_MODEL: {
            **{i: "wrong answer" for i in ids[2::6]},
            ids[5]: XSS,
            ids[9]: f"The code of item 9 is {qa[9]['expected_answer']}, I believe.",
        },
    }
    models: dict[str, Any] = {}
    judge: dict[str, Any] = {
        "default": _verdict(5, 5, 5, "Matches the reference exactly."),
        "replies": {},
    }
    for model, misses in wrong.items():
        replies = {}
        for r in qa:
            answer = misses.get(str(r["id"]), str(r["expected_answer"]))
            replies[key(user_message(r))] = answer
            if answer == str(r["expected_answer"]):
                continue
            if str(r["expected_answer"]) in answer and "<" not in answer:
                why = "Right code, but wrapped in a sentence the question did not ask for."
                judge["replies"][_judge_key(r, answer)] = _verdict(5, 5, 3, why)
            else:
                why = (
                    f"The answer does not give the code {r['expected_answer']} on its own; "
                    "the reference says otherwise."
                )
                judge["replies"][_judge_key(r, answer)] = _verdict(1, 2, 4, why)
        for r in je:
            text = _json_answers(je, broken=model == CANDIDATE_MODEL)[str(r["id"])]
            replies[key(user_message(r, "json_extraction"))] = text
        models[model] = {"replies": replies}
    models[JUDGE_MODEL] = judge
    return {"models": models}


def demo_args(base_url: str, db: Path, model: str) -> list[str]:
    return [
        "--model",
        f"openai/{model}",
        "--llmeval-base-url",
        base_url,
        "--judge-model",
        f"openai/{JUDGE_MODEL}",
        "--judge-base-url",
        base_url,
        "--llmeval-db",
        str(db),
        "-p",
        "no:cacheprovider",
        "-q",
    ]


def screenshot(
    html: Path,
    png: Path,
    size: tuple[int, int] = (1200, 2000),
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Screenshot ``html`` with headless Chromium (``chromium`` on PATH); stderr carries the
    browser's console log (``--enable-logging=stderr``)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="llmeval-chromium-") as profile:
        return subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={png}",
                f"--window-size={size[0]},{size[1]}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def shrink_png(src: Path, dst: Path, max_bytes: int = 300_000) -> None:
    """Save ``src`` as ``dst`` as a 256-colour PNG, scaled down until it is below
    ``max_bytes`` (Pillow, which matplotlib depends on)."""
    from PIL import Image

    with Image.open(src) as img:
        image = img.convert("RGB")
    width = image.width
    while True:
        scaled = image.resize(
            (width, round(image.height * width / image.width)), Image.Resampling.LANCZOS
        )
        quantized = scaled.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        quantized.save(dst, optimize=True)
        if dst.stat().st_size < max_bytes or width < 300:
            return
        width = int(width * 0.85)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report.png")
    parser.add_argument("--html", type=Path, help="also keep the rendered HTML here")
    args = parser.parse_args(argv)
    _tests_on_path()
    from llm_server import LLMServer

    from pytest_llmeval.export.html import write_report

    with (
        tempfile.TemporaryDirectory(prefix="llmeval-demo-") as tmp,
        LLMServer(latency_ms=60.0, jitter_ms=120.0) as server,
    ):
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        server.configure(script=write_demo_project(root))
        db = root / "results.db"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        base = [sys.executable, "-m", "pytest", "--rootdir", str(root)]
        for model in (BASELINE_MODEL, CANDIDATE_MODEL):
            extra = []
            if model == CANDIDATE_MODEL:  # gated against the baseline model's run, by id
                from pytest_llmeval.store.results import Results

                with Results(db) as results:
                    extra = ["--llmeval-baseline", results.runs(limit=1)[0].id]
            done = subprocess.run(
                [*base, *demo_args(server.base_url, db, model), *extra],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(done.stdout.splitlines()[-1] if done.stdout else done.stderr)
        from pytest_llmeval.store.results import Results

        with Results(db) as results:
            run = results.runs(limit=1)[0]
            html = root / "report.html"
            write_report(results, run.id, html, baseline=run.baseline)
        if args.html:
            shutil.copyfile(html, args.html)
        raw = root / "raw.png"
        shot = screenshot(html, raw, size=(1200, 2700))
        if not raw.exists():
            print(shot.stderr[-2000:], file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shrink_png(raw, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
