"""Tool calls for tests/llm_server.py: OpenAI's checks of ``tools``, ``tool_choice`` and the
tool turns of ``messages`` (with its exact 400 bodies), and scripted calls shaped as its replies.

Pure stdlib; imported by the server (``python tests/llm_server.py`` puts this directory on
``sys.path``) and by tests. The error bodies are OpenAI's as users quoted them from its API;
the source of each is named where it is built. Where no body was found verbatim the message
follows the quoted ones of the same check (said so there).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TOOLS = 128
MAX_NAME = 64
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
# JSON Schema's types (the metaschema's simpleTypes): BFCL's dict, float, tuple, any... are not
JSON_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_CALL_KEYS = {"name", "arguments", "id"}


def error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    """OpenAI's error body."""
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def _kind(value: Any) -> str:
    """How OpenAI names a JSON value's type in "expected X, but got Y instead"."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if isinstance(value, float) else "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def _invalid_type(where: str, expected: str, value: Any) -> dict[str, Any]:
    # "Invalid type for 'messages[2].tool_calls[0].function.arguments': expected a string, but
    # got an object instead." (param that path, code invalid_type): aaif-goose/goose-mobile#20
    return error(
        f"Invalid type for '{where}': expected {expected}, but got {_kind(value)} instead.",
        where,
        "invalid_type",
    )


def _missing(where: str) -> dict[str, Any]:
    # "Missing required parameter: 'tools[0].type'." openai/openai-cookbook#1248;
    # "Missing required parameter: 'tools[0].function'." microsoft/semantic-kernel#6825;
    # {"message": "Missing required parameter: 'tools[0].name'.", "param": "tools[0].name",
    # "code": "missing_required_parameter"} (the Responses API's flat tools)
    # microsoft/vscode-copilot-release#11157
    return error(f"Missing required parameter: '{where}'.", where, "missing_required_parameter")


def _empty(where: str) -> dict[str, Any]:
    # "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty
    # array instead." continuedev/continue#3370; "Invalid 'messages[1].tool_calls': empty
    # array. ..." openai/openai-node#1341
    return error(
        f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        where,
        "empty_array",
    )


# -- tools -----------------------------------------------------------------------------------


def tools_refusal(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """OpenAI's 400 body for ``tools``, ``tool_choice`` or ``parallel_tool_calls`` it refuses,
    or None. Checked: the list (an array, 1 to 128 entries), each tool's ``type``,
    ``function``, ``name`` (pattern, length) and ``parameters`` (an object schema of JSON
    Schema types), and strict functions' extra rules."""
    tools = body.get("tools")
    if tools is None:
        for name in ("tool_choice", "parallel_tool_calls"):
            if body.get(name) is not None:
                # "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools'
                # are specified." writer/writer-framework#1013 (OpenAI's answer, as vLLM's
                # vllm-project/vllm#40311 checked against the API); parallel_tool_calls alike:
                # Upsonic/Upsonic#323
                return error(
                    f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are "
                    "specified.",
                    name,
                    None,
                )
        return None
    if not isinstance(tools, list):
        return _invalid_type("tools", "an array", tools)
    if not tools:
        return _empty("tools")
    if len(tools) > MAX_TOOLS:
        # "Invalid 'tools': array too long. Expected an array with maximum length 128, but got
        # an array with length 133 instead." Upsonic/Upsonic#176
        return error(
            f"Invalid 'tools': array too long. Expected an array with maximum length "
            f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
            "tools",
            "array_above_max_length",
        )
    for i, tool in enumerate(tools):
        refusal = _tool_refusal(tool, f"tools[{i}]")
        if refusal is not None:
            return refusal
    return None


