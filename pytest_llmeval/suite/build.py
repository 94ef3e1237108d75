"""Building a suite: one loader behind both the YAML files and the ``llmeval`` marker.

A suite says which dataset to read, how each sample becomes a request (a prompt template,
the sample's own chat messages, few-shot turns, tools, a conversation), which scorers and
checks decide a pass, and which thresholds gate the session. Errors are one line naming
the file, line and field. No pytest here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pytest_llmeval.conversation import MAX_TOOL_STEPS
from pytest_llmeval.dataset import DatasetError
from pytest_llmeval.gate.thresholds import Threshold, ThresholdError
from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.scorers.base import OptionError, ScorerInfo, get_scorer
from pytest_llmeval.suite.model import Suite
from pytest_llmeval.suite.render import FewShot
from pytest_llmeval.suite.schema import SUITE_SCHEMA, compose, unknown_keys, yaml_hint
from pytest_llmeval.tasks import TASKS, Prompt


def load_suite_file(path: Path, rootdir: Path) -> Suite:
    """Read an ``eval_*.yaml`` suite; raise DatasetError ``file:line: field '...': why``."""
    display = _display(path, rootdir)
    try:
        text = path.read_text(encoding="utf-8")
        located = compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError(
            f"{display}{line}: invalid YAML: {problem}{yaml_hint(text, mark)}"
        ) from None
    if not isinstance(located.data, dict):
        raise DatasetError(f"{display}:1: a suite file must be a mapping of settings")
    stem = path.stem.removeprefix("eval_") or path.stem
    return build_suite(located.data, display, rootdir, path.parent, located.lines, stem)


def build_suite(
    spec: Mapping[str, Any],
    where: str,
    rootdir: Path,
    base_dir: Path,
    lines: Mapping[tuple[Any, ...], int] | None = None,
    default_name: str | None = None,
) -> Suite:
    """Validate a suite mapping (from YAML or marker kwargs) and resolve it."""
    lines = lines or {}

    def fail(path: Sequence[Any], message: str) -> DatasetError:
        key = tuple(path)
        while key and key not in lines:
            key = key[:-1]
        loc = f"{where}:{lines[key]}" if key in lines else where
        name = ".".join(str(p) for p in path)
        return DatasetError(f"{loc}: field {name!r}: {message}" if name else f"{loc}: {message}")

    from jsonschema import Draft202012Validator

    unknown_keys(spec, SUITE_SCHEMA, [], fail)
    errors = sorted(Draft202012Validator(SUITE_SCHEMA).iter_errors(spec), key=lambda e: e.path)
    if errors:
        err = errors[0]
        if err.validator == "required":
            missing = err.message.split("'")[1]
            raise fail([*list(err.path), missing], "missing")
        raise fail(list(err.path), err.message)

    task_name = spec.get("task")
    task = TASKS.get(task_name) if task_name else None
    if task_name and task is None and ("prompt" not in spec and "messages" not in spec):
        known = ", ".join(sorted(TASKS))
        raise fail(
            ["task"],
            f"unknown task {task_name!r}: built-in tasks are {known}; "
            "a task of your own needs its own 'prompt' (or 'messages') and 'scorers'",
        )
    name = spec.get("name") or task_name or default_name
    if not name:
        raise fail([], "a suite needs a 'task' or a 'name'")
    if task is None and "scorers" not in spec and "checks" not in spec and "judge" not in spec:
        raise fail([], "a suite without a built-in task needs 'scorers' or 'checks'")

    prompt = _prompt(spec, task, fail)
    base = task.params if task else GenerateParams()
    params = _params(base, spec.get("params", {}), fail)

    scorers, scorer_names = _scorers(spec, task, fail)
    if "checks" in spec:
        from pytest_llmeval.scorers.checks import checks_scorer

        scorers.append(checks_scorer(spec["checks"]))
    judge = _judge(spec.get("judge"), rootdir, base_dir, fail)
    judge_names = ("judge",) if judge is not None else ()
    if judge is not None:  # the judge is a scorer too: it reads the judge model's verdict
        from pytest_llmeval.judge.scorer import judge_scorers

        scorers += judge_scorers(judge)
    # A judged suite passes on the judge unless it says otherwise: that is why it has one;
    # per-sample checks must all hold (promptfoo's rule), besides the first scorer.
    checks_names = ("checks",) if "checks" in spec else ()
    if task and "scorers" not in spec:
        default_pass: tuple[str, ...] = task.pass_on
    else:
        default_pass = tuple(scorer_names[:1])
    default_pass = judge_names or (default_pass + checks_names)
    pass_on = tuple(spec.get("pass_on") or default_pass)
    known_names = {*scorer_names, *judge_names, *checks_names}
    for i, pname in enumerate(pass_on):
        if pname not in known_names:
            raise fail(["pass_on", i], f"{pname!r} is not one of this suite's scorers")

    def parse_thresholds(table: Mapping[str, str], path: list[str]) -> tuple[Threshold, ...]:
        out = []
        for metric, tspec in table.items():
            try:
                out.append(Threshold.parse(name, metric, tspec, where))
            except ThresholdError as exc:
                msg = str(exc).split(": ", 2)[-1]
                raise fail([*path, metric], msg) from None
        return tuple(out)

    thresholds = parse_thresholds(spec.get("thresholds", {}), ["thresholds"])
    by_model = tuple(
        (pattern, parse_thresholds(table, ["model_thresholds", pattern]))
        for pattern, table in spec.get("model_thresholds", {}).items()
    )

    dataset = _resolve(spec["dataset"], rootdir, base_dir)
    if not dataset.is_file():
        raise fail(["dataset"], f"file not found: {spec['dataset']}")
    # the field with the expected answer: `expected:`, else the task's (a task of your own:
    # expected_answer, what the built-in QA scorers read)
    exp = spec.get("expected")
    extract = None
    if isinstance(exp, Mapping):
        exp, extract = exp["field"], exp.get("extract")
        if extract is not None:
            _regex(extract, ["expected", "extract"], fail)
    expected = exp or (task.expected_field if task else "expected_answer")
    solver_name, solver_file = _solver(spec.get("solver"), fail)
    origins = []
    for key, path in (
        ("prompt", ("prompt", "user")),
        ("expected", ("expected",)),
        ("params", ("params", "response_format")),
        ("messages", ("messages",)),
        ("turns", ("turns",)),
        ("tools", ("tools",)),
        ("tool_results", ("tool_results",)),
        ("checks", ("checks",)),
        ("id", ("id",)),
        ("fewshot", ("fewshot",)),
    ):
        if key in spec:
            origins.append((key, str(fail(list(path), "")).rsplit(": ", 1)[0]))
    return Suite(
        name=name,
        task=task_name or name,
        dataset=dataset,
        dataset_display=_display(dataset, rootdir),
        prompt=prompt,
        params=params,
        scorers=tuple(scorers),
        pass_on=pass_on,
        expected_field=expected,
        origins=tuple(origins),
        thresholds=thresholds,
        source=where,
        judge=judge,
        model_thresholds=by_model,
        repeats=spec.get("repeats"),
        id_field=spec.get("id"),
        expected_extract=extract,
        messages_field=spec.get("messages"),
        turns_field=spec.get("turns"),
        tools_field=spec.get("tools"),
        tool_results_field=spec.get("tool_results"),
        max_tool_steps=spec.get("max_tool_steps", MAX_TOOL_STEPS),
        solver=solver_name,
        solver_file=solver_file,
        checks_field=spec.get("checks"),
        fewshot=_fewshot(spec.get("fewshot"), prompt, rootdir, base_dir, fail),
    )


def _prompt(spec: Mapping[str, Any], task: Any, fail: Any) -> Prompt:
    """The suite's prompt: its own, else the task's; a suite whose samples bring their
    own messages needs no user template (``prompt.system`` is prepended to them)."""
    own = spec.get("prompt")
    if own is not None:
        if "user" not in own and "messages" not in spec:
            raise fail(["prompt", "user"], "missing (or name the samples' chat messages "
                       "with messages: FIELD)")  # fmt: skip
        return Prompt(user=own.get("user"), system=own.get("system"))
    if "messages" in spec or "solver" in spec:  # the samples or the solver say what to send
        return Prompt(user=None)
    if task is None:
        raise fail(["prompt"], "missing: a suite without a built-in task needs a prompt "
                   "(prompt: {user: '{field}'}) or messages: FIELD")  # fmt: skip
    prompt: Prompt = task.prompt
    return prompt


def _scorers(spec: Mapping[str, Any], task: Any, fail: Any) -> tuple[list[ScorerInfo], list[str]]:
    """The suite's scorers, each with its options bound, and their companions."""
    entries = spec.get("scorers") or (task.scorers if task else ())
    out: list[ScorerInfo] = []
    names: list[str] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            sname, options = entry, {}
        else:
            sname, options = next(iter(entry.items()))
            options = _options(sname, options)
        try:
            info = get_scorer(sname)
        except KeyError as exc:
            raise fail(["scorers", i], str(exc.args[0])) from None
        options = dict(options)
        rename = options.pop("name", None)
        try:
            bound = info.bind(options, rename)
        except OptionError as exc:
            raise fail(["scorers", i, sname], str(exc)) from None
        if bound.name in names:
            raise fail(["scorers", i], f"scorer {bound.name!r} twice: give one a name: option")
        out.append(bound)
        names.append(bound.name)
        for companion in info.companions:
            out.append(get_scorer(companion).bind(options))
    return out, names


