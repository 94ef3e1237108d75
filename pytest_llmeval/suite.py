"""Suite definitions: one loader behind both the YAML files and the ``llmeval`` marker.

A suite says which dataset to read, which task format it follows, how to prompt, which
scorers decide a pass, and which thresholds gate the session. Errors are one line naming
the file, line and field. No pytest here.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from pytest_llmeval.dataset import (
    DatasetError,
    FieldNeed,
    Sample,
    check_fields,
    load_jsonl,
    select,
)
from pytest_llmeval.gate.thresholds import Threshold, ThresholdError
from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.scorers.base import EXPECTED, ScorerInfo, get_scorer
from pytest_llmeval.tasks import TASKS, Prompt
from pytest_llmeval.yamlines import key_lines

SUITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["task", "dataset"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]+$"},
        "task": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]+$"},
        "dataset": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "expected": {"type": "string", "minLength": 1},
        "repeats": {"type": "integer", "minimum": 1},
        "prompt": {
            "type": "object",
            "required": ["user"],
            "additionalProperties": False,
            "properties": {"system": {"type": "string"}, "user": {"type": "string"}},
        },
        "params": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "temperature": {"type": "number", "minimum": 0},
                "max_tokens": {"type": "integer", "minimum": 1},
                "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "stop": {"type": "array", "items": {"type": "string"}},
                "seed": {"type": "integer"},
                "response_format": {"enum": ["json_object", "json_schema", None]},
                # the schema json_schema asks for (a JSON Schema, or OpenAI's {name,
                # schema, strict}); without one, each sample's `schema` field
                "json_schema": {"type": "object"},
                "reasoning_effort": {"type": "string", "minLength": 1},
                # any other request field, sent as it is (verbosity, service_tier...)
                "extra_body": {"type": "object"},
            },
        },
        "scorers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "pass_on": {"type": "array", "items": {"type": "string"}},
        "thresholds": {"type": "object", "additionalProperties": {"type": "string"}},
        "model_thresholds": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
        },
        "judge": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "required": ["rubric"],
                    "additionalProperties": False,
                    "properties": {
                        "rubric": {"type": "string", "minLength": 1},
                        "pass_mark": {"type": "number"},
                    },
                },
            ]
        },
    },
}


_checked: set[tuple[Any, ...]] = set()  # (dataset, needs) pairs already checked
SAMPLE_SCHEMA = "schema"  # the sample field response_format: json_schema sends by default


@dataclass(frozen=True)
class Suite:
    """A resolved suite: everything needed to turn samples into requests and scores."""

    name: str
    task: str
    dataset: Path
    dataset_display: str
    prompt: Prompt
    params: GenerateParams
    scorers: tuple[ScorerInfo, ...]
    pass_on: tuple[str, ...]
    expected_field: str | None
    thresholds: tuple[Threshold, ...]
    source: str
    judge: Any = None  # a judge.Rubric when the suite is graded by an LLM judge
    # (model spec pattern, thresholds): the first matching pattern's thresholds replace
    # `thresholds` for that model, e.g. a smoke bar for the bundled tiny model
    model_thresholds: tuple[tuple[str, tuple[Threshold, ...]], ...] = ()
    # a marked test may add scores of its own (``llmeval_record``): any metric may appear
    open_metrics: bool = False
    # where the suite file asked for what (key path -> "file:line: field 'key'"), so a
    # field no sample has is blamed on the suite's typo, not on the data
    origins: tuple[tuple[str, str], ...] = ()
    repeats: int | None = None  # tries per sample (None: --llmeval-repeats / ini / 1)

    def origin(self, key: str) -> str | None:
        return dict(self.origins).get(key)

    def field_needs(self) -> list[FieldNeed]:
        """Every sample field this suite reads: its prompt's placeholders, its scorers'
        ``needs`` (``expected`` is the suite's expected field), typed as the task says."""
        task = TASKS.get(self.task)
        types = {f.name: f.types for f in task.fields} if task else {}
        if task and task.expected_field and self.expected_field:
            types[self.expected_field] = types.pop(task.expected_field, (object,))
        needs: dict[str, FieldNeed] = {}
        for name in sorted(self.prompt.fields):
            own = self.origin("prompt")
            why = "used by the suite's prompt" if own else f"used by the {self.task} prompt"
            needs[name] = FieldNeed(name, types.get(name, (object,)), why, own, True)
        for info in self.scorers:
            for need in info.needs:
                if need == EXPECTED:
                    if self.expected_field is None:
                        raise DatasetError(
                            f"{self.source}: scorer {info.name!r} compares with the expected "
                            "answer: name its field with `expected: FIELD`"
                        )
                    name = self.expected_field
                    why = f"the expected answer, read by scorer {info.name}"
                    origin = self.origin("expected")
                    if origin is None:
                        why += "; name another field with `expected: FIELD`"
                else:
                    name, why, origin = need, f"read by scorer {info.name}", None
                if name not in needs:
                    needs[name] = FieldNeed(name, types.get(name, (object,)), why, origin)
        p = self.params
        if p.response_format == "json_schema" and p.json_schema is None:
            why = "the JSON Schema that response_format: json_schema sends"
            needs.setdefault(
                SAMPLE_SCHEMA, FieldNeed(SAMPLE_SCHEMA, (dict,), why, self.origin("params"))
            )
        return list(needs.values())

    def metrics(self) -> frozenset[str] | None:
        """The metrics this suite can produce (None: any, see ``open_metrics``)."""
        if self.open_metrics:
            return None
        from pytest_llmeval.gate import JUDGE_METRICS, RUN_METRICS

        names = set(RUN_METRICS) | {info.metric for info in self.scorers}
        if self.judge is not None:
            names |= JUDGE_METRICS | {f"judge_{d.name}" for d in self.judge.dimensions}
        return frozenset(names)

    def thresholds_for(self, model: str | None) -> tuple[Threshold, ...]:
        for pattern, table in self.model_thresholds:
            if model is not None and fnmatch.fnmatchcase(model, pattern):
                return table
        return self.thresholds

    def samples(self, limit: int | None = None, seed: int = 0) -> list[Sample]:
        """Load and validate the dataset (every field the suite reads, in every sample);
        ``limit`` picks a seeded, stable subset."""
        samples = load_jsonl(
            self.dataset, self.name, display=self.dataset_display, expected_key=self.expected_field
        )
        key = (self.dataset, self.dataset_display, samples[0].source, id(samples), self._needs_key)
        if key not in _checked:
            check_fields(samples, self.field_needs())
            _checked.add(key)
        return select(samples, limit, seed)

    @property
    def _needs_key(self) -> tuple[Any, ...]:
        return (
            self.prompt,
            self.expected_field,
            tuple(i.name for i in self.scorers),
            self.params.response_format,
        )


@dataclass
class Case:
    """One sample of one suite: the unit that becomes a pytest item and a stored row."""

    suite: Suite
    sample: Sample
    suite_size: int
    tries: tuple[int, ...] = (0,)  # the repeat indexes this item runs
    one_try_per_item: bool = False  # --llmeval-repeat-items

    @property
    def item_name(self) -> str:
        return f"{self.sample.id}@r{self.tries[0]}" if self.one_try_per_item else self.sample.id

    @cached_property
    def messages(self) -> list[dict[str, str]]:
        return self.suite.prompt.render(self.sample)

    @property
    def expected(self) -> Any:
        f = self.suite.expected_field
        return None if f is None else self.sample.get(f)

    def params_for(self, params: GenerateParams) -> GenerateParams:
        """The suite's resolved ``params`` for this sample: a ``json_schema`` request
        without a schema of its own sends the sample's ``schema`` field."""
        if params.response_format != "json_schema" or params.json_schema is not None:
            return params
        from pytest_llmeval.models.structured import response_schema

        schema = self.sample.get(SAMPLE_SCHEMA)
        return replace(params, json_schema=response_schema(schema) if schema else None)

    @cached_property
    def request_key(self) -> str:
        """Identifies the generation request (messages + params) within one model."""
        return json.dumps([self.messages, self.suite.params.as_dict()], sort_keys=True)


@dataclass
class _Located:
    """A YAML mapping plus the line of each key path, for error messages."""

    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)


