from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import SCORERS, Score, get_scorer, parse_json
from pytest_llmeval.scorers.json_extraction import (
    _validator,
    canonical,
    diff_summary,
    field_scores,
    flatten,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "price": {"type": "number"},
        "date": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["vendor", "price", "date"],
    "additionalProperties": False,
}
EXPECTED: dict[str, Any] = {"vendor": "Acme", "price": 12.5, "date": "2024-01-01"}


def make_sample(expected: Any = None, schema: Any = None) -> Sample:
    fields = {
        "id": "s1",
        "expected_output": EXPECTED if expected is None else expected,
        "schema": SCHEMA if schema is None else schema,
    }
    return Sample("s1", "json_extraction", fields, "test.jsonl", 1)


def run(name: str, text: str, finish_reason: str | None = "stop", **kw: Any) -> Score:
    return get_scorer(name).fn(make_sample(**kw), Completion(text, finish_reason=finish_reason))


# ----------------------------------------------------------------------------- parse_json

PARSE_CASES = [
    ('{"a": 1}', {"a": 1}, "direct"),
    ('  \n{"a": 1}\n\n', {"a": 1}, "direct"),
    ("[1, 2]", [1, 2], "direct"),
    ('```json\n{"a": 1}\n```', {"a": 1}, "fence"),
    ('```JSON\n{"a": 1}```', {"a": 1}, "fence"),
    ('Here you go:\n```\n{"a": 1}\n```\nHope this helps!', {"a": 1}, "fence"),
    ('```{"a": 1}```', {"a": 1}, "fence"),
    ('```python\nx = 1\n```\n```json\n{"a": 1}\n```', {"a": 1}, "fence"),
    ('Sure! {"a": 1} Let me know.', {"a": 1}, "balanced"),
    (
        'Result: {"t": "use } and { freely", "n": 2}.',
        {"t": "use } and { freely", "n": 2},
        "balanced",
    ),
    ('x {"q": "she said \\"}\\" ok"} y', {"q": 'she said "}" ok'}, "balanced"),
    ('x {"a": {"b": [1, {"c": 2}]}} y', {"a": {"b": [1, {"c": 2}]}}, "balanced"),
    ('set {x} first, then {"a": 1}', {"a": 1}, "balanced"),
    ('a { never closed, then {"a": 1}', {"a": 1}, "balanced"),
    ('```json\n{"a": 1,}\n```\nfixed: {"a": 2}', {"a": 2}, "balanced"),
    ('{"a": 1} and also {"b": 2}', {"a": 1}, "balanced"),
    ('It\'s "quoted {" then {"a": 1}', {"a": 1}, "balanced"),
]


@pytest.mark.parametrize(("text", "value", "method"), PARSE_CASES)
def test_parse_json_fallbacks(text: str, value: Any, method: str) -> None:
    assert parse_json(text) == (value, method)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty output"),
        ("   \n", "empty output"),
        ("no json here", "no parseable JSON"),
        ('{"a": 1, "b": ', "no parseable JSON"),
        ("{'a': 1}", "no parseable JSON"),
    ],
)
def test_parse_json_failures(text: str, reason: str) -> None:
    value, why = parse_json(text)
    assert value is None
    assert why.startswith(reason)


def test_parse_json_memoized_but_returns_fresh_objects() -> None:
    text = 'prefix {"a": {"b": 1}} suffix'
    first, _ = parse_json(text)
    assert isinstance(first, dict)
    first["a"]["b"] = 99
    second, method = parse_json(text)
    assert second == {"a": {"b": 1}}
    assert method == "balanced"


# ----------------------------------------------------------------------------- comparison

MATCH_CASES = [
    ({"price": 1}, {"price": 1.0}, True),
    ({"price": 12.5}, {"price": 12.50}, True),
    ({"flag": True}, {"flag": 1}, False),
    ({"n": 1}, {"n": True}, False),
    ({"n": 0}, {"n": False}, False),
    ({"n": 0}, {"n": None}, False),
    ({"price": 12.5}, {"price": "12.5"}, False),
    ({"name": "Caf\u00e9"}, {"name": "Cafe\u0301"}, True),
    ({"city": "New York"}, {"city": "  New \t York\n"}, True),
    ({"city": "New\u00a0York"}, {"city": "New York"}, True),
    ({"name": "Acme"}, {"name": "acme"}, False),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ({"xs": [1, 2]}, {"xs": [2, 1]}, False),
    ({"xs": [1, 2]}, {"xs": [1, 2, 3]}, False),
    ({"a": 1}, {"a": 1, "note": "x"}, False),
    ({"a": 1, "b": None}, {"a": 1}, False),
    ({"tags": []}, {}, False),
    ({"tags": []}, {"tags": {}}, False),
    ({"o": {"p": {"q": [1, {"r": "s "}]}}}, {"o": {"p": {"q": [1.0, {"r": " s"}]}}}, True),
]