def _options(name: str, options: Any) -> dict[str, Any]:
    """``{regex: {pattern: ...}}``; a bare value is the scorer's ``value`` option
    (``- contains: hello``), as promptfoo writes a check's value."""
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    return {"value": options}


def _regex(pattern: str, path: list[Any], fail: Any) -> None:
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        raise fail(path, f"not a regular expression: {exc}") from None


def _solver(name: str | None, fail: Any) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    from pytest_llmeval.solvers import SOLVERS, solver_names

    found = SOLVERS.get(name)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name, solver_names(), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(
            ["solver"],
            f"unknown solver {name!r} ({hint}register one in a conftest.py with "
            "@pytest_llmeval.solver(name); known: "
            f"{', '.join(solver_names()) or 'none'})",
        )
    return name, found.source


def _fewshot(
    spec: Mapping[str, Any] | None, prompt: Prompt, rootdir: Path, base_dir: Path, fail: Any
) -> FewShot | None:
    if spec is None:
        return None
    if prompt.user is None:
        raise fail(["fewshot"], "needs prompt.user: the shots go through the suite's prompt")
    path = _resolve(spec["dataset"], rootdir, base_dir)
    if not path.is_file():
        raise fail(["fewshot", "dataset"], f"file not found: {spec['dataset']}")
    return FewShot(
        dataset=path,
        display=_display(path, rootdir),
        n=spec["n"],
        seed=spec.get("seed", 1234),
        sampler=spec.get("sampler", "random"),
        mode=spec.get("as", "turns"),
        target_delimiter=spec.get("target_delimiter", " "),
        fewshot_delimiter=spec.get("fewshot_delimiter", "\n\n"),
    )