def load_suite_file(path: Path, rootdir: Path) -> Suite:
    """Read an ``eval_*.yaml`` suite; raise DatasetError ``file:line: field '...': why``."""
    display = _display(path, rootdir)
    try:
        text = path.read_text(encoding="utf-8")
        located = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError(f"{display}{line}: invalid YAML: {problem}{_hint(text, mark)}") from None
    if not isinstance(located.data, dict):
        raise DatasetError(f"{display}:1: a suite file must be a mapping of settings")
    return build_suite(located.data, display, rootdir, path.parent, located.lines)


def build_suite(
    spec: Mapping[str, Any],
    where: str,
    rootdir: Path,
    base_dir: Path,
    lines: Mapping[tuple[Any, ...], int] | None = None,
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

    _unknown_keys(spec, SUITE_SCHEMA, [], fail)
    errors = sorted(Draft202012Validator(SUITE_SCHEMA).iter_errors(spec), key=lambda e: e.path)
    if errors:
        err = errors[0]
        if err.validator == "required":
            missing = err.message.split("'")[1]
            raise fail([*list(err.path), missing], "missing")
        raise fail(list(err.path), err.message)

    task_name = spec["task"]
    task = TASKS.get(task_name)
    if task is None and ("prompt" not in spec or "scorers" not in spec):
        known = ", ".join(sorted(TASKS))
        raise fail(
            ["task"],
            f"unknown task {task_name!r}: built-in tasks are {known}; "
            "a custom task needs its own 'prompt' and 'scorers'",
        )
    name = spec.get("name", task_name)

    prompt = task.prompt if task else None
    if "prompt" in spec:
        prompt = Prompt(user=spec["prompt"]["user"], system=spec["prompt"].get("system"))
    assert prompt is not None

    base = task.params if task else GenerateParams()
    params = _params(base, spec.get("params", {}), fail)

    scorer_names = spec.get("scorers") or (task.scorers if task else ())
    scorers = []
    for i, sname in enumerate(scorer_names):
        try:
            scorers.append(get_scorer(sname))
        except KeyError as exc:
            raise fail(["scorers", i], str(exc.args[0])) from None
    judge = _judge(spec.get("judge"), rootdir, base_dir, fail)
    judge_names = ("judge",) if judge is not None else ()
    if judge is not None:  # the judge is a scorer too: it reads the judge model's verdict
        from pytest_llmeval.judge.scorer import judge_scorers

        scorers += judge_scorers(judge)
    # A judged suite passes on the judge unless it says otherwise: that is why it has one.
    default_pass = judge_names or (
        task.pass_on if task and "scorers" not in spec else tuple(scorer_names[:1])
    )
    pass_on = tuple(spec.get("pass_on") or default_pass)
    for i, pname in enumerate(pass_on):
        if pname not in (*scorer_names, *judge_names):
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
    expected = spec.get("expected") or (task.expected_field if task else "expected_answer")
    origins = []
    for key, path in (
        ("prompt", ("prompt", "user")),
        ("expected", ("expected",)),
        ("params", ("params", "response_format")),
    ):
        if key in spec:
            origins.append((key, str(fail(list(path), "")).rsplit(": ", 1)[0]))
    return Suite(
        name=name,
        task=task_name,
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
     "stop", "seed", "response_format", "stream"}
)  # fmt: skip