def _tool_refusal(tool: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(tool, dict):
        return _invalid_type(where, "an object", tool)
    if "type" not in tool:
        return _missing(f"{where}.type")
    if tool["type"] not in ("function", "custom"):
        # OpenAI's "Invalid value: ... Supported values are: ..." form, as it answers an
        # unknown reasoning_effort (see reasoning_refusal in llm_server.py)
        return error(
            f"Invalid value: {json.dumps(tool['type'])}. Supported values are: 'function' and "
            "'custom'.",
            f"{where}.type",
            "invalid_value",
        )
    if tool["type"] == "custom":
        return None  # free-form tools: offered, never called here
    fn = tool.get("function")
    if fn is None:
        return _missing(f"{where}.function")
    if not isinstance(fn, dict):
        return _invalid_type(f"{where}.function", "an object", fn)
    name = fn.get("name")
    if name is None:
        return _missing(f"{where}.function.name")
    if not isinstance(name, str):
        return _invalid_type(f"{where}.function.name", "a string", name)
    if not _NAME.match(name):
        # {"message": "Invalid 'tools[21].function.name': string does not match pattern.
        # Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", "type":
        # "invalid_request_error", "param": "tools[21].function.name", "code": "invalid_value"}
        # Vortiago/mcp-azure-devops#30, mcp-use/mcp-use#90
        return error(
            f"Invalid '{where}.function.name': string does not match pattern. Expected a "
            "string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            f"{where}.function.name",
            "invalid_value",
        )
    if len(name) > MAX_NAME:
        # the "string too long" form OpenAI gives for a description: "Invalid
        # 'tools[6].function.description': string too long. Expected a string with maximum
        # length 1024, but got a string with length 2780 instead." nanbingxyz/5ire#33
        return error(
            f"Invalid '{where}.function.name': string too long. Expected a string with maximum "
            f"length {MAX_NAME}, but got a string with length {len(name)} instead.",
            f"{where}.function.name",
            "string_above_max_length",
        )
    if "parameters" not in fn:
        return None  # a function without arguments
    problem = _schema_problem(fn["parameters"], strict=bool(fn.get("strict")))
    if problem is None:
        return None
    # {"message": "Invalid schema for function 'vectorcode': In context=('properties',
    # 'options', 'properties', 'project_root'), 'default' is not permitted.", "type":
    # "invalid_request_error", "param": "tools[0].function.parameters", "code":
    # "invalid_function_parameters"} Davidyz/VectorCode#133
    return error(
        f"Invalid schema for function '{name}': {problem}",
        f"{where}.function.parameters",
        "invalid_function_parameters",
    )


def _schema_problem(params: Any, strict: bool) -> str | None:
    """What OpenAI says of a function's ``parameters`` schema, or None."""
    if not isinstance(params, dict):
        # "Invalid schema for function '...': [] is not of type 'object', 'boolean'."
        # (param tools[2].function.parameters, code invalid_function_parameters): the
        # jsonschema message for the metaschema, FoundationAgents/OpenManus#1162
        return f"{_py_repr(params)} is not of type 'object', 'boolean'."
    top = params.get("type")
    if top != "object" and params:  # {} is a function without arguments
        # "Invalid schema for function 'sendEmailTool': schema must be a JSON Schema of
        # 'type: "object"', got 'type: "string"'." alibaba/spring-ai-alibaba#4576 (and 'type:
        # "None"' for no type, ComposioHQ/composio#1829)
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{top}\"'."
    bad = _bad_type(params)
    if bad is not None:
        # The metaschema's message for a type outside JSON Schema's (BFCL's "dict", "float",
        # "tuple"): jsonschema's "'dict' is not valid under any of the given schemas" (the
        # metaschema's type is an anyOf), in the form OpenAI reports its metaschema errors,
        # bare and without a context: "[] is not of type 'object', 'boolean'." above, and
        # "'items' is not of type 'array'." (community.openai.com/t/1062703). Not itself
        # seen verbatim: the closest quoted form.
        return f"{_py_repr(bad)} is not valid under any of the given schemas."
    if strict:
        return strict_problem(params)
    return None


def _py_repr(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else json.dumps(value)


def _subschemas(schema: dict[str, Any]) -> list[Any]:
    subs: list[Any] = list((schema.get("properties") or {}).values())
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            subs.append(schema[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        subs.extend(schema.get(key) or [])
    for key in ("$defs", "definitions"):
        subs.extend((schema.get(key) or {}).values())
    return subs


def _bad_type(schema: Any) -> Any:
    """The first ``type`` value that is not a JSON Schema type, anywhere in the schema."""
    if not isinstance(schema, dict):
        return None
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind is not None and kind not in JSON_TYPES:
            return kind
    for sub in _subschemas(schema):
        bad = _bad_type(sub)
        if bad is not None:
            return bad
    return None


def strict_problem(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """Strict mode's rules (Structured Outputs' subset, the same for a strict function's
    parameters and a strict response_format schema), in OpenAI's words:
    "In context=(), 'additionalProperties' is required to be supplied and to be false."
    openai/openai-agents-python#1023; "In context=('properties', 'questions', 'items'),
    'required' is required to be supplied and to be an array including every key in
    properties. Missing 'multiple'." anomalyco/opencode#13737; "In context=(), object schema
    missing properties." spring-projects/spring-ai#4776; "In context=('properties',
    'select'), array schema missing items." flanksource/mission-control#2634; "'default' is
    not permitted." Davidyz/VectorCode#133; and the keywords it did not take."""
    if not isinstance(schema, dict):
        return None
    where = f"In context={context!r}, "
    props = schema.get("properties")
    if schema.get("type") == "object" or props is not None:
        if props is None:
            return where + "object schema missing properties."
        if schema.get("additionalProperties") is not False:
            return where + "'additionalProperties' is required to be supplied and to be false."
        missing = [k for k in props if k not in (schema.get("required") or [])]
        if missing:
            return (
                where + "'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
    if schema.get("type") == "array" and "items" not in schema:
        return where + "array schema missing items."
    for key in ("default", "minLength", "maxLength", "patternProperties", "uniqueItems"):
        if key in schema:
            return where + f"'{key}' is not permitted."
    for key, sub in (props or {}).items():
        problem = strict_problem(sub, (*context, "properties", key))
        if problem:
            return problem
    items = schema.get("items")
    if isinstance(items, dict):
        return strict_problem(items, (*context, "items"))
    return None


# -- the tool turns of a conversation --------------------------------------------------------


def messages_refusal(messages: Sequence[Any]) -> dict[str, Any] | None:
    """OpenAI's 400 body for tool turns it refuses, or None: an assistant's ``tool_calls``
    (a non-empty array of calls with JSON-text arguments) must each be answered by a
    ``tool`` message right after it, and a ``tool`` message must answer one of them."""
    pending: dict[str, int] = {}  # call id -> index of its assistant message
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "tool":
            if "tool_call_id" not in m:
                return _missing(f"messages[{i}].tool_call_id")
            if not pending and not _after_calls(messages, i):
                # {"message": "Invalid parameter: messages with role 'tool' must be a response
                # to a preceeding message with 'tool_calls'.", "param": "messages.[3].role",
                # "code": null} miurla/morphic#136, smarter-sh/smarter#264 (sic: preceeding)
                return error(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                    None,
                )
            call_id = m["tool_call_id"]
            if call_id not in pending:
                # "Invalid parameter: 'tool_call_id' of 'call_XXXXXXXXX' not found in
                # 'tool_calls' of previous message." dapr/dapr-agents#145
                return error(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                    "'tool_calls' of previous message.",
                    f"messages.[{i}].tool_call_id",
                    None,
                )
            del pending[call_id]
            continue
        if pending:
            return _unanswered(pending, i)
        if role == "assistant" and "tool_calls" in m:
            calls = m["tool_calls"]
            where = f"messages[{i}].tool_calls"
            if not isinstance(calls, list):
                return _invalid_type(where, "an array", calls)
            if not calls:
                return _empty(where)
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    return _missing(f"{where}[{j}].function")
                if not isinstance(fn.get("arguments"), str):
                    return _invalid_type(
                        f"{where}[{j}].function.arguments", "a string", fn.get("arguments")
                    )
                pending[str(call.get("id"))] = i
    if pending:
        return _unanswered(pending, len(messages))
    return None


def _after_calls(messages: Sequence[Any], i: int) -> bool:
    """Whether the tool message at ``i`` follows (through tool messages) an assistant's calls
    (answered already: its id is then unknown, not misplaced)."""
    for m in reversed(messages[:i]):
        if not isinstance(m, dict) or m.get("role") != "tool":
            return isinstance(m, dict) and m.get("role") == "assistant" and "tool_calls" in m
    return False


def _unanswered(pending: Mapping[str, int], at: int) -> dict[str, Any]:
    # {"message": "An assistant message with 'tool_calls' must be followed by tool messages
    # responding to each 'tool_call_id'. The following tool_call_ids did not have response
    # messages: call_RTlWVuE5MqEb3WZJgTIl7Rsb", "param": "messages.[6].role", "code": null}
    # router-for-me/CLIProxyAPI#2798, sdcb/chats#132
    return error(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(pending),
        f"messages.[{at}].role",
        None,
    )


# -- scripted calls, as OpenAI answers them --------------------------------------------------


def check_calls(value: Any, where: str) -> None:
    """Validate a script's ``tool_calls`` (ValueError naming ``where``)."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: 'tool_calls' must be a non-empty list of calls")
    for i, call in enumerate(value):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"{where}.tool_calls[{i}]: a call is an object with a 'name'")
        unknown = set(call) - _CALL_KEYS
        if unknown:
            raise ValueError(f"{where}.tool_calls[{i}]: unknown keys {sorted(unknown)}")


def arguments_text(arguments: Any) -> str:
    """A call's ``arguments`` as OpenAI writes them: compact JSON text (a string is sent as it
    is, so a script can answer malformed arguments)."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps({} if arguments is None else arguments, separators=(",", ":"))


def choose_calls(scripted: list[dict[str, Any]] | None, body: Mapping[str, Any]) -> list[Any]:
    """The calls to answer, given what was offered: none without tools or with
    ``tool_choice: none``; a named function's calls only (or a call of it with ``{}``); with
    ``required``, the first tool with ``{}`` when nothing was scripted; one call without
    ``parallel_tool_calls``."""
    offered = [
        t["function"]["name"]
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    calls = list(scripted or ())
    if not offered or choice == "none":
        return []
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name")
        calls = [c for c in calls if c["name"] == named] or [{"name": named, "arguments": {}}]
    elif choice == "required" and not calls:
        calls = [{"name": offered[0], "arguments": {}}]
    if body.get("parallel_tool_calls") is False:
        calls = calls[:1]
    return calls


def answer_calls(calls: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
    """Calls in OpenAI's reply shape. Ids (``call_`` and 24 characters) follow from ``seed``
    (the conversation) and the call's place: the same conversation gets the same ids, so a
    follow-up turn that sends them back is the same request every run."""
    out = []
    for i, call in enumerate(calls):
        digest = hashlib.sha256(f"{seed}\x00{i}".encode()).hexdigest()[:24]
        out.append(
            {
                "id": call.get("id") or f"call_{digest}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments_text(call.get("arguments")),
                },
            }
        )
    return out


def conversation_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """The script key of a whole conversation, ``messages:sha256:<hex>``: each message's role,
    text, ``name`` and calls (name and arguments, as JSON), not the ids a server made up or
    fields a client adds, so a test can compute it from the conversation it scripts."""
    canonical = []
    for m in messages:
        calls = []
        for call in m.get("tool_calls") or ():
            fn = call.get("function", call)
            args = fn.get("arguments")
            if isinstance(args, str):
                with contextlib.suppress(ValueError):
                    args = json.loads(args)
            calls.append([fn.get("name"), args])
        canonical.append([m.get("role"), text_of(m.get("content")), m.get("name"), calls])
    raw = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "messages:sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return ""