def _params(base: GenerateParams, spec: Mapping[str, Any], fail: Any) -> GenerateParams:
    """A suite's ``params`` over its task's: the sampling fields it sets are explicit (a
    reasoning model gets them too), pass-through fields go into ``extra``."""
    from pytest_llmeval.models.structured import response_schema

    values = {k: v for k, v in spec.items() if k not in PASS_THROUGH}
    if "stop" in values:
        values["stop"] = tuple(values["stop"])
    extra = dict(spec.get("extra_body") or {})
    for key in extra:
        if key in RESERVED_FIELDS:
            raise fail(["params", "extra_body", key], f"set it as params.{key}, not in extra_body")
    if "reasoning_effort" in spec:
        extra["reasoning_effort"] = spec["reasoning_effort"]
    schema = values.get("json_schema")
    if schema is not None:
        fmt = values.setdefault("response_format", "json_schema")
        if fmt != "json_schema":
            raise fail(["params", "json_schema"], "needs response_format: json_schema")
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema.get("schema", schema))
        except SchemaError as exc:
            raise fail(["params", "json_schema"], f"not a JSON Schema: {exc.message}") from None
        values["json_schema"] = response_schema(schema)
    explicit = frozenset(k for k in ("temperature", "top_p") if k in values)
    return replace(base, **values, extra={**base.extra, **extra}, explicit=base.explicit | explicit)


# params keys that are not GenerateParams fields, and request fields that are set from them
PASS_THROUGH = frozenset({"reasoning_effort", "extra_body"})
RESERVED_FIELDS = frozenset(
    {"model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens",
     "stop", "seed", "response_format", "stream", "tools", "tool_choice"}
)  # fmt: skip


def _judge(spec: Any, rootdir: Path, base_dir: Path, fail: Any) -> Any:
    """The suite's judge rubric: a built-in name or a YAML file (next to the suite, or
    under the rootdir), with an optional pass mark."""
    if spec is None:
        return None
    from pytest_llmeval.judge import Rubric, RubricError

    conf = {"rubric": spec} if isinstance(spec, str) else spec
    name = conf["rubric"]
    path = next((b / name for b in (base_dir, rootdir) if (b / name).is_file()), None)
    try:
        rubric = Rubric.load(str(path) if path is not None else name)
    except RubricError as exc:
        raise fail(
            ["judge", "rubric"] if not isinstance(spec, str) else ["judge"], str(exc)
        ) from None
    if "pass_mark" in conf:
        rubric = replace(rubric, pass_mark=float(conf["pass_mark"]))
    return rubric


def _resolve(name: str, rootdir: Path, base_dir: Path) -> Path:
    """Dataset paths are relative to the rootdir, or else to the suite's own directory."""
    p = Path(name)
    if p.is_absolute():
        return p
    for base in (rootdir, base_dir):
        if (base / p).is_file():
            return base / p
    return rootdir / p


def _display(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)