def _unknown_keys(spec: Any, schema: Mapping[str, Any], path: list[Any], fail: Any) -> None:
    """A key the schema does not know, on its own line, with the closest known key: a typo
    such as ``threshholds`` must not read as a problem on line 1."""
    import difflib

    if not isinstance(spec, Mapping) or schema.get("additionalProperties") is not False:
        return
    known = schema.get("properties", {})
    for key in spec:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise fail(
                [*path, key],
                f"unknown key ({hint}known: {', '.join(sorted(known))})",
            )
        sub = known[key]
        if sub.get("type") == "object":
            _unknown_keys(spec[key], sub, [*path, key], fail)


def _hint(text: str, mark: Any) -> str:
    """A bare comparison (``accuracy: >=0.7``) starts a YAML block scalar: say to quote it."""
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if re.search(r":\s*[<>]=?\s*[-+.\d]", line):
        key = line.split(":")[0].strip().strip("{ ")
        value = line.split(":", 1)[1].strip().rstrip("}, ")
        return f" (quote a comparison in YAML: {key}: '{value}')"
    return ""


def _judge(spec: Any, rootdir: Path, base_dir: Path, fail: Any) -> Any:
    """The suite's judge rubric: a built-in name or a YAML file (next to the suite, or
    under the rootdir), with an optional pass mark."""
    if spec is None:
        return None
    from dataclasses import replace

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


def _compose(text: str) -> _Located:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return _Located(yaml.safe_load(text), key_lines(node))
