"""A resolved suite and its cases: everything needed to turn samples into requests and
scores. No pytest here."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_llmeval.conversation import MAX_TOOL_STEPS, Conversation
from pytest_llmeval.dataset import (
    DatasetError,
    FieldNeed,
    Sample,
    check_fields,
    load_jsonl,
    select,
)
from pytest_llmeval.dataset import shard as shard_of
from pytest_llmeval.gate.thresholds import Threshold
from pytest_llmeval.models.base import GenerateParams
from pytest_llmeval.scorers.base import EXPECTED, ScorerInfo
from pytest_llmeval.suite import render
from pytest_llmeval.tasks import SCALARS, TASKS, Prompt

_checked: set[tuple[Any, ...]] = set()  # (dataset, needs) pairs already checked
SAMPLE_SCHEMA = "schema"  # the sample field response_format: json_schema sends by default
NOTES: list[str] = []  # what loading suites found worth a header line (few-shot overlap)


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
    id_field: str | None = None
    expected_extract: str | None = None
    messages_field: str | None = None
    turns_field: str | None = None
    tools_field: str | None = None
    tool_results_field: str | None = None
    max_tool_steps: int = MAX_TOOL_STEPS
    solver: str | None = None
    solver_file: str | None = None
    checks_field: str | None = None
    fewshot: render.FewShot | None = None

    def origin(self, key: str) -> str | None:
        return dict(self.origins).get(key)

    @property
    def needs_judge(self) -> bool:
        """Graded by a judge model: a rubric suite, or a rubric check."""
        return self.judge is not None or any(info.judged for info in self.scorers)

    def field_needs(self) -> list[FieldNeed]:
        """Every sample field this suite reads: its prompt's placeholders, its scorers'
        ``needs`` (``expected`` is the suite's expected field), typed as the task says."""
        task = TASKS.get(self.task)
        types = {f.name: f.types for f in task.fields} if task else {}
        if task and task.expected_field and self.expected_field:
            types[self.expected_field] = types.pop(task.expected_field, (object,))
        needs: dict[str, FieldNeed] = {}
        own = self.origin("prompt")
        for name, as_json in sorted(self.prompt.placeholders):
            why = "used by the suite's prompt" if own else f"used by the {self.task} prompt"
            wanted = types.get(name, (object,))
            hint = ""
            if not as_json:  # a bare {field} takes text: a list or object is a mistake
                hint = f"; chat messages: write messages: {name}; JSON text: write {{{name}:json}}"
                wanted = tuple(t for t in wanted if t in SCALARS) or SCALARS
            needs[name] = FieldNeed(name, wanted, why, own, True, hint)
        for key, types_ in (
            ("messages", (list,)),
            ("turns", (list,)),
            ("tools", (list,)),
            ("tool_results", (dict,)),
            ("checks", (list,)),
        ):
            name = getattr(self, f"{key}_field")
            if name is not None:
                needs[name] = FieldNeed(name, types_, f"the suite's {key}:", self.origin(key))
        if self.id_field is not None:
            needs[self.id_field] = FieldNeed(
                self.id_field, (str, int), "the suite's id:", self.origin("id")
            )
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
        elif self.needs_judge:
            names |= JUDGE_METRICS
        return frozenset(names)

    def thresholds_for(self, model: str | None) -> tuple[Threshold, ...]:
        for pattern, table in self.model_thresholds:
            if model is not None and fnmatch.fnmatchcase(model, pattern):
                return table
        return self.thresholds

    def samples(
        self, limit: int | None = None, seed: int = 0, shard: tuple[int, int] | None = None
    ) -> list[Sample]:
        """Load and validate the dataset (every field the suite reads, in every sample);
        ``limit`` picks a seeded, stable subset, ``shard`` (I, N) its I-th of N parts."""
        samples = load_jsonl(
            self.dataset,
            self.name,
            display=self.dataset_display,
            expected_key=self.expected_field,
            id_field=self.id_field,
            expected_extract=self.expected_extract,
        )
        key = (self.dataset, self.dataset_display, samples[0].source, id(samples), self._needs_key)
        if key not in _checked:
            check_fields(samples, self.field_needs())
            self._check_values(samples)
            _checked.add(key)
        chosen = select(samples, limit, seed)
        return chosen if shard is None else shard_of(chosen, *shard)

    def _check_values(self, samples: tuple[Sample, ...]) -> None:
        """What a field's type alone does not say: messages shaped as chat, tools as
        function tools, checks of known types, an extract that finds the answer."""
        from pytest_llmeval.scorers import toolcalls
        from pytest_llmeval.scorers.toolcalls import expected_calls

        compares_calls = (toolcalls.tool_call, toolcalls.tool_call_name, toolcalls.tool_call_args)
        calls = any(getattr(i.fn, "func", i.fn) in compares_calls for i in self.scorers)
        for s in samples:
            where = f"{s.source}:{s.line}"
            if self.messages_field is not None:
                render.check_messages(s[self.messages_field], where, self.messages_field)
            if self.tools_field is not None:
                render.openai_tools(s[self.tools_field], where, self.tools_field)
            if self.turns_field is not None:
                for t, turn in enumerate(s[self.turns_field]):
                    try:
                        render.check_messages(render.turn_messages(turn), where, "")
                    except DatasetError:
                        raise DatasetError(
                            f"{where}: field '{self.turns_field}.{t}' must be a string or "
                            "a list of chat messages"
                        ) from None
            if self.checks_field is not None:
                from pytest_llmeval.scorers import checks as checklib

                problem = checklib.validate_checks(s[self.checks_field])
                if problem is not None:
                    raise DatasetError(f"{where}: field '{self.checks_field}.{problem}")
            if calls and self.expected_field in s.fields:
                try:
                    expected_calls(s.expected)
                except (ValueError, TypeError) as exc:
                    raise DatasetError(f"{where}: field {self.expected_field!r}: {exc}") from None
            if self.expected_extract is not None and self.expected_field in s.fields:
                got = s.expected
                if got is None or (isinstance(got, list) and None in got):
                    raise DatasetError(
                        f"{where}: field {self.expected_field!r}: extract "
                        f"{self.expected_extract!r} does not match "
                        f"{str(s.expected_as_written)[:80]!r}"
                    )

    @cached_property
    def shots_pool(self) -> tuple[Sample, ...]:
        """The few-shot examples that may be used: the file's, less any whose prompt is
        also a prompt of this suite's dataset (a test sample shown with its answer)."""
        fs = self.fewshot
        assert fs is not None
        pool = fs.pool(self.name, self.expected_field)
        tests = load_jsonl(
            self.dataset, self.name, display=self.dataset_display, id_field=self.id_field
        )
        seen = {json.dumps(self.prompt.user_message(s)) for s in tests}
        clean = tuple(s for s in pool if json.dumps(self.prompt.user_message(s)) not in seen)
        if len(clean) < len(pool):
            note = (
                f"few-shot for {self.name}: {len(pool) - len(clean)} of {len(pool)} examples in "
                f"{fs.display} are also in {self.dataset_display} and are never used as shots"
            )
            if note not in NOTES:
                NOTES.append(note)
        if len(clean) < fs.n + 1:
            raise DatasetError(
                f"{self.origin('fewshot') or self.source}: fewshot: {fs.display} has "
                f"{len(clean)} usable examples, fewer than n={fs.n} (and one to spare for a "
                "sample that is itself in the file)"
            )
        return clean

    @property
    def _needs_key(self) -> tuple[Any, ...]:
        return (
            self.prompt,
            self.expected_field,
            self.expected_extract,
            tuple(i.name for i in self.scorers),
            self.params.response_format,
            self.messages_field,
            self.tools_field,
            self.turns_field,
            self.tool_results_field,
            self.checks_field,
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
    def messages(self) -> list[dict[str, Any]]:
        """The first request's messages: the suite's system prompt, few-shot turns, the
        sample's own messages (the first turn of a conversation), the user prompt."""
        suite, sample, prompt = self.suite, self.sample, self.suite.prompt
        out = prompt.system_message(sample)
        if suite.messages_field is not None:
            value = sample[suite.messages_field]
            first = value[0] if render.is_turns(value) else value
            return out + [dict(m) for m in first] + prompt.user_message(sample)
        fs = suite.fewshot
        if fs is None:
            return out + prompt.user_message(sample)
        shots = fs.examples(sample, suite.shots_pool)
        if fs.mode == "text":
            user = prompt.user_message(sample)
            user[0]["content"] = render.shot_text(prompt, shots, fs) + user[0]["content"]
            return out + user
        return out + render.shot_turns(prompt, shots) + prompt.user_message(sample)

    @cached_property
    def conversation(self) -> Conversation | None:
        """What the engine runs after the first request, if anything."""
        suite, s = self.suite, self.sample
        turns: list[tuple[dict[str, Any], ...]] = []
        if suite.messages_field is not None and render.is_turns(s[suite.messages_field]):
            turns += [tuple(dict(m) for m in t) for t in s[suite.messages_field][1:]]
        if suite.turns_field is not None:
            turns += [tuple(render.turn_messages(t)) for t in s[suite.turns_field]]
        results = dict(s[suite.tool_results_field]) if suite.tool_results_field else {}
        if not turns and not results and suite.solver is None:
            return None
        return Conversation(
            turns=tuple(turns),
            tool_results=results,
            max_tool_steps=suite.max_tool_steps,
            solver=suite.solver,
            solver_file=suite.solver_file,
            sample=dict(s.fields) if suite.solver else {},
            sample_id=s.id,
            task=suite.name,
        )

    @property
    def expected(self) -> Any:
        f = self.suite.expected_field
        return None if f is None else self.sample.expected

    @property
    def needs_judge(self) -> bool:
        """Graded by a judge model: its suite's rubric or rubric scorer, or an
        ``llm-rubric`` among its own checks."""
        if self.suite.needs_judge:
            return True
        if self.suite.checks_field is None:
            return False
        from pytest_llmeval.scorers.checks import rubrics_needed

        return bool(rubrics_needed(self.suite.scorers, self.sample))

    def params_for(self, params: GenerateParams) -> GenerateParams:
        """The suite's resolved ``params`` for this sample: its own tools, and a
        ``json_schema`` request without a schema of its own sends the sample's ``schema``."""
        if self.suite.tools_field is not None:
            where = f"{self.sample.source}:{self.sample.line}"
            tools = render.openai_tools(
                self.sample[self.suite.tools_field], where, self.suite.tools_field
            )
            params = replace(params, tools=tools)
        if params.response_format != "json_schema" or params.json_schema is not None:
            return params
        from pytest_llmeval.models.structured import response_schema

        schema = self.sample.get(SAMPLE_SCHEMA)
        return replace(params, json_schema=response_schema(schema) if schema else None)

    @cached_property
    def request_key(self) -> str:
        """Identifies the generation request (messages + params) within one model."""
        return json.dumps([self.messages, self.suite.params.as_dict()], sort_keys=True)