@pytest.mark.parametrize(("expected", "predicted", "equal"), MATCH_CASES)
def test_canonical_equality(expected: Any, predicted: Any, equal: bool) -> None:
    assert (canonical(predicted) == canonical(expected)) is equal
    hash(canonical(predicted))  # hashable


@pytest.mark.parametrize(("expected", "predicted", "equal"), MATCH_CASES)
def test_exact_match_scorer_agrees(expected: Any, predicted: Any, equal: bool) -> None:
    import json

    score = run("json_exact_match", json.dumps(predicted), expected=expected)
    assert score.value == (1.0 if equal else 0.0)
    assert score.passed is equal
    assert bool(score.explanation) is not equal


def test_flatten_paths() -> None:
    value: dict[str, Any] = {"a": {"b": [1, {"c": 2}]}, "e": [], "f": {}, "g": None}
    flat = flatten(value)
    assert sorted(flat) == ["a.b.0", "a.b.1.c", "e", "f", "g"]
    assert flat["a.b.1.c"] == (("num", 2), 2)
    assert flatten({}) == {}
    assert flatten(3) == {"": (("num", 3), 3)}


def test_diff_summary_format() -> None:
    predicted = {"vendor": "Acme", "price": 12, "note": "x"}
    assert (
        diff_summary(predicted, EXPECTED)
        == "price: expected 12.5, got 12; missing: date; extra: note"
    )


def test_diff_summary_truncated() -> None:
    expected = {f"field_{i}": "a" * 30 for i in range(20)}
    predicted = {f"field_{i}": "b" * 30 for i in range(20)}
    out = diff_summary(predicted, expected)
    assert len(out) <= 200
    assert out.endswith("...")


F1_CASES = [
    # predicted, expected, matched, n_pred, n_exp, precision, recall
    ({"a": 1, "b": 2}, {"b": 2, "a": 1.0}, 2, 2, 2, 1.0, 1.0),
    ({"a": 1, "b": 2, "x": 3}, {"a": 1, "b": 3, "c": 4}, 1, 3, 3, 1 / 3, 1 / 3),
    ({"a": 1}, {"a": 1, "b": 2}, 1, 1, 2, 1.0, 0.5),
    ({"items": [{"n": "a"}]}, {"items": [{"n": "a"}, {"n": "b"}]}, 1, 1, 2, 1.0, 0.5),
    ({"items": [{"n": "b"}]}, {"items": [{"n": "a"}, {"n": "b"}]}, 0, 1, 2, 0.0, 0.0),
    ({"o": {"p": 1, "q": 2}}, {"o": {"p": 1, "q": 3}}, 1, 2, 2, 0.5, 0.5),
    ({}, {}, 0, 0, 0, 1.0, 1.0),
    ({}, {"a": 1}, 0, 0, 1, 0.0, 0.0),
    ({"a": 1}, {}, 0, 1, 0, 0.0, 0.0),
]


@pytest.mark.parametrize(("pred", "exp", "m", "np_", "ne", "p", "r"), F1_CASES)
def test_field_scores(pred: Any, exp: Any, m: int, np_: int, ne: int, p: float, r: float) -> None:
    counts = field_scores(pred, exp)
    assert (counts.matched, counts.predicted, counts.expected) == (m, np_, ne)
    assert counts.precision == pytest.approx(p)
    assert counts.recall == pytest.approx(r)
    f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    assert counts.f1 == pytest.approx(f1)


# ----------------------------------------------------------------------------- scorers


def test_registered_names_and_metrics() -> None:
    metrics = {
        "json_parse": "parse_rate",
        "json_schema": "schema_valid_rate",
        "json_exact_match": "exact_match",
        "json_field_f1": "field_f1",
        "json_field_precision": "field_precision",
        "json_field_recall": "field_recall",
    }
    for name, metric in metrics.items():
        assert SCORERS[name].metric == metric
        assert get_scorer(name).name == name


def test_get_scorer_unknown_lists_known() -> None:
    with pytest.raises(KeyError, match="json_parse"):
        get_scorer("nope")


