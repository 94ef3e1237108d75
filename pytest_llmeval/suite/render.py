"""How a sample becomes what is sent: its chat messages (a prompt template, the sample's
own messages, few-shot turns), its tools, and the rest of a scripted conversation. No
pytest here."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmeval.dataset import DatasetError, Sample, load_jsonl
from pytest_llmeval.tasks import Prompt, fill

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
# What BFCL's own OpenAI handler maps its parameter types to (bfcl_eval/constants/
# type_mappings.py GORILLA_TO_OPENAPI): OpenAI refuses `dict`, `float` and `tuple`.
BFCL_TYPES = {
    "integer": "integer", "number": "number", "float": "number", "string": "string",
    "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array",
    "dict": "object", "object": "object", "tuple": "array", "any": "string",
    "byte": "integer", "short": "integer", "long": "integer", "double": "number",
    "char": "string", "ArrayList": "array", "Array": "array", "HashMap": "object",
    "Hashtable": "object", "Queue": "array", "Stack": "array", "Any": "string",
    "String": "string", "Bigint": "integer",
}  # fmt: skip


@dataclass(frozen=True)
class FewShot:
    """``fewshot: {dataset, n, seed}``: n examples from another file, rendered through the
    suite's own prompt before the sample, each answered by its expected field as written."""

    dataset: Path
    display: str
    n: int
    seed: int = 1234  # lm-eval's default fewshot_seed
    sampler: str = "random"  # per sample, seeded by the sample's id; or first_n
    mode: str = "turns"  # user/assistant turns; "text": one user message, lm-eval style
    target_delimiter: str = " "  # lm-eval's defaults
    fewshot_delimiter: str = "\n\n"

    def pool(self, name: str, expected_key: str | None) -> tuple[Sample, ...]:
        return load_jsonl(self.dataset, name, display=self.display, expected_key=expected_key)

    def examples(self, sample: Sample, pool: Sequence[Sample]) -> list[Sample]:
        """The sample's shots: never the sample itself; the same shots for the same sample
        on every run (seeded by its id)."""
        own = _content(sample)
        usable = [s for s in pool if _content(s) != own]
        if self.sampler == "first_n":
            return usable[: self.n]
        rng = random.Random(f"{self.seed}:{sample.id}")
        return rng.sample(usable, min(self.n, len(usable)))


def _content(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in sample.fields.items() if k != "id"))


def shot_turns(prompt: Prompt, shots: Sequence[Sample]) -> list[dict[str, Any]]:
    """Each shot as a user turn (the prompt's user template on the shot) and an assistant
    turn (its expected answer as written, before any ``extract``)."""
    out: list[dict[str, Any]] = []
    for shot in shots:
        out += prompt.user_message(shot)
        out.append({"role": "assistant", "content": answer_text(shot)})
    return out


def shot_text(prompt: Prompt, shots: Sequence[Sample], fs: FewShot) -> str:
    """lm-eval's single-prompt few-shot context: ``question target_delimiter answer``,
    joined and followed by ``fewshot_delimiter``."""
    assert prompt.user is not None
    parts = [fill(prompt.user, s.fields) + fs.target_delimiter + answer_text(s) for s in shots]
    return "".join(p + fs.fewshot_delimiter for p in parts)


def answer_text(sample: Sample) -> str:
    value = sample.expected_as_written
    if isinstance(value, list) and value:
        value = value[0]  # several acceptable answers: the first answers the shot
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)


def is_turns(value: Any) -> bool:
    """A conversation of several user turns: a list of message lists (BFCL's question)."""
    return isinstance(value, list) and bool(value) and all(isinstance(t, list) for t in value)


def turn_messages(turn: Any) -> list[dict[str, Any]]:
    """One user turn: a string, one message, or a list of messages."""
    if isinstance(turn, str):
        return [{"role": "user", "content": turn}]
    if isinstance(turn, Mapping):
        return [dict(turn)]
    return [dict(m) for m in turn]


def check_messages(value: Any, where: str, field_name: str) -> None:
    """Chat messages as OpenAI takes them, or a list of such lists (turns)."""
    turns = value if is_turns(value) else [value]
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: field {field_name!r} must be a non-empty list of messages")
    for t, turn in enumerate(turns):
        for i, m in enumerate(turn):
            at = f"{field_name}.{t}.{i}" if is_turns(value) else f"{field_name}.{i}"
            if not isinstance(m, Mapping):
                raise DatasetError(f"{where}: field {at!r} must be a message object")
            if m.get("role") not in ROLES:
                raise DatasetError(
                    f"{where}: field {at + '.role'!r} must be one of "
                    f"{', '.join(sorted(ROLES))}, got {m.get('role')!r}"
                )
            content = m.get("content")
            if not (isinstance(content, str | list) or (content is None and m.get("tool_calls"))):
                raise DatasetError(
                    f"{where}: field {at + '.content'!r} must be a string or a list of parts"
                )


def openai_tools(tools: Any, where: str, field_name: str) -> tuple[dict[str, Any], ...]:
    """A sample's tools as OpenAI function tools. BFCL's functions (``{name, description,
    parameters}`` with its own type names) are wrapped, their types mapped and dots in their
    names replaced as BFCL's OpenAI handler does; OpenAI's own shape is sent as it is."""
    if not isinstance(tools, list):
        raise DatasetError(f"{where}: field {field_name!r} must be a list of tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise DatasetError(f"{where}: field {field_name + '.' + str(i)!r} must be an object")
        if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
            out.append(dict(tool))
        elif "name" in tool:
            fn = copy.deepcopy(dict(tool))
            # OpenAI refuses dots in names; BFCL's own handler sends math.factorial as
            # math_factorial (and the tool_call scorer takes either)
            fn["name"] = str(fn["name"]).replace(".", "_")
            if "parameters" in fn:
                fn["parameters"] = _bfcl_schema(fn["parameters"])
            out.append({"type": "function", "function": fn})
        else:
            raise DatasetError(
                f"{where}: field {field_name + '.' + str(i)!r} is not a function tool "
                "(OpenAI's {type: function, function: {name, parameters}} or {name, parameters})"
            )
    return tuple(out)


def _bfcl_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_bfcl_schema(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _bfcl_schema(v) for k, v in node.items()}
    t = out.get("type")
    if isinstance(t, str) and t in BFCL_TYPES:
        out["type"] = BFCL_TYPES[t]
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {k: _bfcl_schema(v) for k, v in node["properties"].items()}
    return out