@pytest.mark.parametrize(
    ("text", "value", "fragment"),
    [
        ('{"a": 1}', 1.0, "direct"),
        ('```json\n{"a": 1}\n```', 1.0, "fence"),
        ('Answer: {"a": 1}', 1.0, "balanced"),
        ("[1, 2]", 0.0, "array, not an object"),
        ('"just a string"', 0.0, "string, not an object"),
        ("I cannot help with that.", 0.0, "no parseable JSON"),
        ("", 0.0, "empty output"),
    ],
)
def test_json_parse_scorer(text: str, value: float, fragment: str) -> None:
    score = run("json_parse", text)
    assert score.value == value
    assert score.passed is (value == 1.0)
    assert fragment in score.explanation


def test_json_parse_mentions_truncation() -> None:
    score = run("json_parse", '{"vendor": "Ac', finish_reason="length")
    assert score.value == 0.0
    assert "finish_reason=length" in score.explanation


@pytest.mark.parametrize(
    ("text", "valid", "explanation"),
    [
        ('{"vendor": "Acme", "price": 12.5, "date": "2024-01-01"}', True, ""),
        ('```json\n{"vendor": "A", "price": 3, "date": "d", "items": []}\n```', True, ""),
        (
            '{"vendor": "Acme", "price": "12.5", "date": "2024-01-01"}',
            False,
            "$.price: '12.5' is not of type 'number'",
        ),
        ('{"vendor": "Acme", "price": 12.5}', False, "$: 'date' is a required property"),
        (
            '{"vendor": "A", "price": 1, "date": "d", "items": [1]}',
            False,
            "$.items[0]: 1 is not of type 'object'",
        ),
        ('{"vendor": "A", "price": 1, "date": "d", "x": 1}', False, "Additional properties"),
        ("not json", False, "no parseable JSON"),
    ],
)
def test_json_schema_scorer(text: str, valid: bool, explanation: str) -> None:
    score = run("json_schema", text)
    assert score.value == (1.0 if valid else 0.0)
    assert score.passed is valid
    if valid:
        assert score.explanation == ""
    else:
        assert explanation in score.explanation


def test_schema_validator_cached_by_content() -> None:
    schema = {"type": "object", "required": ["z"], "properties": {"z": {"type": "integer"}}}
    reordered = {"properties": {"z": {"type": "integer"}}, "required": ["z"], "type": "object"}
    run("json_schema", '{"z": 1}', schema=schema)
    before = _validator.cache_info()
    assert run("json_schema", '{"z": "1"}', schema=reordered).value == 0.0
    after = _validator.cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses


def test_json_schema_takes_a_schema_option_over_the_samples_field() -> None:
    info = get_scorer("json_schema")
    assert info.bind({}).needs == ("schema",)
    inline = info.bind({"schema": "type: object\nrequired: [name]\n"})  # YAML text too
    assert inline.needs == ()
    sample = Sample("s1", "t", {"id": "s1"}, "test.jsonl", 1)  # no schema field at all
    assert inline.fn(sample, Completion('{"name": "x"}')).passed
    miss = inline.fn(sample, Completion('{"nom": "x"}'))
    assert miss.explanation == "$: 'name' is a required property"


def test_invalid_schema_fails_loudly() -> None:
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        run("json_schema", '{"a": 1}', schema={"type": "no-such-type"})


def test_exact_match_explanation() -> None:
    score = run("json_exact_match", 'Here: {"vendor": "Acme", "price": 12, "note": "x"}')
    assert score.value == 0.0
    assert score.passed is False
    assert score.explanation == "price: expected 12.5, got 12; missing: date; extra: note"


@pytest.mark.parametrize(
    ("text", "p", "r"),
    [
        ('{"vendor": "Acme", "price": 12.5, "date": "2024-01-01"}', 1.0, 1.0),
        ('{"vendor": " Acme ", "price": 12.50}', 1.0, 2 / 3),
        ('{"vendor": "Acme", "price": 12, "date": "2024-01-01", "note": "x"}', 0.5, 2 / 3),
        ('{"vendor": "Other"}', 0.0, 0.0),
        ("garbage", 0.0, 0.0),
    ],
)
def test_field_scorers(text: str, p: float, r: float) -> None:
    f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    for name, want in [
        ("json_field_precision", p),
        ("json_field_recall", r),
        ("json_field_f1", f1),
    ]:
        score = run(name, text)
        assert score.value == pytest.approx(want), name
        assert score.passed is None
        assert score.metadata["expected"] == 3
        assert score.metadata["f1"] == pytest.approx(f1)


def test_unparseable_scores_zero_everywhere() -> None:
    for name in [n for n in SCORERS if n.startswith("json_")]:
        assert run(name, "Sorry, I can't do that.").value == 0.0, name


def test_score_metadata_json_safe() -> None:
    import json

    for name in [n for n in SCORERS if n.startswith("json_")]:
        json.dumps(run(name, '{"vendor": "Acme", "price": 1}').as_dict())
